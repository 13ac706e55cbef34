"""testbed/local_fleet.py's bring-up when a port it picked was taken before it was bound: the
fleet comes up again once, on new ports; any other failure is raised as it was. The bring-up's
steps are stood in for (no cluster starts here); `down` runs as it is."""

from __future__ import annotations

import pytest

from testbed import local_fleet
from testbed.processes import FleetError

TAKEN = "listen tcp 127.0.0.1:58549: bind: address already in use"


@pytest.fixture
def bringup(tmp_path, monkeypatch):
    monkeypatch.setattr(local_fleet, "missing_components", lambda: [])
    said: list[str] = []
    bringup = local_fleet.Bringup(tmp_path / "fleet", progress=said.append, tied=False)
    bringup.said = said
    return bringup


def failing_up(bringup, failures: list[str]):
    """An `_up` that fails once per entry of `failures` (logging that line first), then works."""
    attempts: list[int] = []

    def up():
        attempts.append(1)
        if len(attempts) <= len(failures):
            log = bringup.workdir / "logs" / "edge-cluster-sealed-secrets-controller.log"
            log.write_text(f"starting\n{failures[len(attempts) - 1]}\n")
            raise FleetError("timed out waiting for edge-cluster: the certificate")
        return "the fleet"

    bringup._up = up
    return attempts


def test_a_port_taken_before_it_was_bound_brings_the_fleet_up_again_once(bringup):
    attempts = failing_up(bringup, [f'level=ERROR msg="HTTP server exiting" error="{TAKEN}"'])
    assert bringup.up() == "the fleet"
    assert len(attempts) == 2
    assert bringup.said == [
        f'edge-cluster-sealed-secrets-controller: level=ERROR msg="HTTP server exiting" '
        f'error="{TAKEN}": starting the fleet again, on new ports'
    ]
    # The first attempt's logs are kept beside the second's, which starts with none.
    kept = bringup.workdir / "logs-attempt-1" / "edge-cluster-sealed-secrets-controller.log"
    assert TAKEN in kept.read_text()
    assert list((bringup.workdir / "logs").iterdir()) == []


def test_a_port_taken_twice_is_the_failure_it_was(bringup):
    attempts = failing_up(bringup, [TAKEN, TAKEN])
    with pytest.raises(FleetError, match="the certificate"):
        bringup.up()
    assert len(attempts) == 2


def test_any_other_failure_is_raised_at_once(bringup):
    attempts = failing_up(bringup, ["panic: something else entirely"])
    with pytest.raises(FleetError, match="the certificate"):
        bringup.up()
    assert len(attempts) == 1
    assert bringup.said == []
