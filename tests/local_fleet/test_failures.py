"""Failures on the fleet are reported, not hidden: a git server that is down, and a version whose
pods never become ready (the test bed's kwok Stage for tags ending in `-unready`). Each test
asserts on every cluster, all of them at once: the clusters are independent and most of each
test is waiting for Flux, so one at a time only added the waits up."""

from __future__ import annotations

from testbed import flux
from testbed.deployment import Deployment, on_each
from testbed.faults import UNREADY_SUFFIX
from testbed.processes import wait_for


def not_ready(fleet, cluster: str, kind: str, name: str) -> dict | None:
    obj = flux.get(fleet, cluster, kind, name)
    return obj if flux.condition(obj).get("status") == "False" else None


def pushed_head(every_deployment: list[Deployment]) -> str:
    """Each checkout's commits pushed, one after another (pushed at once they race for the
    branch): the remote's head, which holds them all."""
    return [d.push_head() for d in every_deployment][-1]


def test_a_git_server_that_is_down_leaves_the_sync_not_ready_with_the_reason(every_deployment):
    fleet = every_deployment[0].fleet

    def failing(deployment: Deployment) -> None:
        cluster = deployment.cluster
        # The source cannot fetch: Ready False, saying why.
        flux.request(fleet, cluster, "gitrepository", "flux-system")
        source = wait_for(
            f"{cluster}: GitRepository flux-system failing",
            lambda: not_ready(fleet, cluster, "gitrepository", "flux-system"),
            flux.LOADED_BOUND,
        )
        assert "connection refused" in flux.ready_reason(source), flux.ready_reason(source)

        # hecate's source recreated while the server is down (a new cluster's first sync, or
        # a source deleted by hand): no artifact, so the Kustomization is not Ready either.
        fleet.kubectl(cluster, "-n", "flux-system", "delete", "gitrepository", "hecate-gitops")
        flux.request(fleet, cluster, "kustomization", "flux-system")
        wait_for(
            f"{cluster}: GitRepository hecate-gitops back and failing",
            lambda: not_ready(fleet, cluster, "gitrepository", "hecate-gitops"),
            flux.LOADED_BOUND,
        )
        flux.request(fleet, cluster, "kustomization", "hecate")
        sync = wait_for(
            f"{cluster}: Kustomization hecate not Ready",
            lambda: not_ready(fleet, cluster, "kustomization", "hecate"),
            flux.LOADED_BOUND,
        )
        reason = flux.ready_reason(sync)
        assert flux.condition(sync)["reason"] == "ArtifactFailed", reason
        assert "artifact" in reason.lower() or "source" in reason.lower(), reason

    fleet.stop_git_server()
    try:
        on_each(every_deployment, failing)
    finally:
        fleet.start_git_server()
    # Back up, everything recovers on the next reconcile.
    head = pushed_head(every_deployment)
    on_each(every_deployment, lambda d: flux.sync(fleet, d.cluster, head))


def test_a_version_that_never_becomes_ready_fails_the_health_check_naming_the_daemonset(
    every_deployment,
):
    fleet = every_deployment[0].fleet
    unready = f"0.7.3{UNREADY_SUFFIX}"
    good = {d.stack: d.image.rsplit(":", 1)[1] for d in every_deployment}

    def rendered(deployment: Deployment) -> None:
        deployment.config("hecate:version", unready)
        deployment.up()

    on_each(every_deployment, rendered)
    commits = {
        d.stack: d.push(f"deploy({d.cluster}): hecate-daemon {unready}") for d in every_deployment
    }
    head = pushed_head(every_deployment)

    def failed(deployment: Deployment) -> None:
        cluster = deployment.cluster
        sync = flux.sync(fleet, cluster, head, healthy=False)
        reason = flux.ready_reason(sync)
        assert flux.condition(sync)["reason"] == "HealthCheckFailed", reason
        assert "DaemonSet/hecate/hecate-daemon" in reason, reason
        ds = fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")["status"]
        assert ds.get("numberUnavailable", 0) >= 1
        # The rolling update stopped at maxUnavailable: the other nodes still run the good version.
        assert ds.get("numberUnavailable", 0) <= deployment.max_unavailable

    on_each(every_deployment, failed)

    # Rolled back the GitOps way, and each stack follows.
    for d in every_deployment:
        d.revert(commits[d.stack])
    head = pushed_head(every_deployment)

    def restored(deployment: Deployment) -> None:
        flux.sync(fleet, deployment.cluster, head)
        deployment.config("hecate:version", good[deployment.stack])
        deployment.up()
        assert deployment.in_step()

    on_each(every_deployment, restored)
