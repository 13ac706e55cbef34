"""What a rollout checks before anything changes: that the kubeconfig it uses names every
cluster the plan touches, and what each cluster's daemon pods run now (so that nothing is
moved backwards unasked: hecate/fleet/versions.py)."""

from __future__ import annotations

from collections.abc import Mapping

from .cluster_health import ClusterClient
from .versions import running_version


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


def pods_version(client: ClusterClient, image: str) -> str:
    """The newest release version of `image` the cluster's daemon pods run ("" unknown:
    unreachable, no pods yet, another image)."""
    health = client.read()
    if not health.reachable or health.daemon is None:
        return ""
    return running_version(health.daemon.images, image)
