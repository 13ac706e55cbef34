"""The fixed names and labels of the Hecate objects.

The names are the deployment guide's: its kubectl commands, the DaemonSet's
envFrom references and the Flux sourceRef depend on them, so they are never
auto-named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

NAMESPACE = "hecate"
CONFIG_MAP = "hecate-config"
SECRET = "hecate-secrets"
DAEMON = "hecate-daemon"
FLUX_NAMESPACE = "flux-system"
GIT_REPOSITORY = "hecate-gitops"
KUSTOMIZATION = "hecate"

SOCKET_DIR = "/run/hecate"
SOCKET = f"{SOCKET_DIR}/daemon.sock"
DATA_DIR = "/var/lib/hecate"

# The guide's selector: immutable on a live DaemonSet, so it stays exactly this.
DAEMON_SELECTOR = {"app": DAEMON}
# On the daemon's pod template: a digest of what its containers read when they start
# (hecate-config's data, hecate-secrets' sealed data), so that a change of either rolls the pods.
# Helm charts' `checksum/config`, the pattern Kubernetes users know.
CONFIG_CHECKSUM = "checksum/config"
# The stack setting a release changes (one name, used by the fleet tool throughout).
VERSION_KEY = "hecate:version"


def engine_cache(env: Mapping[str, str] | None = None) -> Path:
    """Where the engine and the tools are built and cached: $HECATE_CACHE, else
    ~/.cache/hecate (the Makefile's default too)."""
    given = (os.environ if env is None else env).get("HECATE_CACHE")
    return Path(given) if given else Path.home() / ".cache" / "hecate"


def labels(
    cluster: str, component: str, name: str = DAEMON, version: str | None = None
) -> dict[str, str]:
    """Kubernetes' recommended app.kubernetes.io labels.

    The version label goes only where the version is part of the object (the
    DaemonSet), so a rollout changes that object and nothing else.
    """
    result = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": f"hecate-{cluster}",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "hecate",
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if version is not None:
        result["app.kubernetes.io/version"] = version
    return result


HEALTH_URL = "http://localhost/api/health"  # the daemon's own health check, over its socket


def health_check_command(context: str) -> str:
    """The guide's health check, against one daemon pod of the cluster."""
    return (
        f"kubectl --context {context} exec -n {NAMESPACE} daemonset/{DAEMON} -- "
        f"curl -s --unix-socket {SOCKET} {HEALTH_URL}"
    )
