"""One cluster's Hecate: the namespace, the daemon, its secrets and, for gitops, the Flux sync."""

from __future__ import annotations

import pulumi

from . import naming
from .daemon import HecateDaemon
from .delivery import GitopsDirectory, LiveCluster, Target
from .flux_sync import FluxSync
from .gitops_tree import GitopsTree
from .sealed_secrets import SealedSecrets
from .settings import Settings


class HecateCluster(pulumi.ComponentResource):
    """Everything the deployment guide puts on one cluster.

    Delivery decides where the objects go:
    - gitops (`tree` given): one file per object in the gitops checkout, workloads under
      infrastructure/hecate/<cluster>/ with their kustomization.yaml, the Flux objects under
      clusters/<cluster>/, for Flux to apply. Needs no cluster credentials.
    - direct: the workloads applied to the cluster of the stack's kubernetes context; no
      Flux objects.
    """

    rendered_dirs: dict[str, str]

    def __init__(
        self,
        name: str,
        settings: Settings,
        tree: GitopsTree | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        workloads: Target
        flux: GitopsDirectory | None = None
        if tree is not None:
            workloads = GitopsDirectory(tree, settings.workloads_dir)
            flux = GitopsDirectory(tree, settings.flux_dir)
            self.rendered_dirs = {"workloads": workloads.path, "flux": flux.path}
        else:
            # Imported only here: the provider's module costs a gitops preview time for nothing.
            from pulumi_kubernetes.provider import Provider

            workloads = LiveCluster(
                Provider(
                    "direct",
                    context=settings.kube_context,
                    kubeconfig=settings.kubeconfig,
                    opts=child,
                ),
                await_seconds=settings.health_timeout_seconds,
            )
            self.rendered_dirs = {}

        self.namespace = workloads.declare(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": naming.NAMESPACE,
                    "labels": naming.labels(settings.cluster, "namespace", name="hecate"),
                },
            },
            "namespace.yaml",
            child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.daemon = HecateDaemon("daemon", settings, workloads, opts=in_namespace)
        self.secrets = (
            SealedSecrets("secrets", settings, workloads, opts=in_namespace)
            if settings.sealed_secrets or settings.api_keys
            else None
        )
        if isinstance(workloads, GitopsDirectory):
            self.kustomization = workloads.declare_kustomization(child)
        self.flux_sync = (
            FluxSync("flux-sync", settings, flux, opts=child) if flux is not None else None
        )

        self.register_outputs(
            {
                "cluster": settings.cluster,
                "delivery": settings.delivery,
                "image": settings.image_ref,
                "namespace": naming.NAMESPACE,
                "renderedDirs": self.rendered_dirs,
            }
        )
