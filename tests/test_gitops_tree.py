"""Where a stack may render, checked by the program before it declares anything."""

from __future__ import annotations

import pytest

from hecate.project import shared_clusters
from hecate.rendered_manifest import render
from testbed.mocks import ROOT, evaluate, stack_config, stack_names
from tests import guide_tree


def refused(evaluation) -> str:
    assert evaluation.error is not None, "the stack was accepted"
    assert evaluation.resources == [], "something was declared before the refusal"
    return str(evaluation.error)


@pytest.mark.parametrize("root", ["/", "//", "/./"])
def test_the_filesystem_root_is_refused(root, tmp_path):
    assert "hecate:gitopsDir" in refused(
        evaluate("beam", {"gitopsDir": root}, project_dir=tmp_path)
    )


def test_a_file_is_refused(tmp_path):
    (tmp_path / "README.md").write_text("not a directory\n")
    message = refused(evaluate("beam", {"gitopsDir": "README.md"}, project_dir=tmp_path))
    assert "hecate:gitopsDir: 'README.md' is a file, not a directory" in message


def test_outside_the_project_only_inside_a_git_work_tree(tmp_path):
    project, outside = tmp_path / "project", tmp_path / "elsewhere" / "gitops"
    project.mkdir()
    message = refused(evaluate("beam", {"gitopsDir": str(outside)}, project_dir=project))
    assert "is outside the project and not inside a git work tree" in message
    (tmp_path / "elsewhere" / ".git").mkdir(parents=True)
    accepted = evaluate("beam", {"gitopsDir": str(outside)}, project_dir=project)
    assert accepted.error is None, accepted.error


def test_a_cluster_rendered_by_another_stack_is_refused_naming_both(tmp_path):
    owned = tmp_path / "gitops/infrastructure/hecate/beam-cluster/daemonset.yaml"
    owned.parent.mkdir(parents=True)
    owned.write_text(
        render({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "stack": "beam"})
    )
    message = refused(evaluate("edge", {"cluster": "beam-cluster"}, project_dir=tmp_path))
    assert (
        "'beam-cluster' is rendered by stack 'beam'" in message
        and "stack 'edge' will not render over it" in message
    )
    # Its owner renders there as before; files of no stack (a README, flux-system/) claim nothing.
    assert evaluate("beam", project_dir=tmp_path).error is None
    (tmp_path / "gitops/clusters/edge-cluster/flux-system").mkdir(parents=True)
    (tmp_path / "gitops/clusters/edge-cluster/flux-system/gotk-sync.yaml").write_text(
        render({"kind": "Kustomization", "stack": "bootstrap"})
    )  # in a subdirectory: not the stack's
    (tmp_path / "gitops/clusters/edge-cluster/README.yaml").write_text("# notes\n")
    assert evaluate("edge", project_dir=tmp_path).error is None


def test_no_two_committed_stacks_name_the_same_cluster():
    clusters = {stack: stack_config(stack)["hecate:cluster"] for stack in stack_names()}
    assert shared_clusters(ROOT) == {}, clusters
    assert len(set(clusters.values())) == len(clusters)


def test_shared_clusters_finds_two_stack_files_for_one_cluster(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: hecate\n")
    for stack, cluster in (
        ("beam", "beam-cluster"),
        ("beam2", "beam-cluster"),
        ("edge", "edge-cluster"),
    ):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(f"config:\n  hecate:cluster: {cluster}\n")
    assert shared_clusters(tmp_path) == {"beam-cluster": ["beam", "beam2"]}


def test_rendering_below_the_guides_shared_files_is_refused_until_they_are_listed(tmp_path):
    """Flux generates a kustomization for a directory without one, taking in every directory
    below it: a cluster's directory rendered there would break the clusters still synced."""
    guide_tree.write(tmp_path / "gitops", None, {"edge-cluster": []})
    message = refused(evaluate("beam", {}, project_dir=tmp_path))
    assert "below infrastructure/hecate/, which holds hand-made manifests" in message
    assert "configmap.yaml, daemonset.yaml, namespace.yaml" in message
    assert "`hecate adopt --stack" in message
    listing = tmp_path / "gitops" / guide_tree.SHARED / "kustomization.yaml"
    listing.write_text("resources: [namespace.yaml, configmap.yaml, daemonset.yaml]\n")
    accepted = evaluate("beam", {}, project_dir=tmp_path)
    assert accepted.error is None, accepted.error
