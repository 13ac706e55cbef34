"""The checkout of the gitops repository a rollout commits to and pushes from.

Each commit holds one cluster's directories only, so a revert touches nothing else; a
commit is whole or absent (git writes it at once), and a push that finds the remote moved is
rebased over it and retried, never forced.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PUSH_ATTEMPTS = 5
# A shallow checkout is deepened by this many commits at first, doubling, and fetched whole
# once that many have not been enough.
DEEPEN_STEP, DEEPEN_WHOLE = 50, 800
TREE = "040000"  # git's mode of a directory entry
BLOB = "100644"
# The committer where neither git's config nor the environment names one (a CI runner).
IDENTITY = {
    "GIT_AUTHOR_NAME": "hecate-infra",
    "GIT_AUTHOR_EMAIL": "hecate-infra@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "hecate-infra",
    "GIT_COMMITTER_EMAIL": "hecate-infra@users.noreply.github.com",
}


class GitError(RuntimeError):
    pass


class RemoteUnreachable(GitError):
    """The gitops remote did not answer (down, unreachable, refusing this runner): nothing
    about the repository is to be concluded from the failure."""


# The commands that talk to the remote: when one fails, the remote is asked once more whether
# it answers at all, so that "it went away" is never taken for "it said no".
_NETWORK = ("fetch", "push", "ls-remote")
PROBE_SECONDS = 20


def committer_env(path: Path) -> dict[str, str]:
    """A committer for git in `path`: git's own configuration where it names one, else the
    project's (IDENTITY), as environment variables."""
    return _identity(path)


@functools.cache
def _identity(path: Path) -> dict[str, str]:
    configured = subprocess.run(
        ["git", "config", "user.email"], cwd=path, capture_output=True, text=True
    )
    return {} if configured.stdout.strip() else IDENTITY


