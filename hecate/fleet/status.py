"""`fleet status`: each stack's tree and cluster, side by side.

The tree side needs no cluster: the version in the stack's config and in its rendered
DaemonSet, and whether the tree is what the program renders now (a preview with no changes).
The cluster side reads the stack's kubeconfig context: the commit Flux applied against the last
commit of the cluster's directories on the gitops remote, the Kustomization's Ready, the
DaemonSet's counts, the pods' images and the SealedSecret. A cluster that cannot be read is
unknown, never fine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .cluster_health import ClusterClient, ClusterHealth
from .gitops_repo import GitError
from .stacks import FleetProject, StackTarget

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
    sealed: str = "—"  # synced, not synced, —(none expected, none found)
    cluster_state: str = NOT_READ
    problems: list[str] = field(default_factory=list)

    @property
    def fine(self) -> bool:
        return self.tree == IN_STEP and self.cluster_state in (HEALTHY, NOT_READ)


def _tree(project: FleetProject, target: StackTarget, status: StackStatus) -> None:
    preview = project.preview(target.name)
    if not preview.ok:
        status.tree, status.tree_detail = ERROR, preview.output.strip().splitlines()[-1]
    elif preview.changed:
        status.tree = DRIFT
        status.tree_detail = ", ".join(f"{n} to {op}" for op, n in sorted(preview.changes.items()))
        status.problems.append(f"the tree is not what the program renders: {status.tree_detail}")
    else:
        status.tree = IN_STEP


def _cluster(
    project: FleetProject, target: StackTarget, status: StackStatus, kubeconfig: str | None
) -> None:
    checkout = project.checkout(target)
    try:
        status.head = checkout.git("rev-parse", f"{checkout.remote}/{checkout.branch}")
        status.wanted = checkout.git(
            "log",
            "-1",
            "--format=%H",
            f"{checkout.remote}/{checkout.branch}",
            "--",
            *target.directories,
        )
    except (GitError, OSError) as error:
        status.problems.append(f"gitops remote: {error}")
    health: ClusterHealth = ClusterClient(target.context, kubeconfig).read()
    if not health.reachable:
        status.cluster_state = UNKNOWN
        status.problems.append(f"context {target.context}: {health.error}")
        return
    problems = []
    flux = health.flux
    if flux is None:
        problems.append("no hecate Kustomization")
    else:
        status.applied, status.flux_ready, status.flux_reason = (
            flux.applied,
            flux.ready,
            flux.reason,
        )
        if flux.ready != "True":
            problems.append(f"Kustomization not Ready: {flux.reason}: {flux.message}")
        if status.wanted and not (flux.applied and checkout.contains(flux.applied, status.wanted)):
            problems.append(
                f"Flux applied {flux.applied[:12] or 'nothing'}, the cluster's last "
                f"commit is {status.wanted[:12]}"
            )
    daemon = health.daemon
    image = target.settings.image_ref
    if daemon is None:
        problems.append("no hecate-daemon DaemonSet")
    else:
        status.desired, status.updated, status.ready = daemon.desired, daemon.updated, daemon.ready
        status.images = list(daemon.images)
        if not daemon.updated == daemon.ready == daemon.desired:
            problems.append(
                f"DaemonSet {daemon.ready}/{daemon.desired} ready, {daemon.updated} updated"
            )
        if list(daemon.images) != [image]:
            problems.append(
                f"pods run {', '.join(daemon.images) or 'nothing'}, config says {image}"
            )
    if health.sealed is not None:
        status.sealed = "synced" if health.sealed.synced else "not synced"
        if not health.sealed.synced:
            problems.append(f"SealedSecret not synced: {health.sealed.message}")
    elif target.seals:
        status.sealed = "missing"
        problems.append("no SealedSecret hecate-secrets")
    status.problems += problems
    status.cluster_state = UNHEALTHY if problems else HEALTHY


def stack_status(
    project: FleetProject, stack: str, clusters: bool, kubeconfig: str | None
) -> StackStatus:
    target = project.target(stack)
    status = StackStatus(
        stack,
        target.cluster,
        target.context,
        target.settings.version,
        project.rendered_version(target),
    )
    _tree(project, target, status)
    if clusters:
        _cluster(project, target, status, kubeconfig)
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
