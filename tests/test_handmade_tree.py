"""Reading a guide-built tree: what cannot be read as the guide's layout is refused with the
file and the reason, before kustomize or anything else runs."""

from __future__ import annotations

import base64

import pytest
import yaml

from hecate.handmade_tree import (
    Document,
    TreeRefused,
    read,
    sealed_for_another_namespace,
    shared_files,
    users,
)
from tests import guide_tree

SEALED = {"OPENAI_API_KEY": base64.b64encode(bytes(300)).decode()}


@pytest.fixture
def gitops(tmp_path):
    root = tmp_path / "gitops"
    guide_tree.write(root, SEALED, {"beam-cluster": [], "edge-cluster": []})
    return root


def refusal(gitops, cluster="beam-cluster") -> str:
    with pytest.raises(TreeRefused) as refused:
        read(gitops, cluster)
    return str(refused.value)


def test_the_guides_layout_is_read_as_four_shared_files_used_by_both_clusters(gitops):
    assert shared_files(gitops, guide_tree.SHARED) == [
        f"{guide_tree.SHARED}/{name}"
        for name in ("configmap.yaml", "daemonset.yaml", "namespace.yaml", "sealed-secret.yaml")
    ]
    assert users(gitops, guide_tree.SHARED) == ["beam-cluster", "edge-cluster"]


def test_a_missing_daemon_set_is_refused(gitops):
    (gitops / guide_tree.SHARED / "daemonset.yaml").unlink()
    assert "infrastructure/hecate/: no DaemonSet (the guide's daemonset.yaml)" in refusal(gitops)


def test_two_daemon_sets_are_refused_naming_both_files(gitops):
    shared = gitops / guide_tree.SHARED
    second = yaml.safe_load((shared / "daemonset.yaml").read_text())
    second["metadata"]["name"] = "hecate-daemon-gpu"
    (shared / "gpu.yaml").write_text(yaml.safe_dump(second))
    message = refusal(gitops)
    assert (
        "2 DaemonSets (infrastructure/hecate/daemonset.yaml, infrastructure/hecate/gpu.yaml)"
        in message
    )


@pytest.mark.parametrize("where", ["metadata", "template"])
def test_a_sealed_secret_for_another_namespace_is_refused(gitops, where):
    path = gitops / guide_tree.SHARED / "sealed-secret.yaml"
    sealed = yaml.safe_load(path.read_text())
    target = sealed["metadata"] if where == "metadata" else sealed["spec"]["template"]["metadata"]
    target["namespace"] = "default"
    path.write_text(yaml.safe_dump(sealed))
    message = refusal(gitops)
    assert (
        "infrastructure/hecate/sealed-secret.yaml: SealedSecret/hecate-secrets is sealed for "
        in message
    )
    assert "namespace 'default'" in message


def test_a_cluster_wide_sealed_secret_opens_in_any_namespace(gitops):
    path = gitops / guide_tree.SHARED / "sealed-secret.yaml"
    sealed = yaml.safe_load(path.read_text())
    sealed["metadata"]["namespace"] = "default"
    sealed["metadata"]["annotations"] = {"sealedsecrets.bitnami.com/cluster-wide": "true"}
    assert sealed_for_another_namespace(Document(str(path), sealed)) == []
    del sealed["metadata"]["annotations"]
    assert sealed_for_another_namespace(Document(str(path), sealed)) != []


def test_a_secret_in_clear_and_an_object_the_program_does_not_render_are_refused(gitops):
    shared = gitops / guide_tree.SHARED
    (shared / "secret.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys"}})
    )
    (shared / "sa.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "d"}})
    )
    message = refusal(gitops)
    assert "infrastructure/hecate/secret.yaml: Secret/keys in clear in git" in message
    assert (
        "infrastructure/hecate/sa.yaml: ServiceAccount/d is no object the program renders"
        in message
    )
    assert "Flux would prune it" in message


def test_a_cluster_without_the_guides_kustomization_is_refused(gitops):
    (gitops / "clusters" / "beam-cluster" / "hecate-kustomization.yaml").unlink()
    assert "clusters/beam-cluster/: no Flux Kustomization named hecate" in refusal(gitops)
    assert "no such directory" in refusal(gitops, "gpu-cluster")


def test_a_tree_a_stack_already_renders_is_not_adopted_again(gitops):
    path = gitops / "clusters" / "beam-cluster" / "hecate-kustomization.yaml"
    path.write_text(
        '# Rendered by hecate stack "beam": change Pulumi.beam.yaml, not this file.\n'
        + path.read_text()
    )
    assert "already rendered by stack 'beam'" in refusal(gitops)
