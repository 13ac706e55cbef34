"""`fleet status`: each stack's tree and cluster, side by side.

The tree side needs no cluster: the version in the stack's config and in its rendered
DaemonSet, and whether the tree is what the program renders now (a preview with no changes).
The cluster side reads the stack's kubeconfig context: the commit Flux applied against the last
commit of the cluster's directories on the gitops remote, the Kustomization's Ready, the
DaemonSet's counts, the pods' images and the SealedSecret. A cluster that cannot be read is
unknown, never fine.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

from .. import naming
from .cluster_health import ClusterClient, ClusterHealth
from .gates import PASSED, gate
from .gitops_repo import GitError
from .stacks import FleetProject, RenderedTemplate, StackTarget

IN_STEP, DRIFT, ERROR = "in step", "drift", "error"
HEALTHY, UNHEALTHY, UNKNOWN, NOT_READ = "healthy", "unhealthy", "unknown", "not read"


@dataclass
class StackStatus:
    stack: str
    cluster: str
    context: str
    config_version: str
    rendered_version: str | None
    tree: str = ERROR  # IN_STEP, DRIFT or ERROR
    tree_detail: str = ""
    wanted: str = ""  # the remote's last commit of the cluster's directories
    head: str = ""  # the remote branch's head
    applied: str = ""
    flux_ready: str = ""
    flux_reason: str = ""
    desired: int | None = None
    updated: int | None = None
    ready: int | None = None
    images: list[str] = field(default_factory=list)
    # The pods against the DaemonSet's current template: "current", "N older", "—" (not read).
    template: str = "—"
    sealed: str = "—"  # synced, not synced, —(none expected, none found)
    cluster_state: str = NOT_READ
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong (nodes left out)

    @property
    def fine(self) -> bool:
        return self.tree == IN_STEP and self.cluster_state in (HEALTHY, NOT_READ)

    HEADERS: ClassVar[tuple[str, ...]] = (
        "stack",
        "cluster",
        "config",
        "rendered",
        "tree",
        "applied",
        "head",
        "ready",
        "desired/updated/ready",
        "pods' template",
        "images",
        "sealed",
        "health",
    )

    def cells(self) -> tuple[str, ...]:
        ready = f"{self.flux_ready} {self.flux_reason}".strip() if self.flux_ready else ""
        counts = "—" if self.desired is None else f"{self.desired}/{self.updated}/{self.ready}"
        return (
            self.stack,
            self.cluster,
            self.config_version,
            self.rendered_version or "—",
            self.tree,
            self.applied[:7] or "—",
            self.head[:7] or "—",
            ready or "—",
            counts,
            self.template,
            ", ".join(self.images) or "—",
            self.sealed,
            self.cluster_state,
        )


def _tree(project: FleetProject, target: StackTarget, status: StackStatus) -> None:
    preview = project.preview(target.name)
    if not preview.ok:
        status.tree, status.tree_detail = ERROR, preview.output.strip().splitlines()[-1]
    elif preview.changed:
        status.tree = DRIFT
        status.tree_detail = preview.described
        status.problems.append(f"the tree is not what the program renders: {status.tree_detail}")
    else:
        status.tree = IN_STEP


def _cluster(
    project: FleetProject,
    target: StackTarget,
    status: StackStatus,
    kubeconfig: str | None,
    rendered: RenderedTemplate | None,
) -> None:
    checkout = project.checkout(target)
    try:
        status.head = checkout.remote_branch_head()
        status.wanted = checkout.last_commit_of(target.directories)
    except (GitError, OSError) as error:
        status.problems.append(f"gitops remote: {error}")
    health: ClusterHealth = ClusterClient(target.context, kubeconfig).read()
    if not health.reachable:
        status.cluster_state = UNKNOWN
        status.problems.append(f"context {target.context}: {health.error}")
        return
    flux, daemon = health.flux, health.daemon
    if flux is not None:
        status.applied, status.flux_ready, status.flux_reason = (
            flux.applied,
            flux.ready,
            flux.reason,
        )
    if daemon is not None:
        status.desired, status.updated, status.ready = daemon.desired, daemon.updated, daemon.ready
        status.images = list(daemon.images)
        status.template = (
            f"{len(daemon.stale)} older"
            if daemon.stale
            else ("current" if daemon.current else "not taken in")
        )
        status.notes += [f"no daemon pod on {node}" for node in daemon.left_out]
    if health.sealed is not None:
        status.sealed = "synced" if health.sealed.synced else "not synced"
    elif target.seals:
        status.sealed = "missing"
    # Healthy means what a rollout's gate means: Flux applied the cluster's last commit and is
    # Ready, every pod updated and ready on the config's image, the SealedSecret synced.
    reached: Callable[[str], bool | None] | None = None  # None: `direct`, no Flux in the loop
    if target.settings.delivery == "gitops":
        # With no commit of the cluster's own, any applied one will do.
        reached = checkout.reached_by(status.wanted)
    # Against the template the tree renders: its image and the checksum of what its pods read.
    verdict = gate(
        health,
        reached,
        target.settings.image_ref,
        target.settings.max_unavailable,
        target.seals,
        rendered.checksum if rendered and target.settings.delivery == "gitops" else None,
    )
    # What Flux says is broken even where the last rollout got through: the cluster would not
    # take the next one (`flux get sources git`, `flux get kustomizations`).
    broken = [f"flux: {t}" for t in (flux.source, flux.bootstrap_failure) if t] if flux else []
    if verdict.state == PASSED and not broken:
        status.cluster_state = HEALTHY
    elif verdict.state == PASSED:
        status.cluster_state = UNHEALTHY
        status.problems += broken
    else:
        status.cluster_state = UNHEALTHY
        status.problems.append(f"{verdict.step}: {verdict.detail}")
        if (why := live_drift(health, target, reached)) is not None:
            status.problems.append(why)
        # Pods on an older template, named even when the gate stopped at an earlier check.
        if daemon is not None and daemon.stale and verdict.step != "daemon":
            status.problems.append(
                f"daemon: {len(daemon.stale)} pod(s) on an older template than the "
                f"DaemonSet's: {', '.join(daemon.stale)}"
            )


def live_drift(
    health: ClusterHealth, target: StackTarget, reached: Callable[[str], bool | None] | None
) -> str | None:
    """What to expect of a DaemonSet changed on the cluster by hand (`kubectl set image`) after
    Flux applied the cluster's last commit: Flux applies that commit again at its next
    reconcile and so puts the template back; None when it is not that."""
    flux, daemon = health.flux, health.daemon
    if daemon is None or daemon.template_image == target.settings.image_ref:
        return None
    if flux is None or reached is None or not (flux.applied and reached(flux.applied)):
        return None  # no Flux in the loop, or Flux has not applied the commit yet: a rollout
    every = f"every {flux.interval}" if flux.interval else "at its interval"
    return (
        f"live drift: the DaemonSet was changed on the cluster ({daemon.template_image}, not "
        f"the rendered {target.settings.image_ref}); Flux puts it back at its next reconcile "
        f"of Kustomization {naming.KUSTOMIZATION} ({every}); `flux reconcile kustomization "
        f"{naming.KUSTOMIZATION} -n {naming.FLUX_NAMESPACE}` does it now"
    )


def stack_status(
    project: FleetProject, stack: str, clusters: bool, kubeconfig: str | None
) -> StackStatus:
    target = project.target(stack)
    rendered = project.rendered_template(target)
    status = StackStatus(
        stack,
        target.cluster,
        target.context,
        target.settings.version,
        rendered.version if rendered else None,
    )
    _tree(project, target, status)
    if clusters:
        _cluster(project, target, status, kubeconfig, rendered)
    return status


def fleet_status(
    project: FleetProject,
    stacks: list[str],
    clusters: bool = True,
    kubeconfig: str | None = None,
    parallel: int = 4,
) -> list[StackStatus]:
    if clusters:  # once per checkout, before stacks that share one read it side by side
        for checkout in {project.checkout(project.target(s)) for s in stacks}:
            try:
                checkout.fetch()
            except (GitError, OSError):
                continue  # each stack's row says what it could not read
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda s: stack_status(project, s, clusters, kubeconfig), stacks))
