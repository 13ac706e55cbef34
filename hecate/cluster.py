"""One cluster's Hecate: the namespace, the daemon, its secrets and, for gitops, the Flux sync."""

from __future__ import annotations

import posixpath
from typing import Optional

import pulumi
from pulumi_kubernetes.provider import Provider

from . import naming
from .daemon import HecateDaemon
from .flux_sync import FluxSync
from .kubernetes_object import KubernetesObject
from .sealed_secrets import SealedSecrets
from .settings import Settings


class HecateCluster(pulumi.ComponentResource):
    """Everything the deployment guide puts on one cluster.

    Delivery decides where the objects go:
    - gitops: rendered as YAML into the gitops checkout, workloads under
      infrastructure/hecate/<cluster>/ and the Flux objects under clusters/<cluster>/,
      for Flux to apply. Needs no cluster credentials.
    - direct: the workloads applied to the cluster of the stack's kubernetes
      context; no Flux objects.
    """

    rendered_dirs: dict[str, str]

    def __init__(self, name: str, settings: Settings, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hecate:index:Cluster", name, None, opts)

        if settings.delivery == "gitops":
            self.rendered_dirs = {
                "workloads": posixpath.normpath(posixpath.join(settings.gitops_dir, settings.workloads_dir)),
                "flux": posixpath.normpath(posixpath.join(settings.gitops_dir, settings.flux_dir)),
            }
            self.workloads_provider = self._renderer("workloads")
            flux_provider = self._renderer("flux")
        else:
            self.rendered_dirs = {}
            self.workloads_provider = Provider(
                "direct",
                context=settings.kube_context,
                kubeconfig=settings.kubeconfig,
                opts=pulumi.ResourceOptions(parent=self),
            )
            flux_provider = None

        workloads = pulumi.ResourceOptions(parent=self, providers=[self.workloads_provider])
        self.namespace = KubernetesObject({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": naming.NAMESPACE, "labels": naming.labels(settings.cluster, "namespace", name="hecate")},
        }, opts=pulumi.ResourceOptions(parent=self, provider=self.workloads_provider))
        in_namespace = pulumi.ResourceOptions.merge(workloads, pulumi.ResourceOptions(depends_on=[self.namespace]))
        self.daemon = HecateDaemon("daemon", settings, opts=in_namespace)
        self.secrets = (
            SealedSecrets("secrets", settings, opts=in_namespace)
            if settings.sealed_secrets or settings.api_keys
            else None
        )
        self.flux_sync = (
            FluxSync("flux-sync", settings, opts=pulumi.ResourceOptions(parent=self, providers=[flux_provider]))
            if flux_provider is not None
            else None
        )

        self.register_outputs({
            "cluster": settings.cluster,
            "delivery": settings.delivery,
            "image": settings.image_ref,
            "namespace": self.namespace.metadata["name"],
            "renderedDirs": self.rendered_dirs,
        })

    def _renderer(self, name: str) -> Provider:
        """A provider that writes YAML into rendered_dirs[name] instead of talking to a cluster."""
        return Provider(
            name,
            render_yaml_to_directory=self.rendered_dirs[name],
            # The SDK would otherwise fill kubeconfig from $KUBECONFIG, which the provider
            # refuses beside renderYamlToDirectory; rendering needs no cluster.
            kubeconfig="",
            opts=pulumi.ResourceOptions(parent=self),
        )
