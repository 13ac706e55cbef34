"""The Hecate daemon: its ConfigMap and the DaemonSet that runs it on every node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from . import naming
from .delivery import Target
from .kubernetes_object import Manifest
from .settings import ReadinessProbe, Settings, json_sha256

_SOCKET_PROBE = {"exec": {"command": ["test", "-S", naming.SOCKET]}}
# The daemon needs only its two host paths and the host network: nothing else of the node's.
_HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def health_probe_command(timeout_seconds: int) -> list[str]:
    """The guide's health check as a probe: `--fail` so that an error status fails it (the
    guide's `-s` alone exits 0 on a 503), and curl gives up before the kubelet does."""
    return [
        "curl",
        "--silent",
        "--show-error",
        "--fail",
        "--max-time",
        str(timeout_seconds),
        "--unix-socket",
        naming.SOCKET,
        naming.HEALTH_URL,
    ]


def readiness_probe(probe: ReadinessProbe) -> dict[str, Any]:
    """Ready is the daemon's own answer: the DaemonSet's ready count, and with it the rollout's
    gate and `hecate fleet status`, count only pods whose health check passes."""
    if probe.check == "health":
        action: dict[str, Any] = {"exec": {"command": health_probe_command(probe.timeout_seconds)}}
    else:
        action = _SOCKET_PROBE
    return {
        **action,
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
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
        # The liveness probe stays the guide's: a daemon slow to answer is not restarted for it.
        "livenessProbe": {**_SOCKET_PROBE, "initialDelaySeconds": 10, "periodSeconds": 30},
        "readinessProbe": readiness_probe(settings.readiness_probe),
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
    # Where the daemon may run: tainted (GPU) nodes, labelled nodes, before whom it is evicted,
    # and a private registry's credentials. Each only when set: the guide has none.
    if settings.tolerations:
        spec["tolerations"] = [t.manifest() for t in settings.tolerations]
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.priority_class_name:
        spec["priorityClassName"] = settings.priority_class_name
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    if settings.hardened:
        container["securityContext"] = _HARDENED_CONTAINER
        # With a read-only root, scratch space is a pod-local emptyDir.
        container["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"})
        spec["volumes"].append({"name": "tmp", "emptyDir": {}})
        # The daemon never calls the Kubernetes API: no token in the pod.
        spec["automountServiceAccountToken"] = False
        spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    return spec


# Stands for the checksum until the SealedSecret's values are known; never rendered.
CHECKSUM_PENDING = "(computed from hecate-config and hecate-secrets)"


def config_map(settings: Settings) -> Manifest:
    """hecate-config: the guide's two variables, then the stack's own (hecate:env)."""
    return {
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
            **settings.env,
        },
    }


def daemon_set(settings: Settings) -> Manifest:
    """hecate-daemon, its template's checksum still to be filled in (`with_checksum`)."""
    daemon_labels = naming.labels(settings.cluster, "daemon", version=settings.version)
    return {
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
                "metadata": {
                    "labels": {**naming.DAEMON_SELECTOR, **daemon_labels},
                    "annotations": {naming.CONFIG_CHECKSUM: CHECKSUM_PENDING},
                },
                "spec": pod_spec(settings),
            },
        },
    }


def config_checksum(
    config_map: Mapping[str, Any], encrypted_data: Mapping[str, pulumi.Input[str]]
) -> pulumi.Output[str]:
    """SHA-256 of what the daemon's containers read at start: hecate-config's data as rendered
    and hecate-secrets' sealed data. The sealed values are the ciphertext, which changes only
    when a key, the certificate or the scope does: an unchanged key never restarts a pod."""

    def checksum(sealed: dict[str, Any]) -> str:
        read = {k: config_map.get(k) for k in ("data", "binaryData")}
        return json_sha256({"configMap": read, "sealedSecret": sealed})

    # A digest of ciphertext tells nothing of a key: it need not be kept as a secret.
    return pulumi.Output.unsecret(pulumi.Output.from_input(dict(encrypted_data)).apply(checksum))


def with_checksum(daemon: Manifest, checksum: pulumi.Input[str]) -> Manifest:
    template = daemon["spec"]["template"]
    metadata = template["metadata"]
    annotations = {**metadata.get("annotations", {}), naming.CONFIG_CHECKSUM: checksum}
    return {
        **daemon,
        "spec": {
            **daemon["spec"],
            "template": {**template, "metadata": {**metadata, "annotations": annotations}},
        },
    }


class HecateDaemon(pulumi.ComponentResource):
    """hecate-config and hecate-daemon, as the deployment guide writes them (patched as the
    stack says), the pods rolled whenever what they read at start changes."""

    config_map: pulumi.CustomResource
    daemon_set: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        config_map: Manifest,
        daemon_set: Manifest,
        checksum: pulumi.Input[str],
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:Daemon", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.config_map = target.declare(config_map, "configmap.yaml", child)
        self.daemon_set = target.declare(
            with_checksum(daemon_set, checksum), "daemonset.yaml", child
        )
        self.register_outputs(
            {
                "configMap": naming.CONFIG_MAP,
                "daemonSet": naming.DAEMON,
                "checksum": checksum,
            }
        )
