"""`fleet status` says what happens next: a DaemonSet changed by hand after Flux applied the
cluster's commit is put back by Flux at its next reconcile, and status says when."""

from __future__ import annotations

from dataclasses import replace

from hecate.fleet.cluster_health import ClusterHealth, DaemonStatus, FluxStatus
from hecate.fleet.stacks import FleetProject
from hecate.fleet.status import live_drift
from testbed.mocks import ROOT

APPLIED = "a" * 40
TARGET = FleetProject(ROOT).target("edge")
RENDERED = TARGET.settings.image_ref
BY_HAND = "ghcr.io/hecate-social/hecate-daemon:0.9.9-debug"
FLUX = FluxStatus("True", "ReconciliationSucceeded", "Applied", APPLIED, APPLIED, True)
DAEMON = DaemonStatus(2, 2, 2, 0, True, BY_HAND, (BY_HAND,))


def health(flux=FLUX, daemon=DAEMON) -> ClusterHealth:
    return ClusterHealth("edge-cluster", "", flux, daemon, None)


def test_a_daemon_set_changed_by_hand_is_put_back_by_flux_at_its_interval():
    said = live_drift(health(replace(FLUX, interval="10m")), TARGET, lambda c: c == APPLIED)
    assert said == (
        f"live drift: the DaemonSet was changed on the cluster ({BY_HAND}, not the rendered "
        f"{RENDERED}); Flux puts it back at its next reconcile of Kustomization hecate (every "
        "10m); `flux reconcile kustomization hecate -n flux-system` does it now"
    )


def test_a_rollout_under_way_or_no_flux_is_not_live_drift():
    # Flux has not applied the cluster's last commit: the new template is on its way.
    assert live_drift(health(), TARGET, lambda c: False) is None
    assert live_drift(health(), TARGET, None) is None  # `direct` delivery: no Flux to put back
    assert live_drift(health(flux=None), TARGET, lambda c: True) is None
    rendered = replace(DAEMON, template_image=RENDERED, images=(RENDERED,))
    assert live_drift(health(daemon=rendered), TARGET, lambda c: True) is None
