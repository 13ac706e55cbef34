"""`kubectl get -o json` for the kinds the tests poll, read in this process.

The tests wait on the fleet by polling (a DaemonSet's counts, a Kustomization's Ready); a
`kubectl` process per poll cost about 0.09 CPU-s, some two thousand times in the fleet tier. The
same reads go through hecate's own `ClusterClient` (the kubeconfig's server, TLS and user) and
give what `kubectl get -o json` gives: the object, or a `List` whose items carry their kind, and
neither with metadata.managedFields.
What this does not know (another kind, another flag) is for kubectl: `read` returns None.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hecate.fleet.cluster_health import (
    FLUX_GROUP_KUSTOMIZE,
    FLUX_GROUP_SOURCE,
    SEALED_SECRETS,
    ClusterClient,
    describe,
)
from testbed.processes import FleetError

# kubectl's names for a kind -> (API path prefix, resource, namespaced). Flux's and the sealed
# secrets' group and version are the ones hecate reads (cluster_health), which the test bed serves.
_CORE, _APPS = "/api/v1", "/apis/apps/v1"
_KINDS: dict[str, tuple[str, str, bool]] = {}
for _names, _prefix, _resource, _namespaced in (
    (("pod", "pods", "po"), _CORE, "pods", True),
    (("node", "nodes", "no"), _CORE, "nodes", False),
    (("namespace", "namespaces", "ns"), _CORE, "namespaces", False),
    (("configmap", "configmaps", "cm"), _CORE, "configmaps", True),
    (("secret", "secrets"), _CORE, "secrets", True),
    (("daemonset", "daemonsets", "ds"), _APPS, "daemonsets", True),
    (("controllerrevision", "controllerrevisions"), _APPS, "controllerrevisions", True),
    *(
        ((singular, resource, *short), f"/apis/{group}/{version}", resource, True)
        for (group, version, resource), singular, short in (
            (FLUX_GROUP_KUSTOMIZE, "kustomization", ["ks"]),
            (FLUX_GROUP_SOURCE, "gitrepository", []),
            (SEALED_SECRETS, "sealedsecret", []),
        )
    ),
):
    for _name in _names:
        _KINDS[_name] = (_prefix, _resource, _namespaced)

# As long as a test waits for one kubectl call (a loaded machine is slow, not wrong).
TIMEOUT = 60
_clients: dict[tuple[str, str, int], ClusterClient] = {}
_lock = threading.Lock()


def _client(kubeconfig: Path, context: str) -> ClusterClient:
    # Keyed by the file's mtime too: a kubeconfig written again (new certificates) is read again.
    key = (str(kubeconfig), context, kubeconfig.stat().st_mtime_ns)
    with _lock:
        if key not in _clients:
            _clients[key] = ClusterClient(context, str(kubeconfig))
        return _clients[key]


def _parse(args: tuple[str, ...]) -> tuple[str, str, str, str] | None:
    """(namespace, kind, name, label selector) of `get` arguments, or None for others."""
    namespace = selector = ""
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-n", "--namespace", "-l", "--selector") and rest:
            value = rest.pop(0)
            if arg in ("-n", "--namespace"):
                namespace = value
            else:
                selector = value
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
    if not 1 <= len(positional) <= 2 or positional[0] not in _KINDS:
        return None
    if len(positional) == 2 and selector:
        return None  # kubectl refuses a name with a selector: let it say so
    name = positional[1] if len(positional) == 2 else ""
    return namespace, positional[0], name, selector


def read(kubeconfig: Path, context: str, args: tuple[str, ...]) -> dict[str, Any] | None:
    """What `kubectl --context <context> get <args> -o json` prints, parsed; None when `args`
    are not a plain get of a kind listed above (run kubectl then)."""
    parsed = _parse(args)
    if parsed is None:
        return None
    namespace, kind, name, selector = parsed
    prefix, resource, namespaced = _KINDS[kind]
    path = prefix
    if namespaced:
        path += f"/namespaces/{namespace or 'default'}"
    path += f"/{resource}" + (f"/{name}" if name else "")
    query = {"labelSelector": selector} if selector else None
    try:
        answer = _client(kubeconfig, context).call("GET", path, query=query, timeout=TIMEOUT)
    except Exception as error:  # the client's ApiException, or urllib3's on no connection
        raise FleetError(f"get {' '.join(args)} on {context}: {describe(error)}") from error
    if name:
        return _as_kubectl_shows(answer)
    # kubectl prints a list as a `List` whose items name their kind (the API leaves it out).
    item_kind = str(answer.get("kind", "")).removesuffix("List")
    version = answer.get("apiVersion", "")
    items = [
        _as_kubectl_shows({"apiVersion": version, "kind": item_kind, **item})
        for item in answer["items"]
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def _as_kubectl_shows(obj: dict[str, Any]) -> dict[str, Any]:
    """Without metadata.managedFields, which kubectl leaves out unless asked."""
    obj.get("metadata", {}).pop("managedFields", None)
    return obj
