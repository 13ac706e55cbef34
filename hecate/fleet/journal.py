"""What a rollout in progress has done, kept in `.rollout/` (gitignored) so that a rollout that
was interrupted carries on, and a failed wave can be put back as it was.

    .rollout/journal.json         the version, the gitops base, finished waves, each stack's
                                  version before (written whole: a temporary file, renamed)
    .rollout/<stack>.yaml         the stack file as it was before the rollout touched it
    .rollout/<stack>.state.json   `pulumi stack export` from before (secrets stay encrypted)
    .rollout/lock                 the pid of the rollout running now
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DIRECTORY = ".rollout"


class JournalError(RuntimeError):
    pass


@dataclass
class Journal:
    directory: Path
    version: str
    bases: dict[str, str] = field(default_factory=dict)  # gitops checkout -> remote head at start
    waves_done: list[str] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)  # stack -> version before the rollout

    @classmethod
    def path_in(cls, root: Path) -> Path:
        return root / DIRECTORY

    @classmethod
    def open(cls, root: Path, version: str | None) -> tuple[Journal, bool]:
        """The journal of this rollout (resumed: True) or a new one. Refuses to start a
        rollout while one of another version is unfinished."""
        directory = cls.path_in(root)
        path = directory / "journal.json"
        if path.is_file():
            data = json.loads(path.read_text())
            if version is not None and data["version"] != version:
                raise JournalError(
                    f"a rollout of {data['version']} was interrupted ({path}); finish it first "
                    f"with `python -m hecate fleet rollout {data['version']}` (it carries on "
                    "where it stopped), or remove that directory to leave the fleet as it is"
                )
            return cls(directory, **data), True
        if version is None:
            raise JournalError("no interrupted rollout to carry on with")
        return cls(directory, version), False

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "directory"}
        _write(self.directory / "journal.json", json.dumps(data, indent=2, sort_keys=True))

    def snapshot(self, stack: str, version: str, stack_file: str, state: dict[str, Any]) -> None:
        """The stack as it was, recorded once per rollout (a resumed one keeps the first)."""
        if stack in self.before:
            return
        _write(self.directory / f"{stack}.yaml", stack_file)
        _write(self.directory / f"{stack}.state.json", json.dumps(state))
        self.before[stack] = version
        self.save()

    def stack_file(self, stack: str) -> str:
        return (self.directory / f"{stack}.yaml").read_text()

    def state(self, stack: str) -> dict[str, Any]:
        return json.loads((self.directory / f"{stack}.state.json").read_text())

    def finish(self) -> None:
        """The rollout is over (done or rolled back): nothing left to carry on with."""
        for path in self.directory.glob("*"):
            if path.name != "lock":
                path.unlink()
        self.waves_done, self.before = [], {}


def _write(path: Path, text: str) -> None:
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
            if pid and _alive(pid):
                raise JournalError(
                    f"another rollout (pid {pid}) is running in this project ({self.path})"
                )
            self.interrupted = True
        _write(self.path, str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state != "Z"
