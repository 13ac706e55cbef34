"""A wave's soak, reading by reading: Flux's heartbeat waited out, trouble and a long Unknown
not (the readings' sorting is tests/test_fleet_cluster_health.py's)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hecate.fleet import soak as module
from hecate.fleet.soak import Soak, SoakBroken
from tests.test_fleet_cluster_health import DAEMON, HEALTHY, HEARTBEAT, check


class Clock:
    """time.monotonic for the soak, moved on by the soak's own sleep."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def soak(monkeypatch, readings, seconds: float = 180.0, grace: float = 30.0):
    """Soak one stack whose cluster reads `readings(t)`, t seconds into the soak; the events."""
    clock = Clock()
    monkeypatch.setattr(module.time, "monotonic", clock)
    events: list[tuple] = []
    progress = type("P", (), {"event": lambda self, *e: events.append(e)})()
    start = clock.now
    Soak("dev", seconds, grace, progress).hold(
        {"dev": lambda: readings(clock.now - start)}, {"dev": check}, clock.sleep
    )
    return events


def test_flux_reconciling_the_same_revision_never_fails_a_soak(monkeypatch):
    # A heartbeat of a few seconds every 20 s, for the whole 180 s soak.
    events = soak(
        monkeypatch, lambda t: replace(HEALTHY, flux=HEARTBEAT) if t % 20 < 3 else HEALTHY
    )
    assert events[0][:3] == ("dev", "", "soak") and events[0][3].startswith("180 s")
    assert sum("holding again after" in e[3] for e in events) >= 8, events


def test_unknown_for_longer_than_the_grace_fails_the_soak_saying_for_how_long(monkeypatch):
    with pytest.raises(SoakBroken) as broken:
        soak(monkeypatch, lambda t: replace(HEALTHY, flux=HEARTBEAT) if t >= 50 else HEALTHY)
    assert broken.value.stack == "dev"
    assert broken.value.detail.startswith("Unknown for 31 s, over the plan's grace of 30 s")
    assert "Ready Unknown Progressing" in broken.value.detail


def test_trouble_fails_the_soak_at_once_naming_the_reading(monkeypatch):
    unready = replace(HEALTHY, daemon=replace(DAEMON, ready=2, unavailable=1))
    with pytest.raises(SoakBroken) as broken:
        soak(monkeypatch, lambda t: unready if t >= 40 else HEALTHY)
    assert broken.value.detail.startswith("the gate stopped holding (40 s into the 180 s soak)")
    assert "3/3 updated, 2 ready" in broken.value.detail


def test_a_soak_that_holds_ends_when_its_time_is_up(monkeypatch):
    seen: list[float] = []

    def readings(t: float):
        seen.append(t)
        return HEALTHY

    soak(monkeypatch, readings, seconds=10.0)
    assert 9 <= len(seen) <= 11 and max(seen) <= 10.0, seen
