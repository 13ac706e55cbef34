"""The cluster component: fixed names, providers per delivery mode, stack outputs."""

from __future__ import annotations

import pytest

from testbed.mocks import KUSTOMIZE_FILE, evaluate, seals, stack_config, unsealed
from tests.test_fleet_identity import FILES as FLEET_IDENTITY
from tests.test_sealed_secrets import SEALED

EXPECTED_OBJECTS = {
    ("kubernetes:core/v1:Namespace", "hecate", None),
    ("kubernetes:core/v1:ConfigMap", "hecate-config", "hecate"),
    ("kubernetes:apps/v1:DaemonSet", "hecate-daemon", "hecate"),
    ("kubernetes:source.toolkit.fluxcd.io/v1:GitRepository", "hecate-gitops", "flux-system"),
    ("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization", "hecate", "flux-system"),
}
EXPECTED_OBJECTS |= set(FLEET_IDENTITY.values())


SEALED_SECRET = ("kubernetes:bitnami.com/v1alpha1:SealedSecret", "hecate-secrets", "hecate")


def test_objects_carry_the_guides_names_without_suffixes(evaluation):
    declared = {
        (r.type, r.manifest["metadata"]["name"], r.manifest["metadata"].get("namespace"))
        for r in evaluation.kubernetes_objects()
    }
    assert declared == EXPECTED_OBJECTS | ({SEALED_SECRET} if seals(evaluation.stack) else set())


def test_components_are_one_per_concern(evaluation):
    components = {r.type for r in evaluation.resources if not r.custom}
    assert components == {
        "hecate:index:Cluster",
        "hecate:index:Daemon",
        "hecate:index:FluxSync",
        "hecate:index:FleetAccess",
        *(["hecate:index:SealedSecrets"] if seals(evaluation.stack) else []),
    }


EXPECTED_FILES = {
    "gitops/infrastructure/hecate/{cluster}/namespace.yaml": (
        "kubernetes:core/v1:Namespace",
        "hecate",
    ),
    "gitops/infrastructure/hecate/{cluster}/configmap.yaml": (
        "kubernetes:core/v1:ConfigMap",
        "hecate-config",
    ),
    "gitops/infrastructure/hecate/{cluster}/daemonset.yaml": (
        "kubernetes:apps/v1:DaemonSet",
        "hecate-daemon",
    ),
    "gitops/infrastructure/hecate/{cluster}/kustomization.yaml": (KUSTOMIZE_FILE, "kustomization"),
    "gitops/clusters/{cluster}/hecate-gitrepository.yaml": (
        "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository",
        "hecate-gitops",
    ),
    "gitops/clusters/{cluster}/hecate-kustomization.yaml": (
        "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
        "hecate",
    ),
    **{f"gitops/{path}": (kind, name) for path, (kind, name, _) in FLEET_IDENTITY.items()},
}


def test_gitops_renders_one_file_per_object_in_the_guides_layout(evaluation):
    cluster = stack_config(evaluation.stack)["hecate:cluster"]
    files = evaluation.rendered_files()
    expected = {
        path.format(cluster=cluster): kind_and_name
        for path, kind_and_name in EXPECTED_FILES.items()
    }
    if seals(evaluation.stack):
        expected[f"gitops/infrastructure/hecate/{cluster}/sealed-secret.yaml"] = SEALED_SECRET[:2]
    assert {path: (r.type, r.name) for path, r in files.items()} == expected
    assert {r.inputs["stack"] for r in files.values()} == {evaluation.stack}
    # Gitops stacks need no cluster: no Kubernetes provider at all.
    assert not [r for r in evaluation.resources if r.type == "pulumi:providers:kubernetes"]


def test_gitops_stacks_ignore_an_ambient_kubeconfig(monkeypatch):
    """A user's $KUBECONFIG reaches no gitops stack (it once broke `make up`), only `direct`."""
    monkeypatch.setenv("KUBECONFIG", "/home/someone/.kube/config")
    evaluation = evaluate("beam")
    assert evaluation.error is None and evaluation.rendered_files()
    assert not [r for r in evaluation.resources if r.type == "pulumi:providers:kubernetes"]
    direct = evaluate("beam", {"delivery": "direct"})
    assert (
        direct.get("pulumi:providers:kubernetes", "direct").inputs["kubeconfig"]
        == "/home/someone/.kube/config"
    )


