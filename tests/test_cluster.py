"""The cluster component: fixed names, providers per delivery mode, stack outputs."""

from __future__ import annotations

import pytest

from tests.harness import evaluate, stack_config

EXPECTED_OBJECTS = {
    ("kubernetes:core/v1:Namespace", "hecate", None),
    ("kubernetes:core/v1:ConfigMap", "hecate-config", "hecate"),
    ("kubernetes:apps/v1:DaemonSet", "hecate-daemon", "hecate"),
    ("kubernetes:source.toolkit.fluxcd.io/v1:GitRepository", "hecate-gitops", "flux-system"),
    ("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization", "hecate", "flux-system"),
}


def test_objects_carry_the_guides_names_without_suffixes(evaluation):
    declared = {
        (r.type, r.manifest["metadata"]["name"], r.manifest["metadata"].get("namespace"))
        for r in evaluation.kubernetes_objects()
    }
    assert declared == EXPECTED_OBJECTS


def test_components_are_one_per_concern(evaluation):
    components = {r.type for r in evaluation.resources if not r.custom}
    assert components == {"hecate:index:Cluster", "hecate:index:Daemon", "hecate:index:FluxSync"}


def test_gitops_renders_each_cluster_into_its_own_directories(evaluation):
    cluster = stack_config(evaluation.stack)["hecate:cluster"]
    for declared in evaluation.kubernetes_objects():
        provider = evaluation.provider_of(declared)
        is_flux = ".fluxcd.io/" in declared.type
        expected = f"gitops/clusters/{cluster}" if is_flux else f"gitops/infrastructure/hecate/{cluster}"
        assert provider.inputs.get("renderYamlToDirectory") == expected, declared.name
        assert not provider.inputs.get("kubeconfig") and "context" not in provider.inputs


def test_gitops_rendering_ignores_an_ambient_kubeconfig(monkeypatch):
    """The provider refuses a kubeconfig beside renderYamlToDirectory; a user's $KUBECONFIG must not leak in."""
    monkeypatch.setenv("KUBECONFIG", "/home/someone/.kube/config")
    evaluation = evaluate("beam")
    providers = [r for r in evaluation.resources if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 2 and all(p.inputs.get("kubeconfig") == "" for p in providers)
    direct = evaluate("beam", {"delivery": "direct"})
    assert direct.get("pulumi:providers:kubernetes", "direct").inputs["kubeconfig"] == "/home/someone/.kube/config"


def test_gitops_dir_setting_moves_the_rendered_tree():
    evaluation = evaluate("beam", {"gitopsDir": "/srv/hecate-gitops"})
    dirs = {r.name: r.inputs["renderYamlToDirectory"] for r in evaluation.resources
            if r.type == "pulumi:providers:kubernetes"}
    assert dirs == {"workloads": "/srv/hecate-gitops/infrastructure/hecate/beam-cluster",
                    "flux": "/srv/hecate-gitops/clusters/beam-cluster"}
    assert evaluation.outputs["renderedDirs"] == {"workloads": dirs["workloads"], "flux": dirs["flux"]}


@pytest.mark.parametrize("kube", [{}, {"kubernetes:context": "beam-admin"}])
def test_direct_delivery_applies_workloads_through_the_stacks_kubernetes_context(stack, kube):
    evaluation = evaluate(stack, {"delivery": "direct", **kube})
    assert evaluation.error is None, evaluation.error
    objects = evaluation.kubernetes_objects()
    assert {r.manifest["metadata"]["name"] for r in objects} == {"hecate", "hecate-config", "hecate-daemon"}
    assert not [r for r in objects if "fluxcd" in r.type], "Flux objects in direct delivery"
    for declared in objects:
        provider = evaluation.provider_of(declared)
        assert provider.name == "direct"
        assert "renderYamlToDirectory" not in provider.inputs
        assert provider.inputs.get("context") == kube.get("kubernetes:context")
    assert evaluation.outputs["delivery"] == "direct" and evaluation.outputs["renderedDirs"] == {}


def test_stack_outputs(evaluation):
    config = stack_config(evaluation.stack)
    cluster = config["hecate:cluster"]
    assert evaluation.outputs == {
        "cluster": cluster,
        "delivery": "gitops",
        "image": f"ghcr.io/hecate-social/hecate-daemon:{config['hecate:version']}",
        "namespace": "hecate",
        "renderedDirs": {"workloads": f"gitops/infrastructure/hecate/{cluster}", "flux": f"gitops/clusters/{cluster}"},
        "healthCheck": f"kubectl --context {cluster} exec -n hecate daemonset/hecate-daemon -- "
                       "curl -s --unix-socket /run/hecate/daemon.sock http://localhost/api/health",
    }
