"""Driving and reading Flux on a fleet cluster, as `flux reconcile` and `flux get` do."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from hecate.fleet.cluster_health import observed
from testbed.fleet import Fleet
from testbed.processes import FleetError, wait_for

# How long a wait for Flux may take before a test fails: a bound for a loaded 2-core machine
# (a fleet test beside another), never a claim about speed; each wait ends at its event.
LOADED_BOUND = 180.0

FLUX_NAMESPACE = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
ASK_AGAIN_SECONDS = 30.0


def condition(obj: dict, kind: str = "Ready") -> dict:
    """The object's condition of that type ({} when it has none yet)."""
    for found in obj.get("status", {}).get("conditions", []):
        if found["type"] == kind:
            return found
    return {}


def request(fleet: Fleet, cluster: str, kind: str, name: str) -> str:
    """Ask the controller for a reconcile now, the way `flux reconcile` does: a new value of
    the requestedAt annotation. Returns the value, which the controller echoes back once
    it has handled the request."""
    token = datetime.now(UTC).isoformat(timespec="microseconds")
    fleet.kubectl(
        cluster,
        "annotate",
        "--overwrite",
        "-n",
        FLUX_NAMESPACE,
        kind,
        name,
        f"{REQUESTED_AT}={token}",
    )
    return token


class Request:
    """A reconcile request, asked again when the controller, idle, has not handled it for
    ASK_AGAIN_SECONDS: on the loaded test bed a request that lands while the controller
    reconciles the same object for a new revision was seen never to be handled (the object
    applied, `lastHandledReconcileAt` left at the request before). Any of its tokens counts."""

    def __init__(self, fleet: Fleet, cluster: str, kind: str, name: str):
        self.where = (fleet, cluster, kind, name)
        self.tokens: list[str] = []
        self.asked = 0.0
        self.ask()

    def ask(self) -> None:
        self.tokens.append(request(*self.where))
        self.asked = time.monotonic()

    def answered(self, obj: dict) -> bool:
        """The controller has handled one of its tokens."""
        return obj.get("status", {}).get("lastHandledReconcileAt") in self.tokens

    def handled(self, obj: dict) -> bool:
        """`answered`, and if not, asked again once the controller is idle and the wait long."""
        if self.answered(obj):
            return True
        # Not while the controller is at work on it: the reconcile under way may be the one that
        # handles the request, and another asked for would run after it (a failing health check
        # held for its whole timeout once more).
        busy = condition(obj, "Reconciling").get("status") == "True"
        if not busy and time.monotonic() - self.asked > ASK_AGAIN_SECONDS:
            self.ask()
        return False

    def seen(self, obj: dict, revision: str) -> str:
        """One reading of the object, as a wait's timeout reports it."""
        status = obj.get("status", {})
        ready = condition(obj)
        return (
            f"request {'handled' if self.answered(obj) else 'not handled yet'} "
            f"(asked {len(self.tokens)} times; last handled "
            f"{status.get('lastHandledReconcileAt', 'never')}), generation "
            f"{obj.get('metadata', {}).get('generation')} observed "
            f"{status.get('observedGeneration')}, {revision}, Ready {ready.get('status', 'none')} "
            f"{ready.get('reason', '')}: {ready.get('message', '')[:300]}"
        )


def get(fleet: Fleet, cluster: str, kind: str, name: str) -> dict:
    return fleet.get(cluster, "-n", FLUX_NAMESPACE, kind, name)


def fetch(
    fleet: Fleet, cluster: str, source: str, commit: str, timeout: float = LOADED_BOUND
) -> dict:
    """Reconcile a GitRepository and wait for its artifact to hold `commit` (be it, or a later
    commit: another cluster's push may have come after it)."""
    asked = Request(fleet, cluster, "gitrepository", source)

    def fetched():
        obj = get(fleet, cluster, "gitrepository", source)
        revision = obj.get("status", {}).get("artifact", {}).get("revision", "")
        if asked.handled(obj) and fleet.holds(revision, commit):
            return obj
        raise FleetError(asked.seen(obj, f"artifact {revision or 'none'}"))

    return wait_for(f"{cluster}: GitRepository {source} at {commit[:12]}", fetched, timeout)


