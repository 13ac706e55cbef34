"""What a rollout's commits say (the version, or the settings a configuration change touched),
and how a wave's stacks are deployed at once."""

from __future__ import annotations

import threading
import time

import pytest

from hecate.fleet.commit_messages import changed_settings, deploy_message, rollback_message
from hecate.fleet.plan import Wave
from hecate.fleet.report import RolloutReport, StackOutcome
from hecate.fleet.rollback import RolloutFailed
from hecate.fleet.rollout import Rollout
from hecate.fleet.stacks import ChangeSummary

BEFORE = {"hecate:version": "v1", "hecate:logLevel": "l1", "hecate:env.A": "a1"}


def test_the_settings_whose_digests_differ_are_named():
    after = {**BEFORE, "hecate:logLevel": "l2", "hecate:env.B": "b1"}
    del after["hecate:env.A"]
    assert changed_settings(BEFORE, after) == ["hecate:env.A", "hecate:env.B", "hecate:logLevel"]
    assert changed_settings(BEFORE, dict(BEFORE)) == []
    # Nothing deployed before (or deployed before the digests existed): nothing to compare.
    assert changed_settings({}, after) == []


def test_a_version_commit_reads_as_it_always_did():
    assert deploy_message("dev-cluster", "0.7.3") == "deploy(dev-cluster): hecate-daemon 0.7.3"
    assert (
        deploy_message("dev-cluster", "0.7.3", ["hecate:version"])
        == "deploy(dev-cluster): hecate-daemon 0.7.3"
    )
    assert (
        deploy_message("dev-cluster", "0.7.3", ["hecate:logLevel", "hecate:version"])
        == "deploy(dev-cluster): hecate-daemon 0.7.3, hecate:logLevel"
    )


def test_a_configuration_change_is_never_committed_as_a_bare_version():
    assert (
        deploy_message("dev-cluster", "0.7.2", ["hecate:logLevel"])
        == "deploy(dev-cluster): hecate:logLevel (hecate-daemon 0.7.2)"
    )
    many = [f"hecate:env.V{i}" for i in range(6)]
    message = deploy_message("dev-cluster", "0.7.2", many)
    subject, _, body = message.partition("\n\n")
    assert subject == (
        "deploy(dev-cluster): hecate:env.V0, hecate:env.V1, hecate:env.V2, hecate:env.V3 "
        "and 2 more (hecate-daemon 0.7.2)"
    )
    assert body.splitlines() == ["Settings changed:", *(f"- {s}" for s in many)]


def test_a_rollback_says_what_it_undoes():
    assert (
        rollback_message("dev-cluster", "0.7.3", "0.7.4")
        == "rollback(dev-cluster): hecate-daemon 0.7.3 (from 0.7.4)"
    )
    assert (
        rollback_message("dev-cluster", "0.7.2", "0.7.2", ["hecate:logLevel"])
        == "rollback(dev-cluster): hecate-daemon 0.7.2, hecate:logLevel undone"
    )
    assert (
        rollback_message("dev-cluster", "0.7.2", "0.7.2")
        == "rollback(dev-cluster): hecate-daemon 0.7.2, its configuration undone"
    )


def parallel_rollout(parallel: int) -> Rollout:
    """A Rollout with only what running a step for each stack of a wave reads."""
    rollout = object.__new__(Rollout)
    rollout.parallel = parallel
    return rollout


def summary(stack: str) -> ChangeSummary:
    return ChangeSummary(stack, True, {"update": 1}, "")


def test_a_wave_deploys_its_stacks_at_once_up_to_parallel():
    running, most, lock = set(), [0], threading.Lock()

    def deploy(stack):
        with lock:
            running.add(stack)
            most[0] = max(most[0], len(running))
        time.sleep(0.2)
        with lock:
            running.discard(stack)
        return summary(stack)

    stacks = tuple(f"s{i}" for i in range(6))
    results = parallel_rollout(3)._each(Wave("w", stacks, 0), deploy)
    assert list(results) == list(stacks) and all(r.stack == s for s, r in results.items())
    assert most[0] == 3


