"""Adopting the guide's hand-made repository, on real clusters: two clusters deployed from the
guide's layout move under the program one after the other, watched the whole time; nothing is
deleted, the keys stay the same bytes, the cluster still on the shared layout runs untouched,
and reverting a move puts its cluster back, again with nothing deleted.

Runs first in the fleet suite (on beam and edge, before any stack has deployed there) and takes
its objects away again at the end, so that the suites after it start from clusters as fresh."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testbed import flux
from testbed.components import BRANCH
from testbed.deployment import HEALTH_TIMEOUT, Deployment, git_env
from testbed.fleet import Fleet, fetch_cert
from testbed.paths import BIN
from testbed.processes import git, wait_for
from testbed.scratch import new_project
from tests import guide_tree
from tests.local_fleet.watch import EventWatch, RolloutWatch, live_pods

BEAM, EDGE = "beam-cluster", "edge-cluster"
STACKS = {BEAM: "beam", EDGE: "edge"}
# What must never be deleted and recreated while a cluster moves (pods roll; these stay).
KEPT = ("namespace", "configmaps", "secrets", "daemonsets", "sealedsecrets")
SITE = "hecate.test/site"  # a field no setting expresses, set by edge's own patch
GUIDE_IMAGE = "ghcr.io/hecate-social/hecate-daemon:0.7.2"
KEY = "OPENAI_API_KEY"


@dataclass
class GuideBuilt:
    fleet: Fleet
    checkout: Path
    keys: dict[str, str]  # cluster → its throwaway key
    workdir: Path
    moves: dict[str, str]  # cluster → the commit that moved it


def kubeseal(fleet: Fleet, cluster: str, value: str, workdir: Path) -> dict[str, str]:
    """hecate-secrets' encryptedData, sealed by kubeseal for the cluster's controller."""
    cert = workdir / f"{cluster}.pem"
    cert.write_text(fetch_cert(fleet, cluster))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hecate-secrets", "namespace": "hecate"},
        "data": {KEY: base64.b64encode(value.encode()).decode()},
    }
    sealed = subprocess.run(
        [str(BIN / "kubeseal"), "--cert", str(cert), "--format", "yaml"],
        input=json.dumps(secret),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(sealed)["spec"]["encryptedData"]


def hand_made_source(fleet: Fleet, cluster: str) -> None:
    """The hecate-gitops GitRepository as the guide's user made it: by hand, not in git."""
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "hecate-gitops", "namespace": "flux-system"},
        "spec": {"url": fleet.git_url, "ref": {"branch": BRANCH}, "interval": "1m"},
    }
    fleet.kubectl(cluster, "apply", "-f", "-", input=json.dumps(source))


def commit_and_push(checkout: Path, message: str, *paths: str) -> str:
    env = git_env()
    git("add", "--all", "--", *paths, cwd=checkout, env=env)
    git("commit", "--quiet", "-m", message, cwd=checkout, env=env)
    git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=checkout, env=env)
    return git("rev-parse", "HEAD", cwd=checkout)


def secret_data(fleet: Fleet, cluster: str) -> dict[str, str]:
    found = fleet.kubectl(
        cluster, "get", "-n", "hecate", "secret", "hecate-secrets", "-o", "json", check=False
    )
    return json.loads(found.stdout).get("data", {}) if found.returncode == 0 else {}


def uids(fleet: Fleet, cluster: str) -> dict[str, str]:
    """The UID of every object that must be kept, the hand-made GitRepository's too."""
    found = {
        "Namespace": fleet.get(cluster, "namespace", "hecate")["metadata"]["uid"],
        "GitRepository": flux.get(fleet, cluster, "gitrepository", "hecate-gitops")["metadata"][
            "uid"
        ],
    }
    for kind, name in (
        ("configmap", "hecate-config"),
        ("secret", "hecate-secrets"),
        ("daemonset", "hecate-daemon"),
        ("sealedsecret", "hecate-secrets"),
    ):
        found[kind] = fleet.get(cluster, "-n", "hecate", kind, name)["metadata"]["uid"]
    return found


def rolled_out(fleet: Fleet, cluster: str, image: str = GUIDE_IMAGE) -> bool:
    ds = fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
    status, pods = ds["status"], live_pods(fleet, cluster).values()
    return (
        status.get("observedGeneration") == ds["metadata"]["generation"]
        and status.get("updatedNumberScheduled") == status["desiredNumberScheduled"] == fleet.nodes
        and status.get("numberReady") == fleet.nodes
        and len(pods) == fleet.nodes
        and all(p["spec"]["containers"][0]["image"] == image for p in pods)
    )


