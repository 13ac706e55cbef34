"""This project's stacks through Pulumi's Automation API, configured as `make up` configures
pulumi (the backend, its passphrase, the engine in ~/.cache/hecate).

Each stack has its own workspace, so previews of several stacks can run side by side. Every
`pulumi` process costs a start and a read of the stack's state (its passphrase included), so a
preview and an `up` are one process each, with no `stack select` before them, the version is
written into the stack file rather than `config set`, and their changes and outputs come from
the engine's event log (the stack's outputs before the update included), not from the reads
the Automation API makes around them.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from .. import naming
from ..project import Project, with_version
from ..settings import Settings
from .gitops_repo import GitopsCheckout
from .journal import write_whole
from .processes import alive

POLICY_PACK = "policy"
STACK_TYPE = "pulumi:pulumi:Stack"  # the resource whose outputs are the stack's


@dataclass(frozen=True)
class StackTarget:
    """A stack, what it deploys where, read from its committed files."""

    name: str
    settings: Settings

    @property
    def cluster(self) -> str:
        return self.settings.cluster

    @property
    def context(self) -> str:
        # kubernetes:context, else a context named after the cluster (as the healthCheck output)
        return self.settings.kube_context or self.settings.cluster

    @property
    def directories(self) -> list[str]:
        return [self.settings.flux_dir, self.settings.workloads_dir]

    @property
    def seals(self) -> bool:
        return bool(self.settings.sealed_secrets or self.settings.api_keys)


@dataclass(frozen=True)
class RenderedTemplate:
    """What the gitops tree says the daemon's pods run."""

    image: str
    checksum: str  # of what they read at start (naming.CONFIG_CHECKSUM); "" before it existed

    @property
    def version(self) -> str:
        return self.image.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class ChangeSummary:
    stack: str
    ok: bool
    changes: dict[str, int]  # operation -> count, without `same`
    output: str  # the preview's text, or the error
    outputs: dict[str, Any] = field(default_factory=dict)  # the stack's, after an `up`
    before: dict[str, Any] = field(default_factory=dict)  # the stack's, as a preview found them

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def described(self) -> str:
        """`1 to update, 2 to create`, or `no changes`."""
        return ", ".join(f"{n} to {op}" for op, n in sorted(self.changes.items())) or "no changes"


