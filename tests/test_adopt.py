"""`python -m hecate adopt`: the patches it offers put back exactly the fields no setting
expresses (for any objects, by hypothesis), and nothing is written when it refuses."""

from __future__ import annotations

import base64
import shutil

import jsonpatch
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hecate import adopt
from testbed.mocks import ROOT
from tests import guide, guide_tree

SEALED = {"OPENAI_API_KEY": base64.b64encode(bytes(300)).decode()}
KEYS = st.sampled_from(["name", "image", "labels", "a/b", "c~d", "spec", "value"])
LEAVES = st.none() | st.booleans() | st.integers(-3, 3) | st.text("xyz", max_size=3)


def named_lists(children):
    items = st.lists(st.dictionaries(KEYS, children, max_size=3), max_size=3)
    return items.map(lambda found: [{**item, "name": f"n{i}"} for i, item in enumerate(found)])


OBJECTS = st.recursive(
    LEAVES,
    lambda children: (
        st.dictionaries(KEYS, children, max_size=4)
        | st.lists(children, max_size=3)
        | named_lists(children)
    ),
    max_leaves=12,
)


@given(OBJECTS, OBJECTS)
def test_the_offered_patch_reproduces_every_hand_made_field_and_removes_nothing(handmade, rendered):
    operations = adopt.kept_fields(handmade, rendered)
    assert all(op["op"] in ("add", "replace") for op in operations)
    patched = jsonpatch.apply_patch(rendered, operations) if operations else rendered
    assert guide.missing_or_different(adopt.without_nulls(handmade), patched) == []
    # What only the program renders stays: a field the hand-made object does not name is kept.
    if isinstance(handmade, dict) and isinstance(rendered, dict):
        for key in rendered.keys() - handmade.keys():
            assert patched[key] == rendered[key]


def test_nothing_a_setting_expresses_is_offered_as_a_patch():
    daemon = guide.manifests()["infrastructure/hecate/daemonset.yaml"]
    rendered = yaml.safe_load(yaml.safe_dump(daemon))
    rendered["metadata"]["labels"]["app.kubernetes.io/part-of"] = "hecate"
    assert adopt.kept_fields(daemon, rendered) == []
    rendered["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    assert adopt.kept_fields(daemon, rendered) == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/imagePullPolicy",
            "value": "Always",
        }
    ]


@pytest.fixture
def project(tmp_path):
    """A project beside a guide-built checkout: beam and edge on the shared files."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.beam.yaml").write_text("config:\n  hecate:cluster: beam-cluster\n")
    guide_tree.write(tmp_path / "gitops", SEALED, {"beam-cluster": [], "edge-cluster": []})
    return tmp_path


def files(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def run(project, *args: str) -> int:
    return adopt.main(["--root", str(project), *args])


def test_a_refused_tree_writes_nothing(project, capsys):
    shared = project / "gitops" / guide_tree.SHARED
    (shared / "daemonset.yaml").unlink()
    before = files(project)
    assert run(project, "--stack", "beam") == 1
    err = capsys.readouterr().err
    assert "adopt: infrastructure/hecate/: no DaemonSet" in err
    assert err.rstrip().endswith("adopt: nothing written")
    assert files(project) == before


def test_a_stack_file_with_settings_is_refused_unless_overwritten(project, capsys):
    stack_file = project / "Pulumi.beam.yaml"
    stack_file.write_text("config:\n  hecate:cluster: beam-cluster\n  hecate:version: 0.7.3\n")
    before = files(project)
    assert run(project, "--stack", "beam") == 1
    err = capsys.readouterr().err
    assert "Pulumi.beam.yaml already has settings (hecate:version)" in err
    assert "--overwrite" in err
    assert files(project) == before


def test_a_cluster_the_stack_file_does_not_name_must_be_given(project, capsys):
    (project / "Pulumi.beam.yaml").unlink()
    assert run(project, "--stack", "beam") == 1
    assert "sets no hecate:cluster; name it with --cluster" in capsys.readouterr().err
    (project / "Pulumi.beam.yaml").write_text("config:\n  hecate:cluster: beam-cluster\n")
    assert run(project, "--stack", "beam", "--cluster", "edge-cluster") == 1
    assert "already names hecate:cluster 'beam-cluster'" in capsys.readouterr().err


def test_remove_shared_refuses_while_a_cluster_syncs_them_and_then_removes_them(project, capsys):
    gitops = project / "gitops"
    assert run(project, "--remove-shared", "--gitops", str(gitops)) == 1
    err = capsys.readouterr().err
    assert "still synced by beam-cluster, edge-cluster" in err
    assert (gitops / guide_tree.SHARED / "daemonset.yaml").is_file()
    for cluster in ("beam-cluster", "edge-cluster"):
        path = gitops / "clusters" / cluster / "hecate-kustomization.yaml"
        moved = yaml.safe_load(path.read_text())
        moved["spec"]["path"] = f"./infrastructure/hecate/{cluster}"
        path.write_text(yaml.safe_dump(moved))
    assert run(project, "--remove-shared", "--gitops", str(gitops), "--json") == 0
    removed = yaml.safe_load(capsys.readouterr().out)["removed"]
    assert sorted(removed) == [
        f"{guide_tree.SHARED}/{n}"
        for n in ("configmap.yaml", "daemonset.yaml", "namespace.yaml", "sealed-secret.yaml")
    ]
    assert not list((gitops / guide_tree.SHARED).glob("*.yaml"))


def test_a_list_whose_names_are_not_text_is_kept_whole_not_matched_by_name():
    handmade = [{"name": {"x": 1}, "value": "a"}]
    rendered = [{"name": {"x": 1}, "value": "b"}]
    assert adopt.kept_fields(handmade, rendered) == [
        {"op": "replace", "path": "", "value": handmade}
    ]


def test_the_guides_socket_probe_is_kept_as_the_setting_and_any_other_probe_as_a_patch(
    project, capsys
):
    assert run(project, "--stack", "beam", "--dry-run", "--json") == 0
    adopted = yaml.safe_load(capsys.readouterr().out)
    assert adopted["settings"]["hecate:readinessProbe"] == {
        "check": "socket",
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    assert not [c for c in adopted["keptByPatch"] if "Probe" in c["path"]]

    daemon = project / "gitops" / guide_tree.SHARED / "daemonset.yaml"
    written = yaml.safe_load(daemon.read_text())
    probe = written["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["exec"]["command"] = ["/bin/hecate", "ping"]
    daemon.write_text(yaml.safe_dump(written))
    assert run(project, "--stack", "beam", "--dry-run", "--json") == 0
    adopted = yaml.safe_load(capsys.readouterr().out)
    assert "hecate:readinessProbe" not in adopted["settings"]
    kept = [c["path"] for c in adopted["keptByPatch"]]
    assert kept == ["/spec/template/spec/containers/0/readinessProbe/exec/command"]
