"""The Hecate daemon: its ConfigMap and the DaemonSet that runs it on every node."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import (
    DaemonSetSpecArgs,
    DaemonSetUpdateStrategyArgs,
    RollingUpdateDaemonSetArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ConfigMapEnvSourceArgs,
    ContainerArgs,
    EmptyDirVolumeSourceArgs,
    EnvFromSourceArgs,
    ExecActionArgs,
    HostPathVolumeSourceArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretEnvSourceArgs,
    SecurityContextArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

from . import naming
from .settings import Settings

_SOCKET_PROBE = ExecActionArgs(command=["test", "-S", naming.SOCKET])
# The daemon needs only its two host paths and the host network: nothing else of the node's.
_HARDENED = SecurityContextArgs(
    allow_privilege_escalation=False,
    capabilities=CapabilitiesArgs(drop=["ALL"]),
    read_only_root_filesystem=True,
    seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
)


class HecateDaemon(pulumi.ComponentResource):
    """hecate-config and hecate-daemon, as the deployment guide writes them."""

    config_map: k8s.core.v1.ConfigMap
    daemon_set: k8s.apps.v1.DaemonSet

    def __init__(self, name: str, settings: Settings, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hecate:index:Daemon", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config_labels = naming.labels(settings.cluster, "config")

        self.config_map = k8s.core.v1.ConfigMap(
            naming.CONFIG_MAP,
            metadata=ObjectMetaArgs(name=naming.CONFIG_MAP, namespace=naming.NAMESPACE, labels=config_labels),
            data={"OLLAMA_HOST": settings.ollama_host, "HECATE_LOG_LEVEL": settings.log_level},
            opts=child,
        )

        daemon_labels = naming.labels(settings.cluster, "daemon", version=settings.version)
        resources = settings.resources
        volumes = [
            VolumeArgs(name="socket-dir", host_path=HostPathVolumeSourceArgs(
                path=naming.SOCKET_DIR, type="DirectoryOrCreate")),
            VolumeArgs(name="data-dir", host_path=HostPathVolumeSourceArgs(
                path=naming.DATA_DIR, type="DirectoryOrCreate")),
        ]
        mounts = [
            VolumeMountArgs(name="socket-dir", mount_path=naming.SOCKET_DIR),
            VolumeMountArgs(name="data-dir", mount_path=naming.DATA_DIR),
        ]
        if settings.hardened:
            # With a read-only root, scratch space is a pod-local emptyDir.
            volumes.append(VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs()))
            mounts.append(VolumeMountArgs(name="tmp", mount_path="/tmp"))
        self.daemon_set = k8s.apps.v1.DaemonSet(
            naming.DAEMON,
            metadata=ObjectMetaArgs(name=naming.DAEMON, namespace=naming.NAMESPACE, labels=daemon_labels),
            spec=DaemonSetSpecArgs(
                selector=LabelSelectorArgs(match_labels=naming.DAEMON_SELECTOR),
                update_strategy=DaemonSetUpdateStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=RollingUpdateDaemonSetArgs(max_unavailable=settings.max_unavailable),
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels={**naming.DAEMON_SELECTOR, **daemon_labels}),
                    spec=PodSpecArgs(
                        # The daemon reaches the node's Ollama on localhost.
                        host_network=True,
                        dns_policy="ClusterFirstWithHostNet",
                        # The daemon never calls the Kubernetes API: no token in the pod.
                        automount_service_account_token=False if settings.hardened else None,
                        security_context=PodSecurityContextArgs(
                            seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")) if settings.hardened else None,
                        volumes=volumes,
                        containers=[ContainerArgs(
                            name="daemon",
                            image=settings.image_ref,
                            image_pull_policy="Always",
                            env_from=[
                                EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=naming.CONFIG_MAP)),
                                # Optional, as in the guide: the daemon starts without API keys.
                                EnvFromSourceArgs(secret_ref=SecretEnvSourceArgs(name=naming.SECRET, optional=True)),
                            ],
                            volume_mounts=mounts,
                            security_context=_HARDENED if settings.hardened else None,
                            liveness_probe=ProbeArgs(
                                exec_=_SOCKET_PROBE, initial_delay_seconds=10, period_seconds=30),
                            readiness_probe=ProbeArgs(
                                exec_=_SOCKET_PROBE, initial_delay_seconds=5, period_seconds=10),
                            resources=ResourceRequirementsArgs(
                                requests={"memory": resources.request_memory, "cpu": resources.request_cpu},
                                limits={"memory": resources.limit_memory, "cpu": resources.limit_cpu},
                            ),
                        )],
                    ),
                ),
            ),
            opts=child,
        )

        self.register_outputs({
            "configMap": self.config_map.metadata.name,
            "daemonSet": self.daemon_set.metadata.name,
            "image": settings.image_ref,
        })
