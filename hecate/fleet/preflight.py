"""What a rollout checks before anything changes: that the kubeconfig it uses names every
cluster the plan touches, that each cluster answers and lets this identity do what the gate and
the reconcile request do, that no token expires before the plan's worst case, and what each
cluster's daemon pods run now (so that nothing is moved backwards unasked:
hecate/fleet/versions.py)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from .. import naming
from .cluster_health import FLUX_GROUP_KUSTOMIZE, FLUX_GROUP_SOURCE, ClusterClient
from .versions import running_version

KUSTOMIZE, SOURCE = FLUX_GROUP_KUSTOMIZE[0], FLUX_GROUP_SOURCE[0]
# What the gate reads and the reconcile request patches (hecate/fleet_identity.py grants each of
# them to the fleet identity): verb, API group, resource, namespace, name.
GATE_NEEDS = (
    ("get", KUSTOMIZE, "kustomizations", naming.FLUX_NAMESPACE, naming.KUSTOMIZATION),
    ("patch", KUSTOMIZE, "kustomizations", naming.FLUX_NAMESPACE, naming.KUSTOMIZATION),
    ("get", SOURCE, "gitrepositories", naming.FLUX_NAMESPACE, naming.GIT_REPOSITORY),
    ("patch", SOURCE, "gitrepositories", naming.FLUX_NAMESPACE, naming.GIT_REPOSITORY),
    ("get", "apps", "daemonsets", naming.NAMESPACE, naming.DAEMON),
    ("list", "", "pods", naming.NAMESPACE, ""),
    ("list", "", "nodes", "", ""),
)


class PreflightError(ValueError):
    """What the rollout would need and does not have, found before anything changes."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "refused before anything changed:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def check_contexts(clients: Mapping[str, ClusterClient]) -> None:
    """PreflightError naming each stack whose context the kubeconfig lacks: found before the
    first commit, not when dev's commit is already pushed."""
    problems = [
        f"stack {stack}: {why}"
        for stack, client in clients.items()
        if (why := client.missing_context())
    ]
    if problems:
        raise PreflightError(problems)


def check_access(clients: Mapping[str, ClusterClient], clusters: Mapping[str, str]) -> None:
    """PreflightError naming each stack whose cluster does not answer, or whose identity may
    not do what the gate needs (each cluster asked at once)."""

    def problems_of(stack: str) -> list[str]:
        client = clients[stack]
        try:
            denied = [need for need in GATE_NEEDS if not client.may(*need)]
        except Exception as error:  # the client's errors have no common base worth naming
            reason = str(getattr(error, "reason", "") or error).splitlines()[0]
            return [f"stack {stack} ({clusters[stack]}): the cluster cannot be reached ({reason})"]
        return [
            f"stack {stack} ({clusters[stack]}): the identity of context {client.context!r} may "
            f"not {verb} {resource}{f'/{name}' if name else ''}"
            f"{f' in {namespace}' if namespace else ''} (the gate needs it: "
            "`hecate fleet kubeconfig` issues the fleet identity that may)"
            for verb, _, resource, namespace, name in denied
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = [p for problems in pool.map(problems_of, list(clients)) for p in problems]
    if found:
        raise PreflightError(found)


def token_expiry(token: str) -> datetime | None:
    """When a service account token (a JWT) expires, from its `exp` claim (read, not
    verified: the API server verifies it); None for a token that is not a JWT or never does."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (ValueError, KeyError, TypeError):
        return None


def token_left(client: ClusterClient) -> tuple[datetime | None, float]:
    """When the context's token expires and the seconds left until then (None and infinity
    for a token with no expiry to read)."""
    expiry = token_expiry(client.token())
    if expiry is None:
        return None, math.inf
    return expiry, (expiry - datetime.now(UTC)).total_seconds()


def check_tokens(
    clients: Mapping[str, ClusterClient], clusters: Mapping[str, str], worst_case: float
) -> None:
    """PreflightError naming each stack whose token expires before the plan's worst case
    (every gate timing out and every soak held) is over."""
    problems = []
    for stack, client in clients.items():
        expiry, left = token_left(client)
        if left < worst_case:
            problems.append(
                f"stack {stack} ({clusters[stack]}): the token of context {client.context!r} "
                f"expires at {expiry:%Y-%m-%d %H:%M:%S} UTC (in {max(0, int(left))} s), before "
                f"the plan's worst case of {int(worst_case)} s (every gate's timeout and every "
                "soak); "
                "issue a longer one with `hecate fleet kubeconfig --duration`"
            )
    if problems:
        raise PreflightError(problems)


def pods_version(client: ClusterClient, image: str) -> str:
    """The newest release version of `image` the cluster's daemon pods run ("" unknown:
    unreachable, no pods yet, another image)."""
    health = client.read()
    if not health.reachable or health.daemon is None:
        return ""
    return running_version(health.daemon.images, image)
