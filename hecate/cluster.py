"""One cluster's Hecate: the namespace, the daemon, its secrets and, for gitops, the Flux sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from . import daemon, flux_notifications, flux_sync, naming, patches
from .daemon import HecateDaemon, config_checksum
from .delivery import GitopsDirectory, LiveCluster, Target
from .fleet_identity import FleetIdentity
from .flux_notifications import FluxNotifications
from .flux_sync import FluxSync
from .gitops_tree import GitopsTree
from .kubernetes_object import Manifest
from .sealed_secrets import SealedSecrets
from .settings import Settings, digest, setting_digests


def namespace(settings: Settings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": naming.NAMESPACE,
            "labels": naming.labels(settings.cluster, "namespace", name="hecate"),
        },
    }


@dataclass(frozen=True)
class ClusterObjects:
    """The objects a stack renders (but the SealedSecret, which only ciphertext makes up), with
    the stack's patches applied: built, and refused, before any resource is declared."""

    namespace: Manifest
    config_map: Manifest
    daemon_set: Manifest
    git_repository: Manifest | None  # gitops delivery only
    kustomization: Manifest | None
    notifications: tuple[Manifest, ...]  # gitops delivery only: Providers and Alerts

    @classmethod
    def of(cls, settings: Settings) -> ClusterObjects:
        """Raises ConfigError naming each patch that does not apply."""
        workloads = [namespace(settings), daemon.config_map(settings), daemon.daemon_set(settings)]
        gitops = settings.delivery == "gitops"
        flux = (
            [flux_sync.git_repository(settings), flux_sync.kustomization(settings)]
            if gitops
            else []
        )
        notifications = flux_notifications.manifests(settings) if gitops else []
        patched: dict[patches.Key, Any] = patches.apply(
            settings.patches, {_key(m): dict(m) for m in workloads + flux + notifications}
        )
        namespace_, config_map, daemon_set = (patched[_key(m)] for m in workloads)
        git_repository, kustomization = (patched[_key(m)] for m in flux) if flux else (None, None)
        return cls(
            namespace_,
            config_map,
            daemon_set,
            git_repository,
            kustomization,
            tuple(patched[_key(m)] for m in notifications),
        )


def _key(manifest: Manifest) -> patches.Key:
    return manifest["kind"], manifest["metadata"]["name"]


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
        objects: ClusterObjects,
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

        self.namespace = workloads.declare(objects.namespace, "namespace.yaml", child)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.secrets = (
            SealedSecrets("secrets", settings, workloads, opts=in_namespace)
            if settings.sealed_secrets or settings.api_keys
            else None
        )
        sealed = self.secrets.encrypted_data if self.secrets else {}
        self.daemon = HecateDaemon(
            "daemon",
            objects.config_map,
            objects.daemon_set,
            config_checksum(objects.config_map, sealed),
            workloads,
            opts=in_namespace,
        )
        if flux is not None:
            # Before the workloads' kustomization.yaml, which lists its Role.
            self.fleet_identity = FleetIdentity(
                "fleet-access", settings, flux, workloads, opts=child
            )
        if isinstance(workloads, GitopsDirectory):
            self.kustomization = workloads.declare_kustomization(child)
        self.flux_sync = None
        if flux is not None:
            assert objects.git_repository and objects.kustomization, "gitops without Flux objects"
            self.flux_sync = FluxSync(
                "flux-sync", objects.git_repository, objects.kustomization, flux, opts=child
            )
        self.flux_notifications = (
            FluxNotifications("flux-notifications", list(objects.notifications), flux, opts=child)
            if flux is not None and objects.notifications
            else None
        )

        # Which settings this update deployed, by digest: `fleet rollout` names the ones that
        # changed in its deploy commit. API keys by their sealed values, never their plaintext.
        digests: dict[str, pulumi.Input[str]] = dict(setting_digests(settings))
        for key in settings.api_keys:
            digests[f"hecate:apiKeys.{key}"] = pulumi.Output.from_input(sealed[key]).apply(digest)
        self.settings_digest = pulumi.Output.unsecret(pulumi.Output.from_input(digests))
        self.register_outputs(
            {
                "cluster": settings.cluster,
                "delivery": settings.delivery,
                "image": settings.image_ref,
                "namespace": naming.NAMESPACE,
                "renderedDirs": self.rendered_dirs,
            }
        )