@dataclass(frozen=True)
class GitopsCheckout:
    path: Path
    branch: str
    remote: str = "origin"

    def git(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 120,
        raw: bool = False,
        input: str | None = None,
    ) -> Any:
        done = self._run(args, timeout, input)
        if done.returncode != 0 and args[0] in _NETWORK:
            self._answers_or_raise(args[0], done.stderr)
        if raw:
            return done.returncode
        if check and done.returncode != 0:
            raise GitError(
                f"git {' '.join(args)} (in {self.path}) failed: "
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done.stdout.strip()

    def _run(
        self, args: tuple[str, ...], timeout: float, input: str | None = None
    ) -> subprocess.CompletedProcess:
        env = {**_identity(self.path), **os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            return subprocess.run(
                ["git", *args],
                cwd=self.path,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", f"no answer in {timeout:.0f} s")

    def _answers_or_raise(self, command: str, stderr: str) -> None:
        """RemoteUnreachable, naming the remote, unless it answers a plain ls-remote now."""
        probe = self._run(("ls-remote", "--heads", self.remote), PROBE_SECONDS)
        if probe.returncode == 0:
            return
        url = self._run(("remote", "get-url", self.remote), PROBE_SECONDS).stdout.strip()
        said = next(
            (line.strip() for line in (probe.stderr or stderr).splitlines() if line.strip()),
            "no answer",
        )
        raise RemoteUnreachable(
            f"the gitops remote {url or self.remote} cannot be reached (git {command}: {said})"
        )

    def check(self) -> None:
        """A work tree with the remote, or GitError saying what is missing."""
        if not (self.path / ".git").exists() and not self.path.is_dir():
            raise GitError(
                f"no gitops checkout at {self.path}: clone the gitops repository there "
                "(hecate:gitopsDir)"
            )
        self.git("rev-parse", "--is-inside-work-tree")
        self.git("remote", "get-url", self.remote)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def identity(self) -> str:
        """The remote and branch, as every runner's checkout of them names them (a journal
        written on one machine is read on another, whose checkout is elsewhere)."""
        return f"{self.git('remote', 'get-url', self.remote)}#{self.branch}"

    def fetch(self) -> None:
        self.git("fetch", "--quiet", self.remote, self.branch)

    def remote_head(self) -> str:
        """The branch's head on the remote (asked over the network, not from the last fetch)."""
        out = self.git("ls-remote", self.remote, f"refs/heads/{self.branch}")
        return out.split()[0] if out else ""

    def update(self) -> None:
        """Bring the checkout to the remote's head, keeping local commits on top (and what an
        interrupted `up` rendered and nobody committed yet: it is stashed around the rebase)."""
        self.fetch()
        self.git("rebase", "--quiet", "--autostash", f"{self.remote}/{self.branch}")

    def has(self, commit: str) -> bool:
        return self.succeeds("cat-file", "-e", f"{commit}^{{commit}}")

    def reach(self, commit: str) -> int:
        """Fetch history until `commit` is here (a shallow clone, as CI's checkout makes one,
        has only the branch's head): deepened step by step, then whole. Returns how many
        commits were fetched for it (0: it was here)."""
        if not commit or self.has(commit):
            return 0
        deepened = 0
        while self.git("rev-parse", "--is-shallow-repository") == "true":
            step = max(DEEPEN_STEP, deepened)
            self.git("fetch", "--quiet", f"--deepen={step}", self.remote, self.branch)
            deepened += step
            if self.has(commit):
                return deepened
            if deepened >= DEEPEN_WHOLE:
                self.git("fetch", "--quiet", "--unshallow", self.remote, self.branch)
        if not self.has(commit):
            self.fetch()
        if not self.has(commit):
            raise GitError(
                f"commit {commit[:12]} is not in the history of {self.remote}/{self.branch}"
            )
        return deepened

    def succeeds(self, *args: str) -> bool:
        return self.git(*args, check=False, raw=True) == 0

    def commit(self, directories: list[str], message: str) -> str | None:
        """Commit these directories as they are on disk (and nothing else staged); None when
        nothing changed."""
        self.git("add", "--all", "--", *directories)
        if self.succeeds("diff", "--cached", "--quiet", "--", *directories):
            return None
        self.git("commit", "--quiet", "-m", message, "--", *directories)
        return self.head()

    def push(self) -> tuple[str, int]:
        """Push HEAD to the branch, rebasing over what the remote gained meanwhile.
        Returns the pushed head and how many times the remote had moved."""
        for moved in range(PUSH_ATTEMPTS):
            done = self._run(
                ("push", "--quiet", self.remote, f"HEAD:refs/heads/{self.branch}"), 120
            )
            if done.returncode == 0:
                return self.head(), moved
            self._answers_or_raise("push", done.stderr)
            self.update()
        raise GitError(
            f"git push to {self.remote}/{self.branch} was refused {PUSH_ATTEMPTS} times: "
            f"{done.stderr.strip()}"
        )

    def knows(self, commit: str) -> bool:
        """Whether `commit` is one of this repository's (fetching once if unknown): a Flux
        revision of another repository is not."""
        if self.has(commit):
            return True
        self.fetch()
        return self.has(commit)

    def reached_by(self, commit: str) -> Callable[[str], bool | None]:
        """For the gate: whether a revision Flux applied includes `commit` (None: a revision
        of another repository, which says nothing either way)."""

        def reached(applied: str) -> bool | None:
            if not commit:
                return True
            if not self.knows(applied):
                return None
            return self.contains(applied, commit)

        return reached

    def contains(self, descendant: str, ancestor: str) -> bool:
        """Whether `descendant` is `ancestor` or comes after it (fetching once if unknown)."""
        if descendant == ancestor:
            return True
        if not self.has(descendant):
            self.fetch()
        return self.succeeds("merge-base", "--is-ancestor", ancestor, descendant)

    def revert(self, commits: list[str], message: str) -> str | None:
        """One commit undoing `commits` (oldest first); None when they change nothing now."""
        for commit in reversed(commits):
            self.git("revert", "--no-commit", commit)
        if self.succeeds("diff", "--cached", "--quiet"):
            return None
        self.git("commit", "--quiet", "-m", message)
        return self.head()

    # --- history of the cluster's directories ----------------------------------------------

    def remote_branch_head(self) -> str:
        """The branch's head as last fetched."""
        return self.git("rev-parse", f"{self.remote}/{self.branch}")

    def last_commit_of(self, directories: list[str], on_remote: bool = True) -> str:
        """The newest commit touching these directories, on the fetched remote branch (or
        HEAD); "" when none did."""
        where = f"{self.remote}/{self.branch}" if on_remote else "HEAD"
        return self.git("log", "-1", "--format=%H", where, "--", *directories)

    def commits_since(self, base: str, directories: list[str]) -> list[tuple[str, str]]:
        """(sha, subject) of each commit after `base` up to HEAD touching these directories,
        oldest first."""
        out = self.git("log", "--reverse", "--format=%H %s", f"{base}..HEAD", "--", *directories)
        return [
            (sha, subject) for sha, _, subject in (row.partition(" ") for row in out.splitlines())
        ]

    def clean(self, directories: list[str]) -> bool:
        """Whether these directories are as HEAD has them (nothing rendered and uncommitted)."""
        return not self.git("status", "--porcelain", "--", *directories)

    def drop_unpushed(self) -> None:
        """HEAD back to the branch as the remote last had it: commits made here and not pushed
        are dropped (a rollout that stopped makes them again)."""
        self.git("reset", "--quiet", "--keep", f"{self.remote}/{self.branch}")

    def discard(self, directories: list[str]) -> None:
        """These directories back to HEAD: what an interrupted `up` rendered and nobody
        committed is dropped."""
        self.git("checkout", "HEAD", "--", *directories, check=False)
        self.git("clean", "-fdq", "--", *directories)

    # --- objects and refs beside the branch (the rollout's lock and journal) ---------------

    def write_blob(self, text: str) -> str:
        return self.git("hash-object", "-w", "--stdin", input=text)

    def write_tree(self, entries: dict[str, tuple[str, str]]) -> str:
        """A tree of name -> (mode, sha); {} is the empty tree."""
        listing = "".join(
            f"{mode} {'tree' if mode == TREE else 'blob'} {sha}\t{name}\n"
            for name, (mode, sha) in entries.items()
        )
        return self.git("mktree", input=listing)

    def write_commit(self, tree: str, message: str, parent: str = "") -> str:
        """A commit of `tree` on no branch, after `parent` if given."""
        return self.git("commit-tree", tree, *(("-p", parent) if parent else ()), "-m", message)

    def message_of(self, commit: str) -> str:
        return self.git("log", "-1", "--format=%B", commit)

    def time_of(self, commit: str) -> datetime:
        return datetime.fromtimestamp(int(self.git("log", "-1", "--format=%ct", commit)), UTC)

    def read_at(self, commit: str, path: str) -> str | None:
        """The file at `path` in `commit`, None when it has none."""
        if not self.succeeds("cat-file", "-e", f"{commit}:{path}"):
            return None
        return self.git("show", f"{commit}:{path}")

    def names_at(self, commit: str, path: str) -> list[str]:
        """The names in the directory `path` of `commit`, [] when there is none."""
        if not self.succeeds("cat-file", "-e", f"{commit}:{path}"):
            return []
        return [n for n in self.git("ls-tree", "--name-only", f"{commit}:{path}").splitlines() if n]

    def remote_ref(self, ref: str) -> str:
        """The ref's commit on the remote (fetched), "" when there is none."""
        listed = self.git("ls-remote", self.remote, ref)
        if not listed:
            return ""
        self.git("fetch", "--quiet", self.remote, f"+{ref}:{ref}")
        return listed.split()[0]

    def push_ref(self, source: str, ref: str, expect: str) -> bool:
        """`source` (a commit, or "" to delete) to `ref` on the remote, only if the remote's ref
        is `expect` ("" for absent). False when the remote had something else."""
        lease = f"--force-with-lease={ref}:{expect}"
        return self.git("push", "--quiet", lease, self.remote, f"{source}:{ref}", raw=True) == 0
