"""Adopting a guide-built tree under the real engine: after `adopt` and `pulumi up`, the
program renders every field the hand-made objects hold (through its settings, or through the
patches adopt offers), and the clusters still on the shared files build exactly what they did."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys

import yaml

from hecate import adopt, handmade_tree
from testbed.scratch import new_project
from tests import guide, guide_tree

STACK, CLUSTER, OTHER = "edge", "edge-cluster", "beam-cluster"
SHARED_SEALED = {"OPENAI_API_KEY": base64.b64encode(bytes(range(256)) + b"shared").decode()}
OWN_SEALED = {"OPENAI_API_KEY": base64.b64encode(bytes(range(256)) + b"edge").decode()}
RENDERED = {
    ("Namespace", "hecate"): "namespace.yaml",
    ("ConfigMap", "hecate-config"): "configmap.yaml",
    ("DaemonSet", "hecate-daemon"): "daemonset.yaml",
}


def hand_made_daemon_set() -> dict:
    """The guide's DaemonSet as a user grew it: GPU nodes (settings express these) and a
    models volume, an argument and a log-level env var (nothing expresses these)."""
    daemon = copy.deepcopy(guide.manifests()["infrastructure/hecate/daemonset.yaml"])
    pod = daemon["spec"]["template"]["spec"]
    pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    pod["nodeSelector"] = {"hecate.test/gpu": "true"}
    pod["volumes"].append({"name": "models", "hostPath": {"path": "/srv/models"}})
    container = pod["containers"][0]
    container["args"] = ["--models", "/models"]
    container["volumeMounts"].append({"name": "models", "mountPath": "/models", "readOnly": True})
    return daemon


def adopt_json(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hecate", "adopt", "--stack", STACK, "--overwrite", *args],
        cwd=project.path,
        capture_output=True,
        text=True,
    )


def test_the_adopted_stack_renders_every_hand_made_field(tmp_path):
    project = new_project(tmp_path, STACK)
    gitops = project.path / "gitops"
    guide_tree.write(
        gitops,
        SHARED_SEALED,
        {
            OTHER: [],
            CLUSTER: [
                guide_tree.sealed_values_patch(OWN_SEALED),
                guide_tree.pod_annotation_patch("hecate.test/site", "edge"),
            ],
        },
        daemon_set=hand_made_daemon_set(),
    )
    handmade = handmade_tree.read(gitops, CLUSTER)
    other_before = handmade_tree.read(gitops, OTHER).built

    done = adopt_json(project, "--json")
    assert done.returncode == 0, done.stderr
    adopted = json.loads(done.stdout)
    settings = adopted["settings"]
    # What settings express became settings; the sealed values are edge's own, as they were.
    assert (
        settings["hecate:tolerations"]
        == hand_made_daemon_set()["spec"]["template"]["spec"]["tolerations"]
    )
    assert settings["hecate:nodeSelector"] == {"hecate.test/gpu": "true"}
    # The guide's socket probe is kept as the setting that says so, not as a patch.
    assert settings["hecate:readinessProbe"]["check"] == "socket"
    stack_file = yaml.safe_load((project.path / "Pulumi.edge.yaml").read_text())["config"]
    assert stack_file["hecate:sealedSecrets"] == OWN_SEALED
    assert "hecate:logLevel" not in stack_file and "hecate:resources" not in stack_file
    # Field by field, what nothing expresses is offered as a patch.
    kept = sorted((c["object"], c["path"]) for c in adopted["keptByPatch"])
    assert kept == [
        ("DaemonSet/hecate-daemon", "/spec/template/metadata/annotations/hecate.test~1site"),
        ("DaemonSet/hecate-daemon", "/spec/template/spec/containers/0/args"),
        ("DaemonSet/hecate-daemon", "/spec/template/spec/containers/0/volumeMounts/-"),
        ("DaemonSet/hecate-daemon", "/spec/template/spec/volumes/-"),
    ]
    changes = {(c["object"], c["path"]) for c in adopted["changes"]}
    assert ("Kustomization/hecate", "/spec/path") in changes
    assert (
        "DaemonSet/hecate-daemon",
        "/spec/template/metadata/annotations/checksum~1config",
    ) in changes
    assert (
        "DaemonSet/hecate-daemon",
        "/spec/template/spec/automountServiceAccountToken",
    ) in changes
    assert adopted["written"] == [f"{guide_tree.SHARED}/kustomization.yaml"]

    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    workloads = gitops / "infrastructure" / "hecate" / CLUSTER
    for key, name in RENDERED.items():
        rendered = yaml.safe_load((workloads / name).read_text())
        assert (
            guide.missing_or_different(adopt.without_nulls(handmade.built[key]), rendered) == []
        ), name
    sealed = yaml.safe_load((workloads / "sealed-secret.yaml").read_text())
    assert sealed["spec"]["encryptedData"] == OWN_SEALED
    sync = yaml.safe_load((gitops / "clusters" / CLUSTER / "hecate-kustomization.yaml").read_text())
    assert sync["spec"]["path"] == f"./infrastructure/hecate/{CLUSTER}"
    written = copy.deepcopy(handmade.sync.manifest)
    del written["spec"]["path"], written["spec"]["patches"]
    assert guide.missing_or_different(written, sync) == []
    # beam, still on the shared files, builds exactly what it built before, edge's new
    # directory below them notwithstanding.
    assert handmade_tree.read(gitops, OTHER).built == other_before


def test_removing_the_shared_files_is_refused_while_another_cluster_syncs_them(tmp_path):
    project = new_project(tmp_path, STACK)
    gitops = project.path / "gitops"
    guide_tree.write(gitops, SHARED_SEALED, {OTHER: [], CLUSTER: []})
    before = {p: p.read_bytes() for p in gitops.rglob("*") if p.is_file()}
    stack_file = (project.path / "Pulumi.edge.yaml").read_bytes()
    done = adopt_json(project, "--remove-shared")
    assert done.returncode == 1
    assert f"--remove-shared: {guide_tree.SHARED}/ is still synced by {OTHER}" in done.stderr
    assert {p: p.read_bytes() for p in gitops.rglob("*") if p.is_file()} == before
    assert (project.path / "Pulumi.edge.yaml").read_bytes() == stack_file
