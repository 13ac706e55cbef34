"""What a rollout in progress has done, so that a rollout that was interrupted carries on, and a
failed wave can be put back as it was: the version, the gitops base, finished waves, the wave
being rolled back, and each stack's version, settings digests and stack file from before.

Its copy of record is in the gitops remote (`refs/hecate/rollout-journal`,
hecate/fleet/remote_state.py), where a runner on another machine finds it; `.rollout/`
(gitignored) is this machine's cache of it, and the whole journal of a project without a gitops
remote (`direct` stacks only):

    .rollout/journal.json         written whole: a temporary file, renamed
    .rollout/<stack>.yaml         the stack file as it was before the rollout touched it
    .rollout/lock                 the pid of the rollout running now (no gitops remote only)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .processes import alive
from .remote_state import RemoteJournal

DIRECTORY = ".rollout"


AS_COMMITTED = "as committed"  # a rollout of each stack's committed config, no version given


def rollout_command(version: str, *options: str) -> str:
    """The `hecate fleet rollout` that carries on a rollout of `version`."""
    words = ["hecate fleet rollout", *([] if version == AS_COMMITTED else [version]), *options]
    return " ".join(words)


class JournalError(RuntimeError):
    pass


@dataclass
class Journal:
    directory: Path
    version: str
    bases: dict[str, str] = field(default_factory=dict)  # gitops remote#branch -> its head at start
    waves_done: list[str] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)  # stack -> version before the rollout
    digests: dict[str, dict[str, str]] = field(default_factory=dict)  # stack -> settingsDigest
    rolling_back: str = ""  # the failed wave whose rollback is under way
    failure: str = ""  # why it failed, as the report said it
    awaiting: str = ""  # the wave the rollout stopped before, for its approval
    approved: list[str] = field(default_factory=list)  # waves approved (--approve), kept
    remote: RemoteJournal | None = field(default=None, repr=False, compare=False)

    @classmethod
    def path_in(cls, root: Path) -> Path:
        return root / DIRECTORY

    @classmethod
    def open(
        cls, root: Path, version: str | None, remote: RemoteJournal | None = None
    ) -> tuple[Journal, bool]:
        """The journal of this rollout (resumed: True) or a new one. Refuses to start a
        rollout while one of another version is unfinished. With a remote, the remote's copy
        decides: a local one it does not hold is stale (that rollout ended elsewhere)."""
        directory = cls.path_in(root)
        path = directory / "journal.json"
        if remote is not None:
            for stale in directory.glob("*"):
                if stale.name != "lock":
                    stale.unlink()
            loaded = remote.load()
            if loaded is not None:
                data, stack_files = loaded
                for stack, text in stack_files.items():
                    write_whole(directory / f"{stack}.yaml", text)
                write_whole(path, json.dumps(data, indent=2, sort_keys=True))
        if path.is_file():
            data = json.loads(path.read_text())
            if version is not None and data["version"] != version:
                raise JournalError(
                    cls._unfinished(data["version"], directory, remote, data.get("awaiting", ""))
                )
            known = {f for f in cls.__dataclass_fields__ if f not in ("directory", "remote")}
            data = {k: v for k, v in data.items() if k in known}
            return cls(directory, **data, remote=remote), True
        if version is None:
            raise JournalError("no unfinished rollout (interrupted or waiting for an approval)")
        return cls(directory, version, remote=remote), False

    @staticmethod
    def _unfinished(
        version: str, directory: Path, remote: RemoteJournal | None, awaiting: str = ""
    ) -> str:
        """The refusal while another version's rollout is unfinished, with the two commands
        that end that state, each as it runs from the project's directory."""
        carry_on = rollout_command(version, *(("--approve", awaiting) if awaiting else ()))
        if remote is None:
            give_up = f"rm -r {directory}"
            where = f"its journal is {directory}"
        else:
            checkout = remote.checkout
            give_up = (
                f"git -C {checkout.path} push {checkout.remote} --delete {remote.ref}"
                f" && rm -rf {directory}"
            )
            where = f"its journal is {remote.ref} in the gitops remote, where every runner finds it"
        stopped = f"waits for the approval of wave {awaiting}" if awaiting else "was interrupted"
        return (
            f"a rollout of {version} {stopped} ({where}); carry it on with `{carry_on}` "
            "(from any runner: it goes on where it stopped), or give it up, leaving the fleet as "
            f"it is, with `{give_up}`"
        )

    def _data(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("directory", "remote")}

    def save(self) -> None:
        """Here, then in the remote (where the next runner looks)."""
        data = self._data()
        write_whole(self.directory / "journal.json", json.dumps(data, indent=2, sort_keys=True))
        if self.remote is not None:
            self.remote.save(data, {s: self.stack_file(s) for s in self.before})

    def snapshot(self, stack: str, version: str, stack_file: str, digests: dict[str, str]) -> None:
        """The stack as it was, recorded once per rollout (a resumed one keeps the first); kept
        here at once, and in the remote with the next save()."""
        if stack in self.before:
            return
        write_whole(self.directory / f"{stack}.yaml", stack_file)
        self.before[stack] = version
        self.digests[stack] = dict(digests)

    def stack_file(self, stack: str) -> str:
        return (self.directory / f"{stack}.yaml").read_text()

    def finish(self) -> None:
        """The rollout is over (done or rolled back): nothing left to carry on with."""
        if self.remote is not None:
            self.remote.remove()
        for path in self.directory.glob("*"):
            if path.name != "lock":
                path.unlink()
        self.waves_done, self.before, self.digests, self.approved = [], {}, {}, []
        self.rolling_back = self.failure = self.awaiting = ""


def write_whole(path: Path, text: str) -> None:
    """Whole or not at all: a killed rollout never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


class RolloutLock:
    """One rollout at a time per project: the lock holds the running rollout's pid."""

    def __init__(self, root: Path):
        self.path = Journal.path_in(root) / "lock"
        self.interrupted = False  # a previous rollout died holding it

    def __enter__(self) -> RolloutLock:
        if self.path.is_file():
            pid = int(self.path.read_text().strip() or 0)
            if pid and alive(pid):
                raise JournalError(
                    f"another rollout (pid {pid}) is running in this project ({self.path})"
                )
            self.interrupted = True
        write_whole(self.path, str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
