"""What a fleet command did, for people (progress while it runs, a Markdown report at the end)
and for machines (`--json`).

Progress goes to stderr: a live display on a terminal, one plain line per event elsewhere (CI
logs); the report goes to stdout.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from .journal import rollout_command
from .stacks import ChangeSummary


@dataclass
class Event:
    seconds: float  # since the command started
    wave: str
    stack: str
    step: str  # config, preview, up, commit, push, reconcile, gate, soak, rollback...
    detail: str


@dataclass
class StackOutcome:
    stack: str
    cluster: str
    wave: str
    before: str = ""
    after: str = ""
    result: str = "untouched"  # untouched, rolled out, unchanged, failed, rolled back, skipped
    commits: list[str] = field(default_factory=list)
    detail: str = ""
    changed: list[str] = field(default_factory=list)  # the settings the deploy changed
    # The version the cluster's daemon pods ran before the rollout and after it, as read from
    # the cluster ("" unknown); `before` and `after` are the stack's setting.
    pods_before: str = ""
    pods_after: str = ""


@dataclass(frozen=True)
class PreviewRow:
    """One stack's preview in `fleet preview`'s table and report."""

    HEADERS: ClassVar[tuple[str, ...]] = ("stack", "result", "changes")
    summary: ChangeSummary
    expect_no_changes: bool = False

    @property
    def result(self) -> str:
        if not self.summary.ok:
            return "failed"
        return "unexpected changes" if self.expect_no_changes and self.summary.changed else "ok"

    @property
    def changes(self) -> str:
        return self.summary.described if self.summary.ok else "—"

    def cells(self) -> tuple[str, ...]:
        return (self.summary.stack, self.result, self.changes)


@dataclass(frozen=True)
class PreviewReport:
    """`fleet preview`: every stack's preview, and the Markdown a pull request is shown."""

    summaries: list[ChangeSummary]
    expect_no_changes: bool = False

    @property
    def rows(self) -> list[PreviewRow]:
        return [PreviewRow(s, self.expect_no_changes) for s in self.summaries]

    @property
    def failed(self) -> bool:
        return any(not s.ok for s in self.summaries)

    @property
    def fine(self) -> bool:
        unexpected = self.expect_no_changes and any(s.changed for s in self.summaries)
        return not self.failed and not unexpected

    def markdown(self) -> str:
        changed = any(s.changed for s in self.summaries)
        verdict = "failed" if self.failed else ("changes" if changed else "no changes")
        lines = [
            f"### hecate fleet preview: {verdict}",
            "",
            "| " + " | ".join(PreviewRow.HEADERS) + " |",
            "| --- | --- | --- |",
        ]
        for row in self.rows:
            result = row.result if row.result == "ok" else f"**{row.result}**"
            lines.append(f"| {row.summary.stack} | {result} | {row.changes} |")
        for s in self.summaries:
            if s.changed or not s.ok:
                lines += [
                    "",
                    f"<details><summary>{s.stack}</summary>",
                    "",
                    "```",
                    s.output.strip(),
                    "```",
                    "</details>",
                ]
        return "\n".join(lines) + "\n"


def append_report(path: Path | None, markdown: str) -> None:
    if path is not None:
        with path.open("a") as handle:  # appends: $GITHUB_STEP_SUMMARY is shared by steps
            handle.write(markdown)


@dataclass
class RolloutReport:
    version: str
    dry_run: bool = False
    # rolled out, failed, rolled back, dry run, interrupted, stopped (the lock lost, or the
    # gitops remote gone: run the same command again), awaiting approval
    result: str = "running"
    failed_wave: str = ""
    awaiting: str = ""  # the wave waiting for its approval (result `awaiting approval`)
    failure: str = ""
    seconds: float = 0.0
    stacks: dict[str, StackOutcome] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Rolled out, or a dry run whose every preview passed."""
        previews_passed = all(o.result != "preview failed" for o in self.stacks.values())
        return self.result in ("rolled out", "dry run") and previews_passed

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def markdown(self) -> str:
        title = f"### hecate fleet rollout {self.version}: {self.result}"
        lines = [title, ""]
        if self.failure:
            ended = "stopped" if self.result == "stopped" else "failed"
            lines += [f"**Wave {self.failed_wave} {ended}**: {self.failure}", ""]
        if self.awaiting:
            lines += [
                f"**Wave {self.awaiting} waits for approval**: nothing of it has changed; "
                f"carry on with `{rollout_command(self.version, '--approve', self.awaiting)}`",
                "",
            ]
        lines += [
            "| wave | stack | cluster | before | after | pods ran | changed | result | commits |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for o in self.stacks.values():
            commits = " ".join(c[:12] for c in o.commits) or "—"
            changed = ", ".join(f"`{c}`" for c in o.changed) or "—"
            pods = f"{o.pods_before or '?'} → {o.pods_after or '?'}"
            lines.append(
                f"| {o.wave} | {o.stack} | {o.cluster} | {o.before or '—'} "
                f"| {o.after or o.before or '—'} | {pods} | {changed} "
                f"| {o.result} | {commits} |"
            )
        lines += ["", f"{len(self.events)} steps in {self.seconds:.0f} s."]
        return "\n".join(lines) + "\n"


class Progress:
    """Where events go while a command runs: plain lines, or a live table on a terminal."""

    def __init__(
        self, report: RolloutReport, stream: TextIO | None = None, live: bool | None = None
    ):
        self.report = report
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.live_wanted = self.stream.isatty() if live is None else live
        self.rows: dict[str, tuple[str, str, str]] = {}  # stack -> (wave, step, detail)
        self._live: Live | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.live_wanted:
            console = Console(file=self.stream)
            self._live = Live(self._table(), console=console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def event(self, wave: str, stack: str, step: str, detail: str = "") -> None:
        with self._lock:  # the stacks of a wave report from threads of their own
            event = Event(round(self.elapsed(), 2), wave, stack, step, detail)
            self.report.events.append(event)
            self.rows[stack or wave] = (wave, step, detail)
            if self._live is not None:
                self._live.update(self._table())
            else:
                where = f"{wave}/{stack}" if stack else wave
                line = f"[{event.seconds:7.1f}s] {where}: {step} {detail}".rstrip()
                print(line, file=self.stream)
                self.stream.flush()

    def _table(self) -> Table:
        table = Table(title=f"hecate fleet rollout {self.report.version}", expand=False)
        for column in ("wave", "stack", "step", "detail"):
            table.add_column(column)
        for stack, (wave, step, detail) in self.rows.items():
            table.add_row(wave, stack, step, detail)
        table.caption = f"{self.elapsed():.0f} s"
        return table
