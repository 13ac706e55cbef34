"""The rollout journal: carried on by the same rollout, refused to another, one rollout at a
time; and the report it ends in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hecate.fleet.journal import Journal, JournalError, RolloutLock
from hecate.fleet.report import Progress, RolloutReport, StackOutcome


def test_an_interrupted_rollout_is_carried_on_only_by_the_same_version(tmp_path):
    journal, resumed = Journal.open(tmp_path, "0.7.3")
    assert not resumed
    journal.bases["gitops"] = "a" * 40
    journal.snapshot("dev", "0.7.2", "config: {}\n", {"hecate:version": "d1"})
    journal.waves_done.append("dev")
    journal.save()

    again, resumed = Journal.open(tmp_path, "0.7.3")
    assert resumed
    assert (again.waves_done, again.before, again.bases) == (
        ["dev"],
        {"dev": "0.7.2"},
        journal.bases,
    )
    # A second snapshot of the same stack keeps the first: it is what the rollback restores.
    again.snapshot("dev", "0.7.3", "changed\n", {})
    assert again.stack_file("dev") == "config: {}\n"
    assert again.digests["dev"] == {"hecate:version": "d1"}

    with pytest.raises(
        JournalError, match=r"a rollout of 0\.7\.3 was interrupted.*rollout 0\.7\.3"
    ):
        Journal.open(tmp_path, "0.7.4")

    again.finish()
    assert not list((tmp_path / ".rollout").glob("*"))
    assert Journal.open(tmp_path, "0.7.4")[1] is False


def test_the_journal_is_written_whole(tmp_path):
    journal, _ = Journal.open(tmp_path, "0.7.3")
    journal.save()
    assert [p.name for p in (tmp_path / ".rollout").iterdir()] == ["journal.json"]
    assert json.loads((tmp_path / ".rollout" / "journal.json").read_text())["version"] == "0.7.3"


def test_one_rollout_at_a_time_and_a_dead_ones_lock_is_taken_over(tmp_path):
    with RolloutLock(tmp_path) as lock:
        assert not lock.interrupted
        with pytest.raises(JournalError, match=r"another rollout \(pid \d+\) is running"):
            RolloutLock(tmp_path).__enter__()
    assert not (tmp_path / ".rollout" / "lock").exists()

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / ".rollout" / "lock").write_text(dead.stdout.strip())
    with RolloutLock(tmp_path) as lock:
        assert lock.interrupted


def test_the_report_reads_as_a_table_and_progress_prints_plain_lines_off_a_terminal(tmp_path):
    report = RolloutReport(
        "0.7.4-unready",
        result="rolled back",
        failed_wave="dev",
        failure="stack dev, gate: flux: HealthCheckFailed: timeout",
    )
    report.stacks["dev"] = StackOutcome(
        "dev",
        "dev-cluster",
        "dev",
        "0.7.3",
        "0.7.3",
        "rolled back",
        ["a" * 40, "b" * 40],
        changed=["hecate:logLevel"],
        pods_before="0.7.3",
        pods_after="0.7.3",
    )
    report.stacks["edge"] = StackOutcome("edge", "edge-cluster", "edge", "0.7.3")
    stream = (tmp_path / "progress").open("w+")
    with Progress(report, stream) as progress:
        progress.event("dev", "dev", "gate failed", "flux: HealthCheckFailed")
    stream.seek(0)
    assert stream.read().endswith("dev/dev: gate failed flux: HealthCheckFailed\n")
    markdown = report.markdown()
    assert "### hecate fleet rollout 0.7.4-unready: rolled back" in markdown
    assert "**Wave dev failed**: stack dev, gate: flux: HealthCheckFailed: timeout" in markdown
    assert (
        "| dev | dev | dev-cluster | 0.7.3 | 0.7.3 | 0.7.3 → 0.7.3 | `hecate:logLevel` "
        "| rolled back "
        "| aaaaaaaaaaaa bbbbbbbbbbbb |" in markdown
    )
    # What the pods ran is read from the cluster: unknown where it could not be read.
    assert "| edge | edge | edge-cluster | 0.7.3 | 0.7.3 | ? → ? | — | untouched | — |" in markdown
    assert json.loads(report.as_json())["events"][0]["step"] == "gate failed"
