"""The file resource's provider, called as the engine calls it, on a real directory."""

from __future__ import annotations

import os

import pytest
import yaml

from hecate import rendered_manifest
from hecate.rendered_manifest import DRIFT, RenderedManifestProvider, render

CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"namespace": "hecate", "name": "hecate-config"},
    "data": {"OLLAMA_HOST": "http://localhost:11434", "HECATE_LOG_LEVEL": "info", "PORT": "1"},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # providers run in the project directory; roots are relative to it
    return tmp_path


def props(stack="beam", root="gitops", path="infrastructure/hecate/c/configmap.yaml", **manifest):
    # What the engine hands the provider: numbers as floats, the serialized provider beside.
    return {
        **CONFIG_MAP,
        **manifest,
        "root": root,
        "path": path,
        "stack": stack,
        "__provider": "opaque",
    }


provider = RenderedManifestProvider()


def test_the_file_reads_like_the_guide(project):
    daemon = props(
        path="x/daemonset.yaml",
        kind="DaemonSet",
        apiVersion="apps/v1",
        data=None,
        spec={
            "template": {
                "spec": {"containers": [{"name": "d", "livenessProbe": {"periodSeconds": 30.0}}]}
            }
        },
    )
    del daemon["data"]
    text = render(daemon)
    lines = text.splitlines()
    assert lines[0] == '# Rendered by hecate stack "beam": change Pulumi.beam.yaml, not this file.'
    assert lines[1:4] == ["apiVersion: apps/v1", "kind: DaemonSet", "metadata:"]
    assert "periodSeconds: 30\n" in text and text.endswith("\n")
    assert "root" not in yaml.safe_load(text) and "__provider" not in text
    # Stable: the same object in any key order renders the same bytes.
    shuffled = dict(reversed(list(daemon.items())))
    assert render(shuffled) == text
    # Strings that look like numbers stay strings.
    assert yaml.safe_load(render(props()))["data"]["PORT"] == "1"


def test_create_writes_whole_files_and_refuses_another_stacks(project):
    created = provider.create(props())
    path = project / "gitops/infrastructure/hecate/c/configmap.yaml"
    assert created.id == "gitops/infrastructure/hecate/c/configmap.yaml"
    assert path.read_text() == render(props())
    assert "__provider" not in created.outs and DRIFT not in created.outs
    assert [p.name for p in path.parent.iterdir()] == ["configmap.yaml"]  # no temporary left
    with pytest.raises(
        RuntimeError, match="rendered by stack 'beam'; stack 'edge' will not write over it"
    ):
        provider.create(props(stack="edge"))
    assert path.read_text() == render(props())


def test_diff_sees_the_file_not_only_the_state(project):
    provider.create(props())
    path = project / "gitops/infrastructure/hecate/c/configmap.yaml"
    assert not provider.diff("id", props(), props()).changes
    assert provider.diff("id", props(), props(data={"HECATE_LOG_LEVEL": "debug"})).changes

    path.write_text(path.read_text().replace("info", "debug"))  # edited by hand
    assert provider.diff("id", props(), props()).changes
    checked = provider.check(props(), props()).inputs
    assert "differs from what the stack renders" in checked[DRIFT]
    path.unlink()  # deleted by hand
    assert provider.diff("id", props(), props()).changes
    assert "is missing" in provider.check(props(), props()).inputs[DRIFT]

    provider.update("id", props(), props())
    assert path.read_text() == render(props())
    # The drift note check() leaves in the stored inputs is no change once the file is back.
    assert DRIFT not in provider.check(props(), props()).inputs
    assert not provider.diff("id", {**props(), DRIFT: "was missing"}, props()).changes


def test_a_new_file_is_no_drift(project):
    assert DRIFT not in provider.check({}, props()).inputs


def test_respelled_roots_are_the_same_file_and_moves_delete_first(project):
    provider.create(props())
    same = provider.diff("id", props(), props(root=str(project / "gitops")))
    assert same.changes and same.replaces == []  # rewritten in place, never deleted
    moved = provider.diff("id", props(), props(root="elsewhere"))
    assert moved.replaces == ["root"] and moved.delete_before_replace


def test_read_reports_what_is_on_disk(project):
    provider.create(props())
    path = project / "gitops/infrastructure/hecate/c/configmap.yaml"
    assert provider.read("id", props()).outs == {
        k: v for k, v in props().items() if k != "__provider"
    }

    path.write_text(path.read_text().replace("info", "debug"))
    read = provider.read("id", props())
    assert read.inputs["data"]["HECATE_LOG_LEVEL"] == "debug" and DRIFT not in read.inputs
    path.write_text("# a note\n" + path.read_text())
    assert "not formatted as the stack renders it" in provider.read("id", props()).inputs[DRIFT]
    path.write_text("a: 1\n---\nb: 2\n")
    assert "not one YAML object" in provider.read("id", props()).inputs[DRIFT]
    path.unlink()
    assert provider.read("id", props()).id is None


def test_delete_removes_only_its_own_file_and_empty_directories(project):
    provider.create(props(path="clusters/c/hecate-kustomization.yaml"))
    (project / "gitops/clusters/c/flux-system").mkdir()
    (project / "gitops/clusters/c/flux-system/gotk-sync.yaml").write_text("kind: Kustomization\n")
    provider.delete("id", props(path="clusters/c/hecate-kustomization.yaml"))
    assert sorted(os.listdir(project / "gitops/clusters/c")) == ["flux-system"]

    provider.create(props())
    provider.delete("id", props())
    assert os.listdir(project / "gitops") == [
        "clusters"
    ]  # infrastructure/hecate/c went with its last file

    # A file another stack (or a person) put at the path stays.
    theirs = project / "gitops/infrastructure/hecate/c/configmap.yaml"
    theirs.parent.mkdir(parents=True)
    for text in (render(props(stack="edge")), "kind: ConfigMap\n"):
        theirs.write_text(text)
        provider.delete("id", props())
        assert theirs.read_text() == text


def test_each_kind_has_its_own_resource_type():
    daemon_set = rendered_manifest.resource_class("apps/v1", "DaemonSet")
    assert daemon_set._resource_type_name == "dynamic/gitops/apps/v1:DaemonSet"
    assert (
        rendered_manifest.resource_class("v1", "Namespace")._resource_type_name
        == "dynamic/gitops/core/v1:Namespace"
    )
    assert rendered_manifest.resource_class("apps/v1", "DaemonSet") is daemon_set