class Watches:
    """From before a push until its gate passes: every event of the kept kinds, and every
    status of the DaemonSet."""

    def __init__(self, fleet: Fleet, cluster: str):
        self.events = [EventWatch(fleet, cluster, kind) for kind in (*KEPT, "pods")]
        self.rollout = RolloutWatch(fleet, cluster)

    def stop(self) -> tuple[list[str], list[str], list[dict]]:
        """Kept objects deleted, pods deleted, and the DaemonSet's statuses."""
        for watch in self.events:
            watch.stop()
        kept = [d for w in self.events if w.kind != "pods" for d in w.deleted()]
        pods = [d for w in self.events if w.kind == "pods" for d in w.deleted()]
        return kept, pods, self.rollout.stop()


def adopt(built: GuideBuilt, cluster: str) -> tuple[Deployment, dict]:
    """A copy of the project for the cluster's stack, `adopt` run in it against a checkout of
    the gitops remote, then the stack pointed at the test bed's git server: returns the
    deployment and adopt's --json."""
    stack = STACKS[cluster]
    project = new_project(
        built.workdir / f"adopt-{stack}", stack, KUBECONFIG=str(built.fleet.kubeconfig)
    )
    built.fleet.clone_gitops(project.path / "gitops")
    done = subprocess.run(
        [sys.executable, "-m", "hecate", "adopt", "--stack", stack, "--overwrite", "--json"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    deployment = Deployment(stack, cluster, built.fleet, project)
    deployment.config("hecate:gitops.url", built.fleet.git_url)
    deployment.config("hecate:gitops.secretRef", "")
    deployment.config("hecate:healthTimeout", HEALTH_TIMEOUT)
    return deployment, json.loads(done.stdout)


def move(built: GuideBuilt, deployment: Deployment) -> tuple[str, dict]:
    """`make up`, then the one commit that moves the cluster, pushed and synced."""
    deployment.up()
    cluster = deployment.cluster
    commit = commit_and_push(
        deployment.checkout,
        f"adopt({cluster}): under stack {deployment.stack}",
        f"clusters/{cluster}",
        guide_tree.SHARED,
    )
    built.moves[cluster] = commit
    return commit, flux.sync(built.fleet, cluster, commit)


def shared_files_at(checkout: Path, commit: str) -> list[str]:
    git("fetch", "--quiet", "origin", cwd=checkout, env=git_env())
    listed = git("ls-tree", "--name-only", commit, f"{guide_tree.SHARED}/", cwd=checkout)
    return sorted(Path(p).name for p in listed.splitlines() if p.endswith(".yaml"))


@pytest.fixture(scope="module")
def built(fleet, tmp_path_factory) -> Iterator[GuideBuilt]:
    """beam and edge deployed the guide's way: the shared files, sealed for beam's controller;
    edge's Kustomization patches in values sealed for its own controller and a pod annotation."""
    workdir = tmp_path_factory.mktemp("guide-built")
    checkout = workdir / "gitops"
    fleet.clone_gitops(checkout)
    keys = {c: f"sk-throwaway-{secrets.token_hex(12)}" for c in (BEAM, EDGE)}
    sealed = {c: kubeseal(fleet, c, keys[c], workdir) for c in keys}
    guide_tree.write(
        checkout,
        sealed[BEAM],
        {
            BEAM: [],
            EDGE: [
                guide_tree.sealed_values_patch(sealed[EDGE]),
                guide_tree.pod_annotation_patch(SITE, "edge"),
            ],
        },
    )
    state = GuideBuilt(fleet, checkout, keys, workdir, {})
    try:
        for cluster in keys:
            hand_made_source(fleet, cluster)
        commit = commit_and_push(
            checkout, "deploy: Add hecate daemon v0.7.2", "clusters", guide_tree.SHARED
        )
        for cluster in keys:
            flux.sync(fleet, cluster, commit)
            wait_for(
                f"{cluster}: the guide's daemon on every node",
                lambda cluster=cluster: rolled_out(fleet, cluster),
                timeout=120,
            )
        yield state
    finally:
        _take_away(state)


def _take_away(built: GuideBuilt) -> None:
    """The hecate objects off beam and edge, for the suites after this one."""
    fleet, checkout = built.fleet, built.checkout
    env = git_env()
    git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=checkout, env=env)
    git("rm", "-r", "--quiet", "--ignore-unmatch", guide_tree.SHARED, cwd=checkout, env=env)
    for cluster in (BEAM, EDGE):
        for name in ("hecate-kustomization.yaml", "hecate-gitrepository.yaml"):
            git("rm", "--quiet", "--ignore-unmatch", f"clusters/{cluster}/{name}", cwd=checkout)
    if git("status", "--porcelain", cwd=checkout):
        git("commit", "--quiet", "-m", "test: hecate off beam and edge", cwd=checkout, env=env)
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=checkout, env=env)
    head = git("rev-parse", "HEAD", cwd=checkout)
    for cluster in (BEAM, EDGE):
        flux.fetch(fleet, cluster, "flux-system", head)
        flux.apply(fleet, cluster, "flux-system", head)
        for kind, name in (("kustomization", "hecate"), ("gitrepository", "hecate-gitops")):
            fleet.kubectl(
                cluster,
                "delete",
                "-n",
                "flux-system",
                kind,
                name,
                "--ignore-not-found",
                "--wait=false",
            )
        fleet.kubectl(
            cluster, "delete", "namespace", "hecate", "--ignore-not-found", "--wait=false"
        )
    for cluster in (BEAM, EDGE):
        wait_for(
            f"{cluster}: namespace hecate gone",
            lambda cluster=cluster: (
                fleet.kubectl(cluster, "get", "namespace", "hecate", check=False).returncode != 0
            ),
            timeout=180,
        )