class FleetProject:
    """The project's stacks (hecate/project.py) as the fleet tool drives them."""

    def __init__(self, root: Path):
        self.files = Project(root)
        self.root = self.files.root
        self.env = self.files.env()
        self.env.setdefault("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "true")
        self._stacks: dict[str, auto.Stack] = {}
        self._stacks_lock = threading.Lock()
        self._pulumi_command: auto.PulumiCommand | None = None

    @property
    def stacks(self) -> list[str]:
        return self.files.stacks

    def target(self, stack: str, **overrides: str) -> StackTarget:
        """The stack's settings as committed (with these keys set over them), ConfigError
        (naming the stack) when invalid."""
        return StackTarget(stack, self.files.settings(stack, **overrides))

    def clear_dead_locks(self, previous_host: str | None, previous_since: str | None) -> list[str]:
        """What a killed pulumi leaves in a local (file) backend: its lock, and sometimes an
        empty metadata file. A lock is cleared only when it is provably the dead run's: its
        process gone from this host, or taken on `previous_host` (the runner whose rollout lock
        was taken over) after `previous_since`, when that runner started. No update is ever
        cancelled. Returns what was cleared, one line a lock."""
        backend = self.env.get("PULUMI_BACKEND_URL", "")
        if not backend.startswith("file://"):
            return []
        root = Path(backend.removeprefix("file://"))
        for attrs in root.rglob("*.attrs"):
            if attrs.stat().st_size == 0:
                attrs.unlink()
        cleared = []
        for lock in (root / ".pulumi" / "locks").rglob("*.json"):
            try:
                info = json.loads(lock.read_text())
                taken = datetime.fromisoformat(
                    str(info.get("timestamp", "")).replace("Z", "+00:00")
                )
            except (OSError, ValueError):
                continue
            host, pid = info.get("hostname"), int(info.get("pid") or 0)
            why = ""
            if host == socket.gethostname() and pid and not alive(pid):
                why = f"its pulumi (pid {pid}) is gone"
            elif previous_since and host == previous_host:
                since = datetime.fromisoformat(previous_since)
                if taken.astimezone(UTC) >= since.astimezone(UTC):
                    why = "it was taken by the rollout whose lock was taken over"
            if why:
                lock.unlink()
                cleared.append(f"{lock.parent.name}: stale pulumi lock cleared ({why})")
        return cleared

    def committed_version(self, stack: str) -> str | None:
        """hecate:version as the stack file itself says it."""
        return self.files.committed(stack, naming.VERSION_KEY)

    def checkout(self, target: StackTarget) -> GitopsCheckout:
        path = Path(os.path.normpath(self.root / target.settings.gitops_dir))
        source = target.settings.gitops
        return GitopsCheckout(path, source.branch if source else "main")

    def rendered_template(self, target: StackTarget) -> RenderedTemplate | None:
        """The pod template of the stack's rendered DaemonSet, None when there is none."""
        path = self.checkout(target).path / target.settings.workloads_dir / "daemonset.yaml"
        try:
            template = yaml.safe_load(path.read_text())["spec"]["template"]
            image = str(template["spec"]["containers"][0]["image"])
            annotations = (template.get("metadata") or {}).get("annotations") or {}
        except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, AttributeError):
            return None
        return RenderedTemplate(image, str(annotations.get(naming.CONFIG_CHECKSUM, "")))

    def stack_file(self, stack: str) -> Path:
        return self.files.stack_file(stack)

    def _command(self) -> auto.PulumiCommand:
        """The project's one PulumiCommand (making one runs `pulumi version`, whatever it is
        told about checking it)."""
        with self._stacks_lock:
            if self._pulumi_command is None:
                cache = Path(self.env["PULUMI_HOME"]).parent
                self._pulumi_command = auto.PulumiCommand(root=str(cache), skip_version_check=True)
            return self._pulumi_command

    def _workspace(self) -> auto.LocalWorkspace:
        return auto.LocalWorkspace(
            work_dir=str(self.root),
            pulumi_home=self.env["PULUMI_HOME"],
            env_vars=self.env,
            pulumi_command=self._command(),
        )

    def stack(self, stack: str) -> auto.Stack:
        """The stack in the backend, created (passphrase secrets) on first use, as `make up`;
        selected once (a `pulumi stack select` each time cost a process and a state read)."""
        with self._stacks_lock:
            selected = self._stacks.get(stack)
        if selected is None:
            workspace = self._workspace()
            try:
                selected = auto.Stack.select(stack, workspace)
            except auto.StackNotFoundError:
                workspace.secrets_provider = "passphrase"
                selected = auto.Stack.create(stack, workspace)
            with self._stacks_lock:
                selected = self._stacks.setdefault(stack, selected)
        return selected

    def with_version(self, stack: str, version: str) -> str:
        """The stack file with hecate:version set, its other lines and comments kept (what
        `pulumi config set` did, without a process, and without reformatting the file)."""
        path = self.stack_file(stack)
        return with_version(path.read_text(), version, path.name)

    def set_version(self, stack: str, version: str) -> None:
        self.write_stack_file(stack, self.with_version(stack, version))

    def write_stack_file(self, stack: str, text: str) -> None:
        write_whole(self.stack_file(stack), text)

    def preview(self, stack: str, config_file: Path | None = None) -> ChangeSummary:
        """`pulumi preview --policy-pack policy --diff` (a failure or a policy violation:
        `ok=False`), with another stack file in place of Pulumi.<stack>.yaml if given; `before`
        holds the stack's outputs as its last update left them (none for a stack never
        deployed), read from the stack resource's state in the preview's events."""
        lines: list[str] = []
        args = ["preview", "--policy-pack", POLICY_PACK, "--diff"]
        args += ["--config-file", str(config_file)] if config_file else []
        try:
            events = self._engine(stack, args, lines)
        except auto.errors.CommandError as error:
            return ChangeSummary(stack, False, {}, _command_error(error, lines))
        return ChangeSummary(stack, True, events.changes, "\n".join(lines), before=events.before)

    def preview_as(self, stack: str, text: str) -> ChangeSummary:
        """`preview` with `text` in place of the stack file, the file itself untouched."""
        with tempfile.TemporaryDirectory(prefix="hecate-preview-") as scratch:
            copy = Path(scratch) / f"Pulumi.{stack}.yaml"
            copy.write_text(text)
            return self.preview(stack, config_file=copy)

    def preview_all(self, parallel: int, stacks: list[str] | None = None) -> list[ChangeSummary]:
        """These stacks (default: every one) previewed, `parallel` at a time; bad settings are
        named (ConfigError) before any preview runs."""
        chosen = self.stacks if stacks is None else stacks
        for stack in chosen:
            self.target(stack)
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            return list(pool.map(self.preview, chosen))

    def up(self, stack: str) -> ChangeSummary:
        """`pulumi up --skip-preview --policy-pack policy`, one process: the change counts and
        the stack's outputs (secrets masked) read from its events."""
        lines: list[str] = []
        args = ["up", "--yes", "--skip-preview", "--policy-pack", POLICY_PACK]
        try:
            events = self._engine(stack, args, lines)
        except auto.errors.CommandError as error:
            return ChangeSummary(stack, False, {}, _command_error(error, lines))
        return ChangeSummary(stack, True, events.changes, "\n".join(lines), events.after)

    def _engine(self, stack: str, args: list[str], lines: list[str]) -> EngineEvents:
        """`pulumi <args> --stack <stack>` with its engine events logged: one process, with no
        `stack select` before it. A stack the backend lacks is created first, as `make up`
        would, and the command run again."""
        with tempfile.TemporaryDirectory(prefix="hecate-engine-") as scratch:
            log = Path(scratch) / "events.jsonl"
            full = [*args, "--color", "never", "--event-log", str(log), "--stack", stack]
            env = {**self.env, "PULUMI_DEBUG_COMMANDS": "true"}  # --event-log is a debug flag
            try:
                self._command().run(full, str(self.root), env, on_output=lines.append)
            except auto.errors.CommandError as error:
                if f"no stack named '{stack}' found" not in str(error):
                    raise
                self.stack(stack)  # created
                lines.clear()
                self._command().run(full, str(self.root), env, on_output=lines.append)
            return EngineEvents.read(log)

    def refresh(self, stack: str) -> ChangeSummary:
        """`pulumi refresh`: the state reads what the rendered files hold now."""
        lines: list[str] = []
        try:
            result = self.stack(stack).refresh(color="never", on_output=lines.append)
        except auto.errors.CommandError as error:
            return ChangeSummary(stack, False, {}, _command_error(error, lines))
        return ChangeSummary(
            stack, True, _counts(result.summary.resource_changes), "\n".join(lines)
        )


