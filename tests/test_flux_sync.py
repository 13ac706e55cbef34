"""The Flux GitRepository and Kustomization of each cluster."""

from __future__ import annotations

from hecate.project import project_values
from testbed.mocks import ROOT, evaluate, stack_config
from tests import guide

GIT_REPOSITORY = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"


def test_kustomization_is_the_guides_with_a_per_cluster_path(evaluation):
    written = guide.manifests()["clusters/beam-cluster/hecate-kustomization.yaml"]
    declared = evaluation.get(KUSTOMIZATION, "hecate").manifest
    cluster = stack_config(evaluation.stack)["hecate:cluster"]
    # Each cluster syncs its own rendered directory; everything else is the guide's.
    assert (
        guide.missing_or_different(
            {**written, "spec": {**written["spec"], "path": f"./infrastructure/hecate/{cluster}"}},
            declared,
        )
        == []
    )
    assert declared["spec"]["interval"] == "5m" and declared["spec"]["prune"] is True
    assert declared["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "hecate-gitops"}
    assert declared["spec"]["targetNamespace"] == "hecate"
    # Beyond the guide: Flux waits for the daemon's rollout before calling the sync ready.
    assert declared["spec"]["healthChecks"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": "hecate-daemon",
            "namespace": "hecate",
        }
    ]


def test_git_repository_is_the_configured_source(evaluation):
    source = stack_config(evaluation.stack)["hecate:gitops"]
    declared = evaluation.get(GIT_REPOSITORY, "hecate-gitops").manifest
    assert declared["metadata"]["name"] == "hecate-gitops"
    assert declared["metadata"]["namespace"] == "flux-system"
    assert declared["spec"]["url"] == source["url"]
    assert declared["spec"]["ref"] == {"branch": source["branch"]}
    assert declared["spec"]["interval"] == source["interval"]
    assert declared["spec"].get("secretRef") == (
        {"name": source["secretRef"]} if "secretRef" in source else None
    )


def test_public_https_source_needs_no_secret_ref():
    declared = (
        evaluate(
            "beam",
            {"gitops": {"url": "https://github.com/hecate-social/hecate-gitops", "secretRef": ""}},
        )
        .get(GIT_REPOSITORY, "hecate-gitops")
        .manifest
    )
    assert "secretRef" not in declared["spec"]
    assert declared["spec"]["ref"] == {"branch": "main"} and declared["spec"]["interval"] == "1m"


def test_a_stacks_gitops_keys_go_over_the_projects_key_by_key():
    """The engine hands the program a stack's object whole; the project's other keys survive."""
    declared = (
        evaluate("beam", {"gitops": {"url": "https://example.invalid/hecate/gitops"}})
        .get(GIT_REPOSITORY, "hecate-gitops")
        .manifest["spec"]
    )
    project = project_values(ROOT)["hecate:gitops"]
    assert declared == {
        "url": "https://example.invalid/hecate/gitops",
        "ref": {"branch": project["branch"]},
        "interval": project["interval"],
        "secretRef": {"name": project["secretRef"]},
    }


def test_a_health_timeout_bounds_the_wait_for_the_rollout(evaluation):
    """Unset, the guide's Kustomization has no timeout (Flux waits its interval, 5m)."""
    assert "timeout" not in evaluation.get(KUSTOMIZATION, "hecate").manifest["spec"]
    declared = evaluate("beam", {"healthTimeout": "45s"}).get(KUSTOMIZATION, "hecate").manifest
    assert declared["spec"]["timeout"] == "45s"
