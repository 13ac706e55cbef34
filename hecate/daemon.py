"""The Hecate daemon: its ConfigMap and the DaemonSet that runs it on every node."""

from __future__ import annotations

from typing import Any

import pulumi

from . import naming
from .delivery import Target
from .settings import Settings

_SOCKET_PROBE = {"exec": {"command": ["test", "-S", naming.SOCKET]}}
# The daemon needs only its two host paths and the host network: nothing else of the node's.
_HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_spec(settings: Settings) -> dict[str, Any]:
    """The guide's pod, field for field, plus the hardening `hecate:hardened` adds."""
    resources = settings.resources
    container: dict[str, Any] = {
        "name": "daemon",
        "image": settings.image_ref,
        "imagePullPolicy": "Always",
        "envFrom": [
            {"configMapRef": {"name": naming.CONFIG_MAP}},
            # Optional, as in the guide: the daemon starts without API keys.
            {"secretRef": {"name": naming.SECRET, "optional": True}},
        ],
        "volumeMounts": [
            {"name": "socket-dir", "mountPath": naming.SOCKET_DIR},
            {"name": "data-dir", "mountPath": naming.DATA_DIR},
        ],
        "livenessProbe": {**_SOCKET_PROBE, "initialDelaySeconds": 10, "periodSeconds": 30},
        "readinessProbe": {**_SOCKET_PROBE, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {
            "requests": {"memory": resources.request_memory, "cpu": resources.request_cpu},
            "limits": {"memory": resources.limit_memory, "cpu": resources.limit_cpu},
        },
    }
    spec: dict[str, Any] = {
        # The daemon reaches the node's Ollama on localhost.
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "volumes": [
            {
                "name": "socket-dir",
                "hostPath": {"path": naming.SOCKET_DIR, "type": "DirectoryOrCreate"},
            },
            {
                "name": "data-dir",
                "hostPath": {"path": naming.DATA_DIR, "type": "DirectoryOrCreate"},
            },
        ],
        "containers": [container],
    }
    if settings.hardened:
        container["securityContext"] = _HARDENED_CONTAINER
        # With a read-only root, scratch space is a pod-local emptyDir.
        container["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"})
        spec["volumes"].append({"name": "tmp", "emptyDir": {}})
        # The daemon never calls the Kubernetes API: no token in the pod.
        spec["automountServiceAccountToken"] = False
        spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    return spec


class HecateDaemon(pulumi.ComponentResource):
    """hecate-config and hecate-daemon, as the deployment guide writes them."""

    config_map: pulumi.CustomResource
    daemon_set: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        settings: Settings,
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:Daemon", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.config_map = target.declare(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": naming.CONFIG_MAP,
                    "namespace": naming.NAMESPACE,
                    "labels": naming.labels(settings.cluster, "config"),
                },
                "data": {
                    "OLLAMA_HOST": settings.ollama_host,
                    "HECATE_LOG_LEVEL": settings.log_level,
                },
            },
            "configmap.yaml",
            child,
        )

        daemon_labels = naming.labels(settings.cluster, "daemon", version=settings.version)
        self.daemon_set = target.declare(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {
                    "name": naming.DAEMON,
                    "namespace": naming.NAMESPACE,
                    "labels": daemon_labels,
                },
                "spec": {
                    "selector": {"matchLabels": naming.DAEMON_SELECTOR},
                    "updateStrategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": settings.max_unavailable},
                    },
                    "template": {
                        "metadata": {"labels": {**naming.DAEMON_SELECTOR, **daemon_labels}},
                        "spec": pod_spec(settings),
                    },
                },
            },
            "daemonset.yaml",
            child,
        )

        self.register_outputs(
            {
                "configMap": naming.CONFIG_MAP,
                "daemonSet": naming.DAEMON,
                "image": settings.image_ref,
            }
        )
