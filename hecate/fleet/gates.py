"""The gate: from one reading of a cluster (hecate/fleet/cluster_health.py), whether a stack's
rollout holds, waits or has failed; and, during a soak, whether trouble is only a reconcile
under way."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .. import naming
from .cluster_health import BOOTSTRAP, ClusterHealth, DaemonStatus, FluxStatus

PASSED, WAITING, FAILED = "passed", "waiting", "failed"


@dataclass(frozen=True)
class Gate:
    state: str  # PASSED, WAITING or FAILED
    step: str  # the check that decided: "flux", "daemon", "sealed secret"
    detail: str
    updated: int = 0
    desired: int = 0


def max_unavailable(setting: int | str, desired: int) -> int:
    """The DaemonSet's maxUnavailable in pods: a percentage rounds up, as the controller does."""
    if isinstance(setting, str):
        return max(1, math.ceil(desired * int(setting.rstrip("%")) / 100))
    return setting


def _causes(flux: FluxStatus | None, daemon: DaemonStatus | None) -> str:
    """What the cluster says is wrong, beside the check that waits: the source, the pods."""
    found = [flux.source] if flux is not None and flux.source else []
    found += [f"pods: {t}" for t in daemon.troubles] if daemon is not None else []
    return "".join(f"; {c}" for c in found)


def _flux_gate(
    flux: FluxStatus | None, reached: Callable[[str], bool | None], daemon: DaemonStatus | None
) -> Gate | None:
    """Flux's part of the gate: None once it applied the pushed commit and is Ready."""
    if flux is None:
        return Gate(WAITING, "flux", f"no Kustomization {naming.KUSTOMIZATION} yet")
    causes = _causes(flux, daemon)
    if flux.bootstrap_failure and flux.bootstrap_attempted and reached(flux.bootstrap_attempted):
        # The bootstrap sync could not build or apply clusters/<cluster>/ at the pushed commit:
        # the cluster's Flux objects are not what was pushed, whatever hecate's sync says.
        return Gate(FAILED, "flux", flux.bootstrap_failure + causes)
    if flux.bootstrap_applied and reached(flux.bootstrap_applied) is False:
        # clusters/<cluster>/ (the sync's own spec, its source, the identity) not applied yet.
        return Gate(
            WAITING,
            "flux",
            f"Kustomization {BOOTSTRAP} applied {flux.bootstrap_applied[:12]}, not yet the "
            f"pushed commit{causes}",
        )
    if flux.ready == "False" and flux.current and flux.attempted and reached(flux.attempted):
        # Failed on the pushed commit: a build or apply error, or the health check's timeout
        # (hecate:healthTimeout), named with what keeps the pods from starting.
        return Gate(
            FAILED,
            "flux",
            f"Kustomization {naming.KUSTOMIZATION} {flux.reason}: {flux.message}{causes}",
        )
    if not (flux.ready == "True" and flux.current and flux.applied and reached(flux.applied)):
        seen = flux.applied[:12] or "nothing"
        detail = f"Ready {flux.ready} {flux.reason}, applied {seen}".strip()
        if flux.ready == "False" and flux.message:
            detail += f" ({flux.message})"
        return Gate(WAITING, "flux", detail + causes)
    if flux.source:
        # Applied, but the source cannot fetch what comes next (it may be what was pushed).
        return Gate(WAITING, "flux", flux.source + _causes(None, daemon))
    return None


