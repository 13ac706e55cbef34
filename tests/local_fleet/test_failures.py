"""Failures on the fleet are reported, not hidden: a git server that is down, and a version whose
pods never become ready (the test bed's kwok Stage for tags ending in `-unready`)."""

from __future__ import annotations

from testbed import flux
from testbed.faults import UNREADY_SUFFIX
from testbed.processes import wait_for


def not_ready(fleet, cluster: str, kind: str, name: str) -> dict | None:
    obj = flux.get(fleet, cluster, kind, name)
    return obj if flux.condition(obj).get("status") == "False" else None


def test_a_git_server_that_is_down_leaves_the_sync_not_ready_with_the_reason(deployment):
    fleet, cluster = deployment.fleet, deployment.cluster
    fleet.stop_git_server()
    try:
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
    finally:
        fleet.start_git_server()
    # Back up, everything recovers on the next reconcile.
    commit = deployment.push_head()
    flux.sync(fleet, cluster, commit)


def test_a_version_that_never_becomes_ready_fails_the_health_check_naming_the_daemonset(
    deployment,
):
    fleet, cluster = deployment.fleet, deployment.cluster
    good = deployment.image.rsplit(":", 1)[1]
    deployment.config("hecate:version", f"0.7.3{UNREADY_SUFFIX}")
    commit, sync = deployment.deploy(
        f"deploy({cluster}): hecate-daemon 0.7.3{UNREADY_SUFFIX}", healthy=False
    )
    reason = flux.ready_reason(sync)
    assert flux.condition(sync)["reason"] == "HealthCheckFailed", reason
    assert "DaemonSet/hecate/hecate-daemon" in reason, reason
    ds = fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")["status"]
    assert ds.get("numberUnavailable", 0) >= 1
    # The rolling update stopped at maxUnavailable: the other nodes still run the good version.
    assert ds.get("numberUnavailable", 0) <= deployment.max_unavailable

    # Rolled back the GitOps way, and the stack follows.
    flux.sync(fleet, cluster, deployment.revert(commit))
    deployment.config("hecate:version", good)
    deployment.up()
    assert deployment.in_step()