def test_the_guide_layout_runs_and_opens_its_keys(built):
    fleet = built.fleet
    for cluster, key in built.keys.items():
        assert rolled_out(fleet, cluster)
        data = secret_data(fleet, cluster)
        assert base64.b64decode(data[KEY]).decode() == key, cluster
        sync = flux.get(fleet, cluster, "kustomization", "hecate")
        assert sync["spec"]["path"] == "./infrastructure/hecate"
    # edge's own patch reached its pods, not beam's.
    annotations = {
        c: fleet.get(c, "-n", "hecate", "daemonset", "hecate-daemon")["spec"]["template"][
            "metadata"
        ].get("annotations")
        or {}
        for c in built.keys
    }
    assert annotations[EDGE].get(SITE) == "edge" and SITE not in annotations[BEAM]


def test_beam_moves_first_and_edge_stays_untouched(built):
    fleet = built.fleet
    before, data = uids(fleet, BEAM), secret_data(fleet, BEAM)
    edge_before, edge_pods = uids(fleet, EDGE), set(live_pods(fleet, EDGE))
    edge_generation = fleet.get(EDGE, "-n", "hecate", "daemonset", "hecate-daemon")["metadata"][
        "generation"
    ]
    deployment, adopted = adopt(built, BEAM)
    # edge still syncs the shared files: they stay, listed so that Flux skips beam's directory.
    assert adopted["shared"] == {
        "dir": guide_tree.SHARED,
        "files": [
            f"{guide_tree.SHARED}/{n}"
            for n in sorted((*guide_tree.SHARED_FILES, "sealed-secret.yaml"))
        ],
        "removed": False,
        "usedBy": [EDGE],
    }
    assert adopted["written"] == [f"{guide_tree.SHARED}/kustomization.yaml"]
    assert set(adopted["settings"]["hecate:sealedSecrets"]) == {KEY}

    watches, edge_watches = Watches(fleet, BEAM), Watches(fleet, EDGE)
    try:
        commit, sync = move(built, deployment)
        flux.sync(fleet, EDGE, commit)
    finally:
        deleted, _, statuses = watches.stop()
        edge_deleted, edge_pods_deleted, _ = edge_watches.stop()

    assert deleted == [], deleted
    assert uids(fleet, BEAM) == before
    assert secret_data(fleet, BEAM) == data
    assert sync["spec"]["path"] == f"./infrastructure/hecate/{BEAM}"
    assert sync["status"]["lastAppliedRevision"] == f"{BRANCH}@sha1:{commit}"
    assert rolled_out(fleet, BEAM, deployment.image)
    # The template changed (labels, hardening, the digest): it rolled, within maxUnavailable.
    assert any(s.get("updatedNumberScheduled", 0) < fleet.nodes for s in statuses), statuses
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= deployment.max_unavailable

    assert edge_deleted == [] and edge_pods_deleted == []
    assert uids(fleet, EDGE) == edge_before and set(live_pods(fleet, EDGE)) == edge_pods
    ds = fleet.get(EDGE, "-n", "hecate", "daemonset", "hecate-daemon")
    assert ds["metadata"]["generation"] == edge_generation
    edge_sync = flux.get(fleet, EDGE, "kustomization", "hecate")
    assert flux.condition(edge_sync)["status"] == "True", flux.ready_reason(edge_sync)
    assert edge_sync["status"]["lastAppliedRevision"] == f"{BRANCH}@sha1:{commit}"
    assert shared_files_at(built.checkout, commit) == sorted(
        (*guide_tree.SHARED_FILES, "sealed-secret.yaml", "kustomization.yaml")
    )