def gate(
    health: ClusterHealth,
    reached: Callable[[str], bool | None] | None,
    image: str,
    limit: int | str,
    sealed_expected: bool,
    checksum: str | None = None,
) -> Gate:
    """Whether a stack's rollout holds: Flux applied a revision that includes the pushed commit
    (`reached`) and is Ready; the DaemonSet's template is the rendered one (`image`, and the
    `checksum` of what its pods read, where known); every pod is on that template (its
    controller revision), all updated and ready, with unavailable pods within maxUnavailable;
    the SealedSecret synced where there is one. Nodes left without a daemon pod are named.
    FAILED only when Flux says the pushed commit failed; anything else not there yet waits.
    `reached` None: no Flux in the loop (`direct` delivery), the cluster's objects alone."""
    if not health.reachable:
        return Gate(WAITING, "cluster", health.error)
    if (
        reached is not None
        and (held := _flux_gate(health.flux, reached, health.daemon)) is not None
    ):
        return held
    daemon = health.daemon
    if daemon is None:
        return Gate(WAITING, "daemon", f"no DaemonSet {naming.DAEMON}")
    allowed = max_unavailable(limit, daemon.desired)
    progress = {"updated": daemon.updated, "desired": daemon.desired}
    counts = (
        f"{daemon.updated}/{daemon.desired} updated, {daemon.ready} ready, "
        f"{daemon.unavailable} unavailable (max {allowed})"
    )
    left_out = ""
    if daemon.left_out:
        shown = "; ".join(daemon.left_out)
        left_out = f"; on {daemon.desired} of {daemon.nodes} nodes, not on {shown}"
    if daemon.template_image != image:
        return Gate(WAITING, "daemon", f"runs {daemon.template_image}, not {image}", **progress)
    if checksum and daemon.template_checksum != checksum:
        seen = daemon.template_checksum[:12] or "none"
        return Gate(
            WAITING,
            "daemon",
            f"template's {naming.CONFIG_CHECKSUM} is {seen}, not the rendered {checksum[:12]}",
            **progress,
        )
    done = daemon.updated == daemon.ready == daemon.desired and daemon.unavailable <= allowed
    if not (daemon.current and done) or daemon.stale:
        detail = counts
        if daemon.stale:
            detail += (
                f"; {len(daemon.stale)} pod(s) on an older template than revision "
                f"{daemon.revision or '?'}: {', '.join(daemon.stale)}"
            )
        elif not daemon.current:
            detail += "; the DaemonSet controller has not taken in the new template yet"
        return Gate(WAITING, "daemon", detail + _causes(None, daemon) + left_out, **progress)
    if sealed_expected and (health.sealed is None or not health.sealed.synced):
        why = health.sealed.message if health.sealed else f"no SealedSecret {naming.SECRET} yet"
        return Gate(WAITING, "sealed secret", why, **progress)
    return Gate(PASSED, "ready", counts + left_out, **progress)


def settled(health: ClusterHealth) -> ClusterHealth | None:
    """The reading as it will be once Flux's routine reconcile is over: a Kustomization or
    GitRepository whose Ready is Unknown (Progressing) or that has not yet observed its spec
    taken for Ready. None when the reading holds nothing Unknown (or nothing at all: the
    cluster did not answer)."""
    flux = health.flux
    if not health.reachable or flux is None:
        return None
    unknown = flux.ready == "Unknown" or not flux.current or flux.source_settling
    if not unknown:
        return None
    calm = replace(
        flux,
        ready="True",
        current=True,
        source="" if flux.source_settling else flux.source,
        source_settling=False,
    )
    return replace(health, flux=calm)


@dataclass(frozen=True)
class SoakReading:
    """One reading during a soak: the gate holds, Unknown (a reconcile under way, the API
    server silent: within the plan's grace, not trouble), or trouble (anything else that is not
    the gate passing: Ready False, a revision that is not ours, pods not Ready, an older
    template)."""

    state: str  # PASSED, UNKNOWN or TROUBLE
    detail: str


UNKNOWN, TROUBLE = "unknown", "trouble"


def soak_reading(health: ClusterHealth, judge: Callable[[ClusterHealth], Gate]) -> SoakReading:
    """`judge` is the stack's gate: what must keep holding."""
    result = judge(health)
    if result.state == PASSED:
        return SoakReading(PASSED, result.detail)
    if not health.reachable:
        return SoakReading(UNKNOWN, f"cluster: {health.error}")
    calm = settled(health)
    if calm is not None and judge(calm).state == PASSED:
        return SoakReading(UNKNOWN, f"{result.step}: {result.detail}")
    return SoakReading(TROUBLE, f"{result.step}: {result.detail}")
