"""`fleet kubeconfig`: a kubeconfig for the fleet tool's own identity, one context per cluster.

Each context keeps the name the stacks already use (`kubernetes:context`, else the cluster's
name) and the server and CA of the kubeconfig it is made from, with a token of the
`flux-system/hecate-fleet` ServiceAccount (hecate/fleet_identity.py): a bound token from the
TokenRequest API, which expires (`--duration`) and is never stored in the cluster. Making it
needs a kubeconfig allowed to create tokens for that ServiceAccount (an admin's, once per
rotation); using it needs nothing more than the RBAC the program renders.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .. import fleet_identity, naming, safe_yaml
from ..grammars import token_duration_seconds
from .cluster_health import ClusterClient, describe
from .stacks import FleetProject

DEFAULT_DURATION = "24h"
MIN_SECONDS = 600  # the API server's floor for a bound token
# The longest a token may be asked for: a kubeconfig kept as a CI secret, renewed monthly. A
# leaked one is then good for weeks, not years; an API server may cap it lower still.
MAX_DURATION, MAX_SECONDS = "30d", 30 * 86400


class KubeconfigError(RuntimeError):
    pass


class KubeconfigUsage(KubeconfigError):
    """A flag's value is wrong: nothing was asked of any cluster."""


@dataclass(frozen=True)
class Issued:
    HEADERS: ClassVar[tuple[str, ...]] = ("stack", "cluster", "context", "token expires")
    stack: str
    cluster: str
    context: str
    expires: str  # RFC 3339, as the API server gives it

    def cells(self) -> tuple[str, ...]:
        return (self.stack, self.cluster, self.context, self.expires)


def duration_seconds(value: str) -> int:
    """`90m`, `24h`, `7d`: from 10 minutes (the API server's floor for a token) to MAX_DURATION."""
    allowed = f"a token lasts from 10m to {MAX_DURATION}"
    if value.isascii() and value[:-1].isdigit() and int(value[:-1]) == 0:
        raise KubeconfigUsage(f"--duration: {value!r} is no time at all; {allowed}, e.g. 24h")
    seconds = token_duration_seconds(value)
    if seconds is None:
        raise KubeconfigUsage(
            f"--duration: {value!r} is not a duration; write a number and a unit "
            f"(s, m, h or d), e.g. 24h; {allowed}"
        )
    if seconds < MIN_SECONDS:
        raise KubeconfigUsage(f"--duration: {value!r} is under 10m, the shortest token allowed")
    if seconds > MAX_SECONDS:
        raise KubeconfigUsage(
            f"--duration: {value!r} is over {MAX_DURATION}, the longest token this tool issues; "
            "renew the kubeconfig instead (docs/operations.md)"
        )
    return seconds


def check_output(path: Path) -> None:
    """KubeconfigUsage unless `path` can be written: before any token is issued."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise KubeconfigUsage(f"--output: {path} is a directory; name the file to write")
    if not parent.is_dir():
        raise KubeconfigUsage(f"--output: {path}: there is no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KubeconfigUsage(f"--output: {path}: the directory {parent} is not writable")


def _admin_kubeconfig(path: str | None) -> tuple[Path, dict[str, Any]]:
    chosen = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    file = Path(chosen).expanduser()
    try:
        return file, safe_yaml.load(file.read_text(), f"--kubeconfig: {file}") or {}
    except OSError as error:
        raise KubeconfigUsage(f"--kubeconfig: cannot read {file}: {error.strerror}") from None
    except safe_yaml.YamlRefused as refused:
        raise KubeconfigUsage(str(refused)) from None


def _named(config: dict[str, Any], kind: str, name: str, file: Path) -> dict[str, Any]:
    for entry in config.get(f"{kind}s") or []:
        if entry.get("name") == name:
            return dict(entry.get(kind) or {})
    raise KubeconfigError(f"{file}: no {kind} named {name!r}")


def _cluster_entry(config: dict[str, Any], context: str, file: Path) -> dict[str, Any]:
    """The context's cluster, its CA inlined: the new file must stand on its own."""
    cluster = _named(config, "cluster", _named(config, "context", context, file)["cluster"], file)
    authority = cluster.pop("certificate-authority", None)
    if authority:
        ca = (file.parent / authority).expanduser().read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    return cluster


def issue(
    project: FleetProject, stacks: list[str], admin: str | None, seconds: int
) -> tuple[dict[str, Any], list[Issued]]:
    """A kubeconfig with a fresh token per stack's cluster, and what was issued."""
    file, config = _admin_kubeconfig(admin)
    clusters, users, contexts, issued = [], [], [], []
    for stack in stacks:
        target = project.target(stack)
        if target.settings.delivery != "gitops":
            continue  # `direct` stacks apply with their own credentials; no identity rendered
        context = target.context
        entry = _cluster_entry(config, context, file)
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [], "expirationSeconds": seconds},
        }
        account = (
            f"/api/v1/namespaces/{naming.FLUX_NAMESPACE}/serviceaccounts/"
            f"{fleet_identity.SERVICE_ACCOUNT}/token"
        )
        try:
            token = ClusterClient(context, str(file)).call("POST", account, body=request)
        except Exception as error:
            raise KubeconfigError(
                f"stack {stack}: context {context}: no token for ServiceAccount "
                f"{naming.FLUX_NAMESPACE}/{fleet_identity.SERVICE_ACCOUNT} ({describe(error)}); "
                "is the stack deployed (Flux applies the identity with clusters/"
                f"{target.cluster}/), and may this kubeconfig create tokens?"
            ) from None
        status = token.get("status") or {}
        if not status.get("token"):
            raise KubeconfigError(
                f"stack {stack}: context {context}: the API server issued no token"
            )
        user = f"{fleet_identity.SERVICE_ACCOUNT}@{context}"
        clusters.append({"name": context, "cluster": entry})
        users.append({"name": user, "user": {"token": status["token"]}})
        contexts.append({"name": context, "context": {"cluster": context, "user": user}})
        expires = status.get("expirationTimestamp")
        issued.append(
            Issued(
                stack,
                target.cluster,
                context,
                datetime.fromisoformat(expires).isoformat() if expires else "",
            )
        )
    if not issued:
        raise KubeconfigError("no gitops stack: nothing to make a kubeconfig for")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": contexts[0]["name"],
    }
    return kubeconfig, issued


def write(path: Path, kubeconfig: dict[str, Any]) -> None:
    """Owner-only, whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(yaml.safe_dump(kubeconfig, sort_keys=False))
    os.replace(partial, path)
