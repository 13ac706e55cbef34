"""The Flux sync: the GitRepository Flux pulls and the Kustomization it applies."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi

from . import naming
from .delivery import Target
from .kubernetes_object import Manifest
from .settings import Settings


class LocalObjectReference(TypedDict):
    name: str


class GitRepositoryRef(TypedDict):
    branch: str


class GitRepositorySpec(TypedDict):
    url: str
    ref: GitRepositoryRef
    interval: str
    secretRef: NotRequired[LocalObjectReference]


class SourceReference(TypedDict):
    kind: str
    name: str


class HealthCheck(TypedDict):
    apiVersion: str
    kind: str
    name: str
    namespace: str


class KustomizationSpec(TypedDict):
    interval: str
    path: str
    prune: bool
    sourceRef: SourceReference
    targetNamespace: str
    healthChecks: list[HealthCheck]
    timeout: NotRequired[str]


def git_repository(settings: Settings) -> Manifest:
    source = settings.gitops
    assert source is not None, "gitops delivery without a gitops source passed validation"
    repository: GitRepositorySpec = {
        "url": source.url,
        "ref": {"branch": source.branch},
        "interval": source.interval,
    }
    if source.secret_ref:
        repository["secretRef"] = {"name": source.secret_ref}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": naming.GIT_REPOSITORY,
            "namespace": naming.FLUX_NAMESPACE,
            "labels": naming.labels(settings.cluster, "flux-sync", name="hecate"),
        },
        "spec": repository,
    }


def kustomization(settings: Settings) -> Manifest:
    spec: KustomizationSpec = {
        "interval": "5m",
        "path": f"./{settings.workloads_dir}",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": naming.GIT_REPOSITORY},
        "targetNamespace": naming.NAMESPACE,
        # Flux reports the sync ready only once the daemon's rollout is.
        "healthChecks": [
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "name": naming.DAEMON,
                "namespace": naming.NAMESPACE,
            },
        ],
    }
    if settings.health_timeout:
        spec["timeout"] = settings.health_timeout
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": naming.KUSTOMIZATION,
            "namespace": naming.FLUX_NAMESPACE,
            "labels": naming.labels(settings.cluster, "flux-sync", name="hecate"),
        },
        "spec": spec,
    }


class FluxSync(pulumi.ComponentResource):
    """What Flux needs to keep one cluster in step with its directory of the gitops tree: the
    GitRepository and the Kustomization (`git_repository`, `kustomization`, patched as the
    stack says)."""

    git_repository: pulumi.CustomResource
    kustomization: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        git_repository: Manifest,
        kustomization: Manifest,
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:FluxSync", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.git_repository = target.declare(git_repository, "hecate-gitrepository.yaml", child)
        self.kustomization = target.declare(kustomization, "hecate-kustomization.yaml", child)
        self.register_outputs(
            {
                "gitRepository": naming.GIT_REPOSITORY,
                "kustomization": naming.KUSTOMIZATION,
                "path": kustomization["spec"]["path"],
            }
        )
