"""The fleet tool's identity on a real API server: what `fleet kubeconfig` writes can read what
the gate reads and request a reconcile, and the API server refuses it everything else: Secrets,
writing a workload, deleting, and any patch of the Flux objects but the reconcile annotation.
(test_waves.py runs its rollouts, status and previews with this kubeconfig only.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from testbed.paths import BIN

CLUSTER = "beam-cluster"


def make_kubeconfig(deployment, written, *extra: str) -> subprocess.CompletedProcess:
    """`fleet kubeconfig` for the deployment's stack, made with the fleet's admin kubeconfig."""
    return subprocess.run(
        [
            sys.executable, "-m", "hecate", "fleet",
            "--kubeconfig", str(deployment.fleet.kubeconfig),
            "kubeconfig", "--output", str(written), *extra,
        ],
        cwd=deployment.project.path,
        env={**deployment.project.env, "PYTHONPATH": str(deployment.project.path)},
        capture_output=True,
        text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def identity(deployments, tmp_path_factory):
    """beam deployed (so Flux applied the identity), and the kubeconfig made for it."""
    deployment = deployments["beam"]
    written = tmp_path_factory.mktemp("fleet-access") / "fleet.kubeconfig"
    done = make_kubeconfig(deployment, written, "--duration", "1h", "--json")
    assert done.returncode == 0, done.stderr
    return deployment, written, json.loads(done.stdout)


def kubectl_on(
    written, cluster: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(written), "--context", cluster, *args],
        capture_output=True,
        text=True,
        input=input,
    )


def kubectl(written, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return kubectl_on(written, CLUSTER, *args, input=input)


def can_i(written, *args: str) -> str:
    return kubectl(written, "auth", "can-i", *args).stdout.strip()


def test_the_kubeconfig_holds_one_expiring_token_per_cluster_and_only_its_owner_reads_it(
    identity,
):
    _, written, issued = identity
    assert [(i["stack"], i["context"]) for i in issued] == [("beam", CLUSTER)]
    assert issued[0]["expires"]
    assert written.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(written.read_text())
    assert [u["name"] for u in config["users"]] == [f"hecate-fleet@{CLUSTER}"]
    who = kubectl(written, "auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == (
        "system:serviceaccount:flux-system:hecate-fleet"
    )


@pytest.mark.parametrize(
    ("verb", "what", "allowed"),
    [
        ("get", "pods -n hecate", "yes"),
        ("list", "controllerrevisions.apps -n hecate", "yes"),
        ("get", "daemonsets.apps -n hecate", "yes"),
        ("get", "sealedsecrets.bitnami.com -n hecate", "yes"),
        ("list", "nodes", "yes"),
        ("get", "kustomizations.kustomize.toolkit.fluxcd.io -n flux-system", "yes"),
        ("patch", "kustomizations.kustomize.toolkit.fluxcd.io/hecate -n flux-system", "yes"),
        ("patch", "gitrepositories.source.toolkit.fluxcd.io/hecate-gitops -n flux-system", "yes"),
        ("get", "secrets -n hecate", "no"),
        ("list", "secrets -n flux-system", "no"),
        ("patch", "daemonsets.apps/hecate-daemon -n hecate", "no"),
        ("create", "pods -n hecate", "no"),
        ("delete", "pods -n hecate", "no"),
        ("delete", "kustomizations.kustomize.toolkit.fluxcd.io/hecate -n flux-system", "no"),
        ("patch", "kustomizations.kustomize.toolkit.fluxcd.io/other -n flux-system", "no"),
        (
            "patch",
            "kustomizations.kustomize.toolkit.fluxcd.io/hecate --subresource=status -n flux-system",
            "no",
        ),
        ("create", "serviceaccounts --subresource=token -n flux-system", "no"),
    ],
)
def test_rbac_grants_the_reads_and_the_reconcile_request_only(identity, verb, what, allowed):
    _, written, _ = identity
    assert can_i(written, verb, *what.split()) == allowed, f"{verb} {what}"


def patch(written, kind: str, name: str, body: dict) -> subprocess.CompletedProcess:
    return kubectl(
        written,
        "patch",
        "-n",
        "flux-system",
        kind,
        name,
        "--type",
        "merge",
        "-p",
        json.dumps(body),
    )


@pytest.mark.parametrize(
    ("kind", "name", "body"),
    [
        ("gitrepository", "hecate-gitops", {"spec": {"url": "https://git.example/elsewhere"}}),
        ("kustomization", "hecate", {"spec": {"path": "./clusters"}}),
        ("kustomization", "hecate", {"spec": {"suspend": True}}),
        ("kustomization", "hecate", {"metadata": {"labels": {"stolen": "true"}}}),
        ("kustomization", "hecate", {"metadata": {"annotations": {"other": "x"}}}),
    ],
)
def test_the_api_server_denies_any_patch_but_the_reconcile_annotation(identity, kind, name, body):
    deployment, written, _ = identity
    before = deployment.fleet.get(CLUSTER, "-n", "flux-system", kind, name)
    denied = patch(written, kind, name, body)
    assert denied.returncode != 0
    assert "ValidatingAdmissionPolicy 'hecate-fleet-reconcile-only'" in denied.stderr, denied.stderr
    after = deployment.fleet.get(CLUSTER, "-n", "flux-system", kind, name)
    assert after["spec"] == before["spec"]
    assert after["metadata"].get("labels") == before["metadata"].get("labels")


@pytest.fixture(scope="module")
def every_identity(identity, deployments, tmp_path_factory):
    """Each committed stack's cluster with the kubeconfig `fleet kubeconfig` makes for it."""
    made = {identity[0].cluster: (identity[0], identity[1])}
    for stack in ("dev", "edge"):
        deployment = deployments[stack]
        written = tmp_path_factory.mktemp(f"fleet-access-{stack}") / "fleet.kubeconfig"
        done = make_kubeconfig(deployment, written)
        assert done.returncode == 0, done.stderr
        made[deployment.cluster] = (deployment, written)
    return made