def test_edge_moves_last_and_the_shared_files_go_with_it(built):
    fleet = built.fleet
    before, data = uids(fleet, EDGE), secret_data(fleet, EDGE)
    beam_before, beam_pods = uids(fleet, BEAM), set(live_pods(fleet, BEAM))
    deployment, adopted = adopt(built, EDGE)
    assert adopted["shared"]["removed"] is True and adopted["shared"]["usedBy"] == []
    # The annotation of edge's own patch: no setting expresses it, so it is kept as a patch.
    kept = {(c["object"], c["path"]): c["value"] for c in adopted["keptByPatch"]}
    assert kept == {
        ("DaemonSet/hecate-daemon", "/spec/template/metadata/annotations/hecate.test~1site"): "edge"
    }
    # Its sealed values are edge's own, copied as they were.
    live = fleet.get(EDGE, "-n", "hecate", "sealedsecret", "hecate-secrets")["spec"][
        "encryptedData"
    ]
    stack = yaml.safe_load((deployment.project.path / "Pulumi.edge.yaml").read_text())["config"]
    assert stack["hecate:sealedSecrets"] == live

    watches, beam_watches = Watches(fleet, EDGE), Watches(fleet, BEAM)
    try:
        commit, sync = move(built, deployment)
        flux.sync(fleet, BEAM, commit)
    finally:
        deleted, _, statuses = watches.stop()
        beam_deleted, beam_pods_deleted, _ = beam_watches.stop()

    assert deleted == [] and beam_deleted == [] and beam_pods_deleted == []
    assert uids(fleet, EDGE) == before and uids(fleet, BEAM) == beam_before
    assert set(live_pods(fleet, BEAM)) == beam_pods
    assert secret_data(fleet, EDGE) == data
    assert base64.b64decode(data[KEY]).decode() == built.keys[EDGE]
    assert sync["spec"]["path"] == f"./infrastructure/hecate/{EDGE}"
    assert rolled_out(fleet, EDGE, deployment.image)
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= deployment.max_unavailable
    template = fleet.get(EDGE, "-n", "hecate", "daemonset", "hecate-daemon")["spec"]["template"]
    assert template["metadata"]["annotations"][SITE] == "edge"
    assert shared_files_at(built.checkout, commit) == [], "the shared files outlived the last move"
    # Flux pruned nothing: the objects of the old layout all stand, under the new paths.
    inventory = sync["status"]["inventory"]["entries"]
    assert {e["id"].split("_")[-1] for e in inventory} >= {
        "Namespace",
        "ConfigMap",
        "DaemonSet",
        "SealedSecret",
    }


def test_reverting_edges_move_puts_it_back_on_the_shared_layout(built):
    fleet = built.fleet
    before, data = uids(fleet, EDGE), secret_data(fleet, EDGE)
    git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=built.checkout, env=git_env())
    watches = Watches(fleet, EDGE)
    try:
        git("revert", "--no-edit", built.moves[EDGE], cwd=built.checkout, env=git_env())
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=built.checkout, env=git_env())
        revert = git("rev-parse", "HEAD", cwd=built.checkout)
        sync = flux.sync(fleet, EDGE, revert)
        wait_for(f"{EDGE}: the guide's daemon again", lambda: rolled_out(fleet, EDGE), timeout=120)
        flux.sync(fleet, BEAM, revert)
    finally:
        deleted, _, statuses = watches.stop()
    assert deleted == [], deleted
    # The GitRepository too: the move rendered it with prune disabled, so the revert left it.
    assert uids(fleet, EDGE) == before
    assert secret_data(fleet, EDGE) == data
    assert sync["spec"]["path"] == "./infrastructure/hecate"
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= 1
    assert shared_files_at(built.checkout, revert) == sorted(
        (*guide_tree.SHARED_FILES, "sealed-secret.yaml", "kustomization.yaml")
    )
    beam = flux.get(fleet, BEAM, "kustomization", "hecate")
    assert flux.condition(beam)["status"] == "True", flux.ready_reason(beam)
