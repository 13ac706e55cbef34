"""What a rollout shares with every runner, kept in the gitops remote beside the branch Flux
follows (refs that Flux never reads):

    refs/hecate/rollout-lock     who runs a rollout now: one commit, its message the holder
                                 (runner id, host, pid, version, since); renewed every
                                 HEARTBEAT_SECONDS by a child commit
    refs/hecate/rollout-journal  the unfinished rollout: a commit whose tree holds journal.json
                                 and the stack files as they were before it

Both are written with `git push --force-with-lease`, so each write is atomic against the
remote: a lock is taken only where there is none, renewed or released only while it is still
this runner's, and taken over only from a holder that provably died (its process is gone from
this host, or it stopped renewing for LEASE_SECONDS; a holder that cannot renew stops before
then). The next runner, on any machine, finds both where it pushes.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .gitops_repo import BLOB, TREE, GitError, GitopsCheckout
from .processes import started

LOCK_REF = "refs/hecate/rollout-lock"
JOURNAL_REF = "refs/hecate/rollout-journal"
HEARTBEAT_SECONDS = 10.0
LEASE_SECONDS = 90.0
# A holder stops working once its last renewal is this old: well inside the lease others see.
STOP_AFTER_SECONDS = LEASE_SECONDS - 3 * HEARTBEAT_SECONDS


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Holder:
    runner: str
    host: str
    pid: int
    started: str  # the process's start time, from /proc
    version: str
    since: str  # ISO 8601, UTC

    @classmethod
    def me(cls, version: str) -> Holder:
        pid = os.getpid()
        since = _now().isoformat(timespec="seconds")
        return cls(uuid.uuid4().hex, socket.gethostname(), pid, started(pid), version, since)

    def describe(self, seen: datetime | None = None) -> str:
        last = f", last renewed {seen.isoformat(timespec='seconds')}" if seen else ""
        return (
            f"a rollout of {self.version} by pid {self.pid} on {self.host} "
            f"(runner {self.runner[:12]}), since {self.since}{last}"
        )

    def dead_because(self, seen: datetime, now: datetime | None = None) -> str | None:
        """Why this holder provably died, or None while it may be alive."""
        if self.host == socket.gethostname():
            start = started(self.pid)
            if not start or start != self.started:
                return f"its process {self.pid} on {self.host} is gone (or a zombie)"
            return None
        silent = ((now or _now()) - seen).total_seconds()
        if silent > LEASE_SECONDS:
            return f"no renewal for {silent:.0f} s (the lease is {LEASE_SECONDS:.0f} s)"
        return None


class LockHeld(RuntimeError):
    def __init__(self, holder: Holder, seen: datetime):
        self.holder, self.seen = holder, seen
        super().__init__(
            f"another rollout holds the fleet: {holder.describe(seen)}; it is refused until "
            "that one ends (or, should it have died, until its lease runs out)"
        )


class LockLost(RuntimeError):
    pass


class RemoteLock:
    """One rollout at a time for every runner of a gitops remote."""

    def __init__(
        self,
        checkout: GitopsCheckout,
        version: str,
        wait_seconds: float = 0,
        on_wait: Callable[[Holder, datetime, float], None] | None = None,
    ):
        self.checkout, self.wait_seconds = checkout, wait_seconds
        # Told, each time the lock is found held while there is time left to wait: who holds
        # it, when they last renewed it, and how long this one has waited.
        self.on_wait = on_wait
        self.holder = Holder.me(version)
        self.previous: Holder | None = None  # the dead holder this one took over from
        self.taken_over_because = ""
        self._sha = ""
        self._renewed = 0.0
        self._lost = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _commit(self, parent: str = "") -> str:
        empty = self.checkout.write_tree({})
        return self.checkout.write_commit(empty, json.dumps(asdict(self.holder)), parent)

    def read(self) -> tuple[str, Holder, datetime] | None:
        """The remote's lock: its commit, its holder, when it was last renewed."""
        sha = self.checkout.remote_ref(LOCK_REF)
        if not sha:
            return None
        message, seen = self.checkout.message_of(sha), self.checkout.time_of(sha)
        try:
            return sha, Holder(**json.loads(message)), seen
        except (ValueError, TypeError):
            return sha, Holder("?", "?", 0, "", "?", "?"), seen

    def take(self) -> None:
        start = time.monotonic()
        deadline = start + self.wait_seconds
        while True:
            sha = self._commit()
            if self.checkout.push_ref(sha, LOCK_REF, ""):
                self._held(sha)
                return
            found = self.read()
            if found is None:
                continue  # released meanwhile: try again
            theirs, holder, seen = found
            why = holder.dead_because(seen)
            if why and self.checkout.push_ref(sha, LOCK_REF, theirs):
                self.previous, self.taken_over_because = holder, why
                self._held(sha)
                return
            if not why and time.monotonic() >= deadline:
                raise LockHeld(holder, seen)
            if self.on_wait is not None:
                self.on_wait(holder, seen, time.monotonic() - start)
            time.sleep(min(HEARTBEAT_SECONDS, max(0.5, deadline - time.monotonic())))

    def _held(self, sha: str) -> None:
        self._sha, self._renewed = sha, time.monotonic()
        self._thread = threading.Thread(target=self._renew, name="rollout-lock", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS) and self._renew_once():
            pass

    def _renew_once(self) -> bool:
        """One renewal (a child commit, pushed only over this runner's own); False once the
        lock is lost: taken over, or not renewed for too long to be sure it is still ours."""
        try:
            sha = self._commit(self._sha)
            if self.checkout.push_ref(sha, LOCK_REF, self._sha):
                self._sha, self._renewed = sha, time.monotonic()
                return True
            found = self.read()
            if found is None or found[0] != self._sha:
                self._lost = "another runner took the lock over"
                return False
        except GitError:
            pass  # the remote unreachable: retried until the lease would run out
        if time.monotonic() - self._renewed > STOP_AFTER_SECONDS:
            self._lost = f"the lock could not be renewed for {STOP_AFTER_SECONDS:.0f} s"
            return False
        return True

    def check(self) -> None:
        """LockLost when this runner may no longer act for the fleet."""
        if not self._lost and time.monotonic() - self._renewed > STOP_AFTER_SECONDS:
            self._lost = f"the lock was last renewed over {STOP_AFTER_SECONDS:.0f} s ago"
        if self._lost:
            raise LockLost(f"stopped: {self._lost}; nothing more is changed by this run")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._sha and not self._lost:
            with contextlib.suppress(GitError):  # gone: the next run takes over a dead holder
                self.checkout.push_ref("", LOCK_REF, self._sha)
        self._sha = ""

    def __enter__(self) -> RemoteLock:
        self.take()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RemoteJournal:
    """The journal's copy in the remote: written whole on every save, read by any runner."""

    ref = JOURNAL_REF

    def __init__(self, checkout: GitopsCheckout):
        self.checkout = checkout
        self._sha: str | None = None  # what the remote holds, as last read or written

    def load(self) -> tuple[dict, dict[str, str]] | None:
        """journal.json's data and the stack files before the rollout, or None."""
        git = self.checkout
        self._sha = git.remote_ref(JOURNAL_REF)
        if not self._sha:
            return None
        data = json.loads(git.read_at(self._sha, "journal.json") or "{}")
        files = {
            Path(name).stem: (git.read_at(self._sha, f"stacks/{name}") or "") + "\n"
            for name in git.names_at(self._sha, "stacks")
        }
        return data, files

    def save(self, data: dict, stack_files: dict[str, str]) -> None:
        git = self.checkout
        journal = git.write_blob(json.dumps(data, indent=2, sort_keys=True))
        entries = {"journal.json": (BLOB, journal)}
        if stack_files:
            stacks = {
                f"{s}.yaml": (BLOB, git.write_blob(t)) for s, t in sorted(stack_files.items())
            }
            entries["stacks"] = (TREE, git.write_tree(stacks))
        message = f"hecate rollout of {data.get('version')}"
        sha = git.write_commit(git.write_tree(entries), message, self._sha or "")
        if not self.checkout.push_ref(sha, JOURNAL_REF, self._sha or ""):
            raise GitError(
                f"the rollout journal ({JOURNAL_REF}) changed on the remote under this run"
            )
        self._sha = sha

    def remove(self) -> None:
        if self._sha and not self.checkout.push_ref("", JOURNAL_REF, self._sha):
            raise GitError(
                f"the rollout journal ({JOURNAL_REF}) changed on the remote under this run"
            )
        self._sha = ""
