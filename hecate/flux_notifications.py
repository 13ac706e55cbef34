"""What a cluster's Flux reports, rendered into clusters/<cluster>/ beside the Flux sync: the
notification-controller's Providers and Alerts (notification.toolkit.fluxcd.io/v1beta3).

Every cluster's Kustomization is flux-system/hecate, so Flux's default commit status
(`kustomization/hecate/<provider uid>`) would differ per cluster only by an opaque id, and a
naive fixed name would let clusters overwrite each other's result (fluxcd/notification-
controller#194). The commit status is named after the cluster instead (`commitStatusExpr`:
`hecate/<cluster>`), and only the Kustomization posts it: it says whether this cluster applied
the commit; the GitRepository's events (a fetch) would overwrite that under the same name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pulumi

from . import naming
from .delivery import Target
from .kubernetes_object import Manifest, ObjectMeta
from .settings import Alert, Settings, forge_address

API_VERSION = "notification.toolkit.fluxcd.io/v1beta3"
COMMIT_STATUS = "hecate-commit-status"


def commit_status_name(cluster: str) -> str:
    """The status's name on each commit of the gitops repository: one per cluster."""
    return f"hecate/{cluster}"


def _meta(settings: Settings, name: str) -> ObjectMeta:
    return {
        "name": name,
        "namespace": naming.FLUX_NAMESPACE,
        "labels": naming.labels(settings.cluster, "notifications", name="hecate"),
    }


def _sources(*kinds: str) -> list[dict[str, str]]:
    names = {"Kustomization": naming.KUSTOMIZATION, "GitRepository": naming.GIT_REPOSITORY}
    return [{"kind": k, "name": names[k], "namespace": naming.FLUX_NAMESPACE} for k in kinds]


def alert_names(alerts: tuple[Alert, ...]) -> list[str]:
    """`hecate-slack`, `hecate-generic`; the second of a type `hecate-generic-2`, and so on
    (by the list's order, so that adding one at the end renames none)."""
    seen: Counter[str] = Counter()
    names = []
    for alert in alerts:
        seen[alert.type] += 1
        nth = seen[alert.type]
        names.append(f"hecate-{alert.type}" if nth == 1 else f"hecate-{alert.type}-{nth}")
    return names


def manifests(settings: Settings) -> list[Manifest]:
    """The Providers and Alerts the stack's settings ask for, each Provider before its Alert."""
    found: list[Manifest] = []
    status = settings.commit_status
    if status is not None:
        assert settings.gitops is not None, "a commit status without a gitops source"
        address = status.address or forge_address(settings.gitops.url)
        found += [
            {
                "apiVersion": API_VERSION,
                "kind": "Provider",
                "metadata": _meta(settings, COMMIT_STATUS),
                "spec": {
                    "type": status.type,
                    "address": address,
                    "secretRef": {"name": status.secret_ref},
                    # A CEL string literal: the cluster's name is a DNS label, nothing to escape.
                    "commitStatusExpr": f"'{commit_status_name(settings.cluster)}'",
                },
            },
            {
                "apiVersion": API_VERSION,
                "kind": "Alert",
                "metadata": _meta(settings, COMMIT_STATUS),
                "spec": {
                    "providerRef": {"name": COMMIT_STATUS},
                    "eventSeverity": "info",  # success and failure both
                    "eventSources": _sources("Kustomization"),
                },
            },
        ]
    for alert, name in zip(settings.alerts, alert_names(settings.alerts), strict=True):
        spec: dict[str, Any] = {"type": alert.type}
        if alert.address:
            spec["address"] = alert.address
        if alert.channel:
            spec["channel"] = alert.channel
        if alert.secret_ref:
            spec["secretRef"] = {"name": alert.secret_ref}
        found += [
            {
                "apiVersion": API_VERSION,
                "kind": "Provider",
                "metadata": _meta(settings, name),
                "spec": spec,
            },
            {
                "apiVersion": API_VERSION,
                "kind": "Alert",
                "metadata": _meta(settings, name),
                "spec": {
                    "providerRef": {"name": name},
                    "eventSeverity": alert.severity,
                    "eventSources": _sources("Kustomization", "GitRepository"),
                    # Events say which cluster sent them: every cluster's objects share names.
                    "eventMetadata": {"cluster": settings.cluster},
                },
            },
        ]
    return found


def file_name(manifest: Manifest) -> str:
    return f"{manifest['metadata']['name']}-{manifest['kind'].lower()}.yaml"


class FluxNotifications(pulumi.ComponentResource):
    """The cluster's Providers and Alerts (`manifests`, patched as the stack says), one file
    each in the cluster's Flux directory."""

    def __init__(
        self,
        name: str,
        objects: list[Manifest],
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:FluxNotifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.objects = [target.declare(m, file_name(m), child) for m in objects]
        self.register_outputs({"files": [file_name(m) for m in objects]})
