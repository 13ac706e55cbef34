"""The Flux sync: the GitRepository Flux pulls and the Kustomization it applies."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi

from . import naming
from .delivery import Target
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


class FluxSync(pulumi.ComponentResource):
    """What Flux needs to keep one cluster in step with its directory of the gitops tree."""

    git_repository: pulumi.CustomResource
    kustomization: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        settings: Settings,
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:FluxSync", name, None, opts)
        source = settings.gitops
        assert source is not None, "gitops delivery without a gitops source passed validation"
        child = pulumi.ResourceOptions(parent=self)
        flux_labels = naming.labels(settings.cluster, "flux-sync", name="hecate")

        repository: GitRepositorySpec = {
            "url": source.url,
            "ref": {"branch": source.branch},
            "interval": source.interval,
        }
        if source.secret_ref:
            repository["secretRef"] = {"name": source.secret_ref}
        self.git_repository = target.declare(
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {
                    "name": naming.GIT_REPOSITORY,
                    "namespace": naming.FLUX_NAMESPACE,
                    "labels": flux_labels,
                },
                "spec": repository,
            },
            "hecate-gitrepository.yaml",
            child,
        )

        kustomization: KustomizationSpec = {
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
            kustomization["timeout"] = settings.health_timeout
        self.kustomization = target.declare(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {
                    "name": naming.KUSTOMIZATION,
                    "namespace": naming.FLUX_NAMESPACE,
                    "labels": flux_labels,
                },
                "spec": kustomization,
            },
            "hecate-kustomization.yaml",
            child,
        )

        self.register_outputs(
            {
                "gitRepository": naming.GIT_REPOSITORY,
                "kustomization": naming.KUSTOMIZATION,
                "path": kustomization["path"],
            }
        )