def test_after_a_failure_no_further_stack_starts_and_those_under_way_finish():
    started, finished = [], []
    gate = threading.Event()

    def deploy(stack):
        started.append(stack)
        if stack == "s1":
            raise RolloutFailed("w", stack, "up", "boom")
        gate.wait(5)  # s0 is still running when s1 fails
        finished.append(stack)
        return summary(stack)

    threading.Timer(0.3, gate.set).start()
    with pytest.raises(RolloutFailed, match="s1: up: boom"):
        parallel_rollout(2)._each(Wave("w", ("s0", "s1", "s2", "s3"), 0), deploy)
    assert sorted(started) == ["s0", "s1"], started
    assert finished == ["s0"], "the stack under way was cut off"


DEPLOYED = {"image": "ghcr.io/hecate-social/hecate-daemon:0.7.2", "settingsDigest": {"k": "d"}}


class RecordingProject:
    """The stack steps of one stack whose file says 0.7.2, each call recorded with what the
    stack file said at that moment."""

    def __init__(self, preview_ok: bool = True):
        self.file, self.preview_ok, self.calls = "hecate:version: 0.7.2", preview_ok, []

    def committed_version(self, stack):
        return self.file.rsplit(" ", 1)[1]

    def with_version(self, stack, version):
        return f"hecate:version: {version}"

    def preview_as(self, stack, text):
        self.calls.append(("preview", text, self.file))
        return ChangeSummary(stack, self.preview_ok, {"update": 1}, "", before=DEPLOYED)

    def stack_file(self, stack):
        return type("File", (), {"read_text": lambda _: self.file})()

    def write_stack_file(self, stack, text):
        self.calls.append(("write", text))
        self.file = text

    def up(self, stack):
        self.calls.append(("up", self.file))
        return summary(stack)


class RecordingJournal:
    def __init__(self):
        self.before, self.saved = {}, []

    def snapshot(self, stack, version, text, digests):
        self.before[stack] = version
        self.saved.append((stack, version, text, digests))

    def save(self):
        pass


def deploying(project: RecordingProject) -> Rollout:
    rollout = object.__new__(Rollout)
    rollout.project, rollout.locks = project, []  # type: ignore[assignment]
    rollout.version_of = lambda stack: "0.7.3"  # type: ignore[method-assign]
    rollout.progress = type("Quiet", (), {"event": lambda *args: None})()  # type: ignore[assignment]
    rollout.report = RolloutReport(
        "0.7.3", stacks={"dev": StackOutcome("dev", "dev-cluster", "dev")}
    )
    return rollout


def test_a_stack_is_previewed_on_a_copy_snapshotted_from_its_preview_then_written_and_up():
    project, journal = RecordingProject(), RecordingJournal()
    rollout, wave = deploying(project), Wave("dev", ("dev",), 0)
    preview = rollout._preview(wave, "dev")
    # The preview read the new version while the file still said the old one.
    assert project.calls == [("preview", "hecate:version: 0.7.3", "hecate:version: 0.7.2")]
    rollout._snapshot(wave, journal, {"dev": preview})
    # The snapshot: the version the cluster was given (from the preview's outputs), the file
    # as it was, the settings' digests.
    assert journal.saved == [("dev", "0.7.2", "hecate:version: 0.7.2", {"k": "d"})]
    rollout._up(wave, "dev", preview)
    assert project.calls[1:] == [
        ("write", "hecate:version: 0.7.3"),
        ("up", "hecate:version: 0.7.3"),
    ]


def test_a_failed_preview_leaves_the_stack_file_as_it_was():
    project = RecordingProject(preview_ok=False)
    with pytest.raises(RolloutFailed, match="dev: preview"):
        deploying(project)._preview(Wave("dev", ("dev",), 0), "dev")
    assert [call[0] for call in project.calls] == ["preview"]
    assert project.file == "hecate:version: 0.7.2"