def deployed_version(outputs: dict[str, Any]) -> str | None:
    """The daemon version a stack's last update deployed (the tag of its `image` output), None
    before its first update."""
    image = outputs.get("image")
    if not isinstance(image, str) or ":" not in image:
        return None
    tag = image.rpartition(":")[2]
    return tag if tag and "/" not in tag else None


def _command_error(error: Exception, lines: list[str]) -> str:
    text = str(error)
    # The CLI's own words, not the wrapper's: stderr after the command line it quotes.
    marker = "stderr:"
    if marker in text:
        text = text.split(marker, 1)[1]
    return ("\n".join(lines[-40:]) + "\n" + text.strip()).strip()


@dataclass(frozen=True)
class EngineEvents:
    """What a preview's or an update's event log says: the change counts (its summary), and
    the stack resource's outputs before (its old state) and after (its outputs event)."""

    changes: dict[str, int]
    before: dict[str, Any]
    after: dict[str, Any]

    @classmethod
    def read(cls, log: Path) -> EngineEvents:
        changes: dict[str, int] = {}
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for line in log.read_text().splitlines():
            event = auto.EngineEvent.from_json(json.loads(line))
            if event.summary_event is not None:
                changes = _counts(event.summary_event.resource_changes)
            step = event.resource_pre_event
            if step is not None and step.metadata.type == STACK_TYPE and step.metadata.old:
                before = dict(step.metadata.old.outputs or {})
            done = event.res_outputs_event
            if done is not None and done.metadata.type == STACK_TYPE and done.metadata.new:
                after = dict(done.metadata.new.outputs or {})
        return cls(changes, before, after)


def _counts(summary: Mapping[Any, int] | None) -> dict[str, int]:
    """Operation -> count, `same` left out; the engine's OpType or plain strings alike."""
    counts = {str(getattr(op, "value", op)): n for op, n in (summary or {}).items()}
    return {op: n for op, n in counts.items() if op != "same" and n}
