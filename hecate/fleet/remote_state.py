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

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .gitops_repo import GitError, GitopsCheckout

LOCK_REF = "refs/hecate/rollout-lock"
JOURNAL_REF = "refs/hecate/rollout-journal"
TREE = "040000"  # git's mode of a directory entry
HEARTBEAT_SECONDS = 10.0
LEASE_SECONDS = 90.0
# A holder stops working once its last renewal is this old: well inside the lease others see.
STOP_AFTER_SECONDS = LEASE_SECONDS - 3 * HEARTBEAT_SECONDS


def _now() -> datetime:
    return datetime.now(UTC)


def _process_start(pid: int) -> str:
    """The process's start time (clock ticks since boot), so a reused pid is not taken for it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


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
        return cls(uuid.uuid4().hex, socket.gethostname(), pid, _process_start(pid), version, since)

    def describe(self, seen: datetime | None = None) -> str:
        last = f", last renewed {seen.isoformat(timespec='seconds')}" if seen else ""
        return (
            f"a rollout of {self.version} by pid {self.pid} on {self.host} "
            f"(runner {self.runner[:12]}), since {self.since}{last}"
        )

    def dead_because(self, seen: datetime, now: datetime | None = None) -> str | None:
        """Why this holder provably died, or None while it may be alive."""
        if self.host == socket.gethostname():
            start = _process_start(self.pid)
            if not start or start != self.started:
                return f"its process {self.pid} on {self.host} is gone"
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


def _empty_tree(checkout: GitopsCheckout) -> str:
    return checkout.git("hash-object", "-t", "tree", "-w", "/dev/null")


def _push(checkout: GitopsCheckout, source: str, ref: str, expect: str) -> bool:
    """`source` (a commit, or "" to delete) to `ref` on the remote, only if the remote's ref is
    `expect` ("" for absent). False when the remote had something else."""
    done = checkout.git(
        "push",
        "--quiet",
        f"--force-with-lease={ref}:{expect}",
        checkout.remote,
        f"{source}:{ref}",
        check=False,
        raw=True,
    )
    return done == 0


def remote_commit(checkout: GitopsCheckout, ref: str) -> str:
    """The ref's commit on the remote (fetched), "" when there is none."""
    listed = checkout.git("ls-remote", checkout.remote, ref)
    if not listed:
        return ""
    sha = listed.split()[0]
    checkout.git("fetch", "--quiet", checkout.remote, f"+{ref}:{ref}")
    return sha


class RemoteLock:
    """One rollout at a time for every runner of a gitops remote."""

    def __init__(self, checkout: GitopsCheckout, version: str, wait_seconds: float = 0):
        self.checkout, self.wait_seconds = checkout, wait_seconds
        self.holder = Holder.me(version)
        self.previous: Holder | None = None  # the dead holder this one took over from
        self.taken_over_because = ""
        self._sha = ""
        self._renewed = 0.0
        self._lost = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _commit(self, parent: str = "") -> str:
        args = ["commit-tree", _empty_tree(self.checkout), "-m", json.dumps(asdict(self.holder))]
        if parent:
            args[2:2] = ["-p", parent]
        return self.checkout.git(*args)

    def read(self) -> tuple[str, Holder, datetime] | None:
        """The remote's lock: its commit, its holder, when it was last renewed."""
        sha = remote_commit(self.checkout, LOCK_REF)
        if not sha:
            return None
        message = self.checkout.git("log", "-1", "--format=%B", sha)
        seen = datetime.fromtimestamp(int(self.checkout.git("log", "-1", "--format=%ct", sha)), UTC)
        try:
            return sha, Holder(**json.loads(message)), seen
        except (ValueError, TypeError):
            return sha, Holder("?", "?", 0, "", "?", "?"), seen

    def take(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            sha = self._commit()
            if _push(self.checkout, sha, LOCK_REF, ""):
                self._held(sha)
                return
            found = self.read()
            if found is None:
                continue  # released meanwhile: try again
            theirs, holder, seen = found
            why = holder.dead_because(seen)
            if why and _push(self.checkout, sha, LOCK_REF, theirs):
                self.previous, self.taken_over_because = holder, why
                self._held(sha)
                return
            if not why and time.monotonic() >= deadline:
                raise LockHeld(holder, seen)
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
            if _push(self.checkout, sha, LOCK_REF, self._sha):
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
            _push(self.checkout, "", LOCK_REF, self._sha)
        self._sha = ""

    def __enter__(self) -> RemoteLock:
        self.take()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RemoteJournal:
    """The journal's copy in the remote: written whole on every save, read by any runner."""

    def __init__(self, checkout: GitopsCheckout):
        self.checkout = checkout
        self._sha: str | None = None  # what the remote holds, as last read or written

    def load(self) -> tuple[dict, dict[str, str]] | None:
        """journal.json's data and the stack files before the rollout, or None."""
        self._sha = remote_commit(self.checkout, JOURNAL_REF)
        if not self._sha:
            return None
        data = json.loads(self.checkout.git("show", f"{self._sha}:journal.json"))
        has_stacks = self.checkout.succeeds("cat-file", "-e", f"{self._sha}:stacks")
        names = (
            self.checkout.git("ls-tree", "--name-only", f"{self._sha}:stacks") if has_stacks else ""
        )
        files = {
            Path(name).stem: self.checkout.git("show", f"{self._sha}:stacks/{name}") + "\n"
            for name in names.splitlines()
            if name
        }
        return data, files

    def _blob(self, text: str) -> str:
        return str(self.checkout.git("hash-object", "-w", "--stdin", input=text))

    def _tree(self, entries: dict[str, tuple[str, str]]) -> str:
        listing = "".join(
            f"{mode} {'tree' if mode == TREE else 'blob'} {sha}\t{name}\n"
            for name, (mode, sha) in entries.items()
        )
        return str(self.checkout.git("mktree", input=listing))

    def save(self, data: dict, stack_files: dict[str, str]) -> None:
        stacks = self._tree(
            {f"{s}.yaml": ("100644", self._blob(t)) for s, t in sorted(stack_files.items())}
        )
        entries = {
            "journal.json": ("100644", self._blob(json.dumps(data, indent=2, sort_keys=True)))
        }
        if stack_files:
            entries["stacks"] = (TREE, stacks)
        tree = self._tree(entries)
        args = ["commit-tree", tree, "-m", f"hecate rollout of {data.get('version')}"]
        if self._sha:
            args[2:2] = ["-p", self._sha]
        sha = self.checkout.git(*args)
        if not _push(self.checkout, sha, JOURNAL_REF, self._sha or ""):
            raise GitError(
                f"the rollout journal ({JOURNAL_REF}) changed on the remote under this run"
            )
        self._sha = sha

    def remove(self) -> None:
        if self._sha and not _push(self.checkout, "", JOURNAL_REF, self._sha):
            raise GitError(
                f"the rollout journal ({JOURNAL_REF}) changed on the remote under this run"
            )
        self._sha = ""