# What would hand a Flux object to the garbage collector, or keep it from ever going: an owner
# that does not exist, a finalizer nobody removes. Each in both patch forms kubectl sends.
DANGLING_OWNER = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "name": "gone",
    "uid": "00000000-0000-0000-0000-000000000000",
}
FINALIZER = "hecate.test/never-removed"
METADATA_PATCHES = {
    "ownerReferences (merge)": ("merge", {"metadata": {"ownerReferences": [DANGLING_OWNER]}}),
    "finalizers (merge)": ("merge", {"metadata": {"finalizers": [FINALIZER]}}),
    "ownerReferences (JSON patch)": (
        "json",
        [{"op": "add", "path": "/metadata/ownerReferences", "value": [DANGLING_OWNER]}],
    ),
    "finalizers (JSON patch)": (
        "json",
        [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}],
    ),
}
FLUX_OBJECTS = (
    ("gitrepository", "hecate-gitops"),
    ("gitrepository", "flux-system"),
    ("kustomization", "hecate"),
    ("kustomization", "flux-system"),
)


@pytest.mark.parametrize("cluster", ["dev-cluster", "edge-cluster", CLUSTER])
def test_no_owner_reference_or_finalizer_reaches_a_flux_object_and_nothing_is_deleted(
    every_identity, cluster
):
    deployment, written = every_identity[cluster]

    def live(kind: str, name: str) -> dict:
        return deployment.fleet.get(cluster, "-n", "flux-system", kind, name)["metadata"]

    before = {(kind, name): live(kind, name) for kind, name in FLUX_OBJECTS}
    daemon = deployment.fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
    for kind, name in FLUX_OBJECTS:
        for what, (form, body) in METADATA_PATCHES.items():
            done = kubectl_on(
                written,
                cluster,
                "patch",
                "-n",
                "flux-system",
                kind,
                name,
                "--type",
                form,
                "-p",
                json.dumps(body),
            )
            assert done.returncode != 0, f"{cluster} {kind}/{name}: {what} was allowed"
            assert "hecate-fleet-reconcile-only" in done.stderr, (what, done.stderr)
    # Nothing was changed, so the garbage collector has nothing to act on: the same objects
    # (by uid) with the same owners and finalizers, and the daemon where it was.
    for (kind, name), metadata in before.items():
        after = live(kind, name)
        assert after["uid"] == metadata["uid"], (kind, name)
        for field in ("ownerReferences", "finalizers"):
            assert after.get(field) == metadata.get(field), (kind, name, field)
    again = deployment.fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
    assert again["metadata"]["uid"] == daemon["metadata"]["uid"]
    # And deleting is refused outright.
    refused = kubectl_on(written, cluster, "delete", "-n", "flux-system", "kustomization", "hecate")
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr


def test_the_reconcile_annotation_alone_is_allowed(identity):
    deployment, written, _ = identity
    for kind, name in (("gitrepository", "hecate-gitops"), ("kustomization", "hecate")):
        body = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-from-a-test"}}}
        done = patch(written, kind, name, body)
        assert done.returncode == 0, done.stderr
        live = deployment.fleet.get(CLUSTER, "-n", "flux-system", kind, name)
        assert live["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == (
            "now-from-a-test"
        )