def apply(
    fleet: Fleet,
    cluster: str,
    name: str,
    commit: str,
    timeout: float = LOADED_BOUND,
    healthy: bool = True,
) -> dict:
    """Wait until a Kustomization has applied `commit` or a later commit (and, if `healthy`, is
    Ready: its health checks passed; if not, has failed on it). Returns the Kustomization.

    A commit the sync has not attempted yet starts its reconcile by itself: its source's new
    artifact (which `fetch` waited for) does. Asking as well, as `flux reconcile --with-source`
    does, queues a second reconcile behind that one (a failing health check held for its whole
    timeout again), and a request that lands mid-reconcile was seen never to be handled. So the
    sync is asked only for a commit it has attempted already (drift put back, a failure tried
    again), or when nothing has started it for ASK_AGAIN_SECONDS."""
    try:
        before = get(fleet, cluster, "kustomization", name)
    except FleetError:
        before = {}  # not created yet: a new Kustomization reconciles by itself
    asked = (
        Request(fleet, cluster, "kustomization", name) if attempted(fleet, before, commit) else None
    )
    waiting_since = time.monotonic()

    def applied():
        nonlocal asked
        obj = get(fleet, cluster, "kustomization", name)
        status = obj.get("status", {})
        tried = status.get("lastAttemptedRevision", "")
        ready = condition(obj)
        reached = fleet.holds(tried, commit)  # a `git merge-base` at most: once a reading
        if asked is None and not reached and time.monotonic() - waiting_since > ASK_AGAIN_SECONDS:
            asked = Request(fleet, cluster, "kustomization", name)
        started = asked.handled(obj) if asked else True
        if started and observed(obj) and reached:
            if not healthy and ready.get("status") == "False":
                return obj
            applied = fleet.holds(status.get("lastAppliedRevision", ""), commit)
            if healthy and ready.get("status") == "True" and applied:
                return obj
        # What the last reading said, for the timeout's message.
        said = f"attempted {tried or 'none'}"
        raise FleetError(asked.seen(obj, said) if asked else f"not asked (a new commit), {said}")

    return wait_for(
        f"{cluster}: Kustomization {name} {'Ready at' if healthy else 'failed on'} {commit[:12]}",
        applied,
        timeout,
    )


def attempted(fleet: Fleet, obj: dict, commit: str) -> bool:
    """The sync has attempted `commit` (or a later commit) already."""
    return fleet.holds(obj.get("status", {}).get("lastAttemptedRevision", ""), commit)


def sync(
    fleet: Fleet, cluster: str, commit: str, timeout: float = LOADED_BOUND, healthy: bool = True
) -> dict:
    """A push taken through Flux from the top, as `hecate fleet rollout` takes it: each source
    asked to fetch `commit`, each sync left to apply it (see `apply`). flux-system applies
    clusters/<cluster> (which declares hecate's source and Kustomization), then hecate applies
    the daemon's directory and waits for its rollout to pass (or, not `healthy`, to fail) its
    health check. Returns the hecate Kustomization."""
    fetch(fleet, cluster, "flux-system", commit)
    apply(fleet, cluster, "flux-system", commit)
    fetch(fleet, cluster, "hecate-gitops", commit)
    return apply(fleet, cluster, "hecate", commit, timeout=timeout, healthy=healthy)


def ready_reason(obj: dict) -> str:
    found = condition(obj)
    if not found:
        raise FleetError(f"{obj['kind']} {obj['metadata']['name']} has no Ready condition yet")
    return f"{found['status']} {found.get('reason', '')}: {found.get('message', '')}"