def test_the_workloads_kustomization_lists_exactly_the_workload_files():
    plain = unsealed("beam").rendered_files()[
        "gitops/infrastructure/hecate/beam-cluster/kustomization.yaml"
    ]
    assert plain.manifest == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [
            "namespace.yaml",
            "configmap.yaml",
            "daemonset.yaml",
            "fleet-role.yaml",
            "fleet-rolebinding.yaml",
        ],
    }
    sealing = evaluate("beam", {"sealedSecrets": SEALED}, remove=["apiKeys"]).rendered_files()
    # The SealedSecret before the daemon: its sealed data goes into the pods' checksum.
    assert sealing["gitops/infrastructure/hecate/beam-cluster/kustomization.yaml"].manifest[
        "resources"
    ] == [
        "namespace.yaml",
        "sealed-secret.yaml",
        "configmap.yaml",
        "daemonset.yaml",
        "fleet-role.yaml",
        "fleet-rolebinding.yaml",
    ]
    assert "gitops/infrastructure/hecate/beam-cluster/sealed-secret.yaml" in sealing


def test_gitops_dir_setting_moves_the_rendered_tree(tmp_path):
    checkout = tmp_path / "hecate-gitops"
    (checkout / ".git").mkdir(parents=True)  # a checkout of the gitops repository
    evaluation = evaluate("beam", {"gitopsDir": str(checkout)})
    assert evaluation.error is None, evaluation.error
    assert {r.inputs["root"] for r in evaluation.rendered_files().values()} == {str(checkout)}
    assert evaluation.outputs["renderedDirs"] == {
        "workloads": f"{checkout}/infrastructure/hecate/beam-cluster",
        "flux": f"{checkout}/clusters/beam-cluster",
    }


def test_spellings_of_one_directory_render_the_same_inputs(tmp_path):
    """./gitops, gitops/ and the absolute path of the same directory: one root, so no change and no
    replacement when a stack file respells it."""
    roots = set()
    for spelling in (
        "./gitops",
        "gitops/",
        "gitops",
        str(tmp_path / "gitops"),
        f"{tmp_path}/./gitops/",
    ):
        evaluation = evaluate("beam", {"gitopsDir": spelling}, project_dir=tmp_path)
        assert evaluation.error is None, (spelling, evaluation.error)
        roots |= {r.inputs["root"] for r in evaluation.rendered_files().values()}
    assert roots == {"gitops"}


@pytest.mark.parametrize("kube", [{}, {"kubernetes:context": "beam-admin"}])
def test_direct_delivery_applies_workloads_through_the_stacks_kubernetes_context(stack, kube):
    evaluation = evaluate(stack, {"delivery": "direct", **kube})
    assert evaluation.error is None, evaluation.error
    objects = evaluation.kubernetes_objects()
    assert {r.manifest["metadata"]["name"] for r in objects} == {
        "hecate",
        "hecate-config",
        "hecate-daemon",
        *(["hecate-secrets"] if seals(stack) else []),
    }
    assert not [r for r in objects if "fluxcd" in r.type], "Flux objects in direct delivery"
    for declared in objects:
        provider = evaluation.provider_of(declared)
        assert provider.name == "direct"
        assert "renderYamlToDirectory" not in provider.inputs
        assert provider.inputs.get("context") == kube.get("kubernetes:context")
        # An edit made with kubectl is taken back by the next up, not a field conflict
        # (tests/local_fleet/test_direct_delivery.py shows it on a live API server).
        assert declared.manifest["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
        assert "pulumi.com/timeoutSeconds" not in declared.manifest["metadata"]["annotations"]
    assert evaluation.outputs["delivery"] == "direct" and evaluation.outputs["renderedDirs"] == {}


def test_stack_outputs(evaluation):
    config = stack_config(evaluation.stack)
    cluster = config["hecate:cluster"]
    digests = evaluation.outputs.pop("settingsDigest")
    # Every setting's digest, by name, and nothing readable of what it holds.
    assert {"hecate:version", "hecate:logLevel", "hecate:tolerations"} <= set(digests)
    assert all(len(d) == 16 and int(d, 16) >= 0 for d in digests.values())
    assert str(config["hecate:version"]) not in digests.values()
    assert evaluation.outputs == {
        "cluster": cluster,
        "delivery": "gitops",
        "image": f"ghcr.io/hecate-social/hecate-daemon:{config['hecate:version']}",
        "namespace": "hecate",
        "renderedDirs": {
            "workloads": f"gitops/infrastructure/hecate/{cluster}",
            "flux": f"gitops/clusters/{cluster}",
        },
        "healthCheck": f"kubectl --context {cluster} exec -n hecate daemonset/hecate-daemon -- "
        "curl -s --unix-socket /run/hecate/daemon.sock http://localhost/api/health",
    }


def test_direct_delivery_waits_for_the_rollout_as_long_as_the_health_timeout():
    evaluation = evaluate("beam", {"delivery": "direct", "healthTimeout": "1m30s"})
    daemon = evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon")
    assert daemon.manifest["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "90"
