"""What a fleet command did, for people (progress while it runs, a Markdown report at the end)
and for machines (`--json`).

Progress goes to stderr: a live display on a terminal, one plain line per event elsewhere (CI
logs); the report goes to stdout.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table


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


@dataclass
class RolloutReport:
    version: str
    dry_run: bool = False
    result: str = "running"  # rolled out, failed, rolled back, dry run, interrupted
    failed_wave: str = ""
    failure: str = ""
    seconds: float = 0.0
    stacks: dict[str, StackOutcome] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def markdown(self) -> str:
        title = f"### hecate fleet rollout {self.version}: {self.result}"
        lines = [title, ""]
        if self.failure:
            lines += [f"**Wave {self.failed_wave} failed**: {self.failure}", ""]
        lines += [
            "| wave | stack | cluster | before | after | changed | result | commits |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for o in self.stacks.values():
            commits = " ".join(c[:12] for c in o.commits) or "—"
            changed = ", ".join(f"`{c}`" for c in o.changed) or "—"
            lines.append(
                f"| {o.wave} | {o.stack} | {o.cluster} | {o.before or '—'} "
                f"| {o.after or o.before or '—'} | {changed} "
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
        event = Event(round(self.elapsed(), 2), wave, stack, step, detail)
        self.report.events.append(event)
        self.rows[stack or wave] = (wave, step, detail)
        if self._live is not None:
            self._live.update(self._table())
        else:
            where = f"{wave}/{stack}" if stack else wave
            print(f"[{event.seconds:7.1f}s] {where}: {step} {detail}".rstrip(), file=self.stream)
            self.stream.flush()

    def _table(self) -> Table:
        table = Table(title=f"hecate fleet rollout {self.report.version}", expand=False)
        for column in ("wave", "stack", "step", "detail"):
            table.add_column(column)
        for stack, (wave, step, detail) in self.rows.items():
            table.add_row(wave, stack, step, detail)
        table.caption = f"{self.elapsed():.0f} s"
        return table


def print_table(title: str, columns: list[str], rows: list[list[Any]], stream: TextIO) -> None:
    """A table for people: boxed on a terminal; plain, wide columns as `kubectl get` prints
    them elsewhere (a CI log, a pipe)."""
    terminal = stream.isatty()
    console = Console(file=stream, width=None if terminal else 250)
    table = Table(title=title if terminal else None, box=box.SIMPLE if terminal else None)
    for column in columns:
        table.add_column(column if terminal else column.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
