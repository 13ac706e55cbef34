"""testbed/flux.py's wait for a Kustomization to apply a commit, against a scripted cluster: a
commit the sync has not attempted yet is left to the source's new artifact (no reconcile
request, which would queue a second reconcile behind the first); a commit it attempted already
is asked for; and a new commit that nothing starts is asked for after ASK_AGAIN_SECONDS."""

from __future__ import annotations

import pytest

from testbed import flux

NEW, OLD = "c" * 40, "b" * 40


def kustomization(revision: str, ready: str, handled: str = "") -> dict:
    status = {
        "observedGeneration": 1,
        "lastAttemptedRevision": f"main@sha1:{revision}",
        "lastAppliedRevision": f"main@sha1:{revision}" if ready == "True" else "",
        "conditions": [{"type": "Ready", "status": ready, "reason": "", "message": ""}],
    }
    if handled:
        status["lastHandledReconcileAt"] = handled
    return {"metadata": {"generation": 1, "annotations": {}}, "status": status}


class ScriptedFleet:
    """Each reading of the Kustomization is the next of `readings` (the last one repeats); a
    reconcile request is recorded, and the readings after it echo its token."""

    def __init__(self, *readings: dict):
        self.readings = list(readings)
        self.requests: list[str] = []

    def get(self, cluster: str, *args: str) -> dict:
        reading = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        if self.requests:
            reading["status"].setdefault("lastHandledReconcileAt", self.requests[-1])
        return reading

    def kubectl(self, cluster: str, *args: str, **_) -> None:
        assert args[0] == "annotate", args
        self.requests.append(args[-1].split("=", 1)[1])

    def holds(self, revision: str, commit: str) -> bool:
        return revision.rpartition(":")[2] == commit


def test_a_new_commit_is_left_to_the_new_artifact_and_never_asked_for():
    fleet = ScriptedFleet(
        kustomization(OLD, "True"), kustomization(OLD, "True"), kustomization(NEW, "True")
    )
    applied = flux.apply(fleet, "dev-cluster", "hecate", NEW, timeout=10)
    assert applied["status"]["lastAppliedRevision"].endswith(NEW)
    assert fleet.requests == []


def test_a_failure_on_a_new_commit_is_read_from_its_one_reconcile():
    fleet = ScriptedFleet(kustomization(OLD, "True"), kustomization(NEW, "False"))
    failed = flux.apply(fleet, "dev-cluster", "hecate", NEW, timeout=10, healthy=False)
    assert flux.condition(failed)["status"] == "False"
    assert fleet.requests == []


def test_a_commit_attempted_already_is_asked_for_and_the_answer_awaited():
    # Ready on the commit before the request: only a reading that handled it counts.
    fleet = ScriptedFleet(kustomization(NEW, "False"), kustomization(NEW, "True"))
    applied = flux.apply(fleet, "dev-cluster", "hecate", NEW, timeout=10)
    assert len(fleet.requests) == 1
    assert applied["status"]["lastHandledReconcileAt"] == fleet.requests[0]


def test_a_new_commit_nothing_starts_is_asked_for_after_a_while(monkeypatch):
    monkeypatch.setattr(flux, "ASK_AGAIN_SECONDS", 0.0)
    fleet = ScriptedFleet(kustomization(OLD, "True"), kustomization(OLD, "True"))
    with pytest.raises(flux.FleetError, match=f"attempted main@sha1:{OLD}"):
        flux.apply(fleet, "dev-cluster", "hecate", NEW, timeout=1.2)
    assert fleet.requests, "never asked, though nothing started the sync"
