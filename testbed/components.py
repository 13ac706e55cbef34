"""The components of each cluster of the local fleet, built from Go modules by
scripts/install-testbed into the cache: kwokctl's binary runtime (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok), Flux's source- and kustomize-controller and the
sealed-secrets controller, and the files that configure them."""

from __future__ import annotations

import yaml

from testbed import faults
from testbed.paths import BIN, TESTBED

CLUSTERS = ("dev-cluster", "edge-cluster", "beam-cluster")
REPOSITORY = "hecate-gitops"
BRANCH = "main"

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "kwokctl",
    "source-controller",
    "kustomize-controller",
    "notification-controller",
    "sealed-secrets-controller",
    "registry",
    "crane",
)
SEALED_SECRETS_NAMESPACE = "kube-system"
SEALED_SECRETS_ACCOUNT = "sealed-secrets-controller"


def missing_components() -> list[str]:
    """What `scripts/install-testbed` should have put in the cache and did not."""
    missing = [str(BIN / name) for name in COMPONENTS if not (BIN / name).is_file()]
    if not (TESTBED / ".versions").is_file():
        missing.append(f"{TESTBED} (CRDs and kwok stages)")
    return missing


# The ports kwokctl gives a cluster's components. Left to itself it takes the first free port
# counting down from 32767, so two fleets created at the same moment (two pytest workers) took
# the same ones and each reached the other's API server ("certificate signed by unknown
# authority"): the test bed picks them instead, at random (processes.free_ports).
KWOKCTL_PORTS = (
    "etcdPort",
    "etcdPeerPort",
    "kubeApiserverPort",
    "kubeControllerManagerPort",
    "kubeSchedulerPort",
    "kwokControllerPort",
)


# A test cluster's control plane is one of each and throwaway: kube-controller-manager and
# kube-scheduler need no leader election (each renewed a Lease every 2 s, an etcd write), and
# etcd need not fsync. An idle fleet of three clusters: 21 % of a core before, 16 % after.
COMPONENTS_PATCHES = [
    {"name": "kube-controller-manager", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
    {"name": "kube-scheduler", "extraArgs": [{"key": "leader-elect", "value": "false"}]},
    {"name": "etcd", "extraArgs": [{"key": "unsafe-no-fsync", "value": "true"}]},
]


def kwokctl_config(unready_image: str, ports: dict[str, int]) -> str:
    """A cluster's kwokctl configuration: the binaries from the cache, everything bound to
    loopback on the given ports (KWOKCTL_PORTS), and kwok's stock Stages plus one that keeps the
    unready test version's pods from ever becoming ready (with a weight, so that it wins over
    the stock pod-ready stage)."""
    if sorted(ports) != sorted(KWOKCTL_PORTS):
        raise ValueError(f"kwokctl ports: got {sorted(ports)}, need {sorted(KWOKCTL_PORTS)}")
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeApiserverBinary": str(BIN / "kube-apiserver"),
        "kubeControllerManagerBinary": str(BIN / "kube-controller-manager"),
        "kubeSchedulerBinary": str(BIN / "kube-scheduler"),
        "kwokControllerBinary": str(BIN / "kwok"),
        "etcdBinary": str(BIN / "etcd"),
        "kubectlBinary": str(BIN / "kubectl"),
        # Real admission, as a cluster has it (webhooks included); kwokctl's default is none.
        "kubeAuthorization": True,
        "kubeAdmission": True,
        **ports,
    }
    documents: list[dict] = [
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "options": options,
            "componentsPatches": COMPONENTS_PATCHES,
        }
    ]
    for stage in sorted((TESTBED / "stages").glob("*.yaml")):
        documents.append(yaml.safe_load(stage.read_text()))
    documents += faults.stages(unready_image)
    return yaml.safe_dump_all(documents, sort_keys=False)


def flux_bootstrap(cluster: str, url: str) -> dict[str, str]:
    """What `flux bootstrap` commits under clusters/<cluster>/flux-system (less the controllers'
    own manifests: here they run beside the cluster), by file name."""
    sync = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"interval": "1m", "ref": {"branch": BRANCH}, "url": url},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {
                "interval": "10m",
                "path": f"./clusters/{cluster}",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        },
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["gotk-sync.yaml"],
    }
    return {
        "gotk-sync.yaml": yaml.safe_dump_all(sync, sort_keys=False),
        "kustomization.yaml": yaml.safe_dump(kustomization, sort_keys=False),
    }
