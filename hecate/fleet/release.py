"""`fleet release VERSION`: a daemon release becomes a change to the stack files, the one
version of record. `hecate:version` is written into each chosen stack file (its comments and
everything else kept) and committed alone on a branch `release/<version>` of this repository;
in CI the release workflow pushes it and opens the pull request, whose check is the sharded
preview, and merging it is what rolls it out (main.yml, on push).

Refused before anything is written (exit 2): a version that is not a release version, one
below what a chosen stack file holds (never backwards by a release; `fleet rollout
--allow-downgrade` is the way back), a tag the stacks' image registry does not hold (unless
`--skip-registry-check`), uncommitted changes to the stack files, a branch that exists (here or
on the remote).
`--newest` asks the registry for the newest release newer than the stack files hold, and does
nothing (exit 0) when there is none or its branch is on the remote already (the hourly run
finds the pull request it opened an hour ago).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import semver

from ..grammars import is_release_version
from ..naming import VERSION_KEY
from ..project import StackFileError, with_version
from .gitops_repo import committer_env
from .registry import Registry, RegistryError
from .stacks import FleetProject
from .versions import is_older

BRANCH_PREFIX = "release/"


class ReleaseRefused(ValueError):
    """Bad input: nothing was written."""


class ReleaseFailed(RuntimeError):
    """Git or the registry failed on the way (nothing was committed)."""


@dataclass(frozen=True)
class Released:
    HEADERS: ClassVar[tuple[str, ...]] = ("stack", "cluster", "from", "to")
    stack: str
    cluster: str
    before: str
    after: str

    def cells(self) -> tuple[str, ...]:
        return (self.stack, self.cluster, self.before, self.after)


def newest_release(tags: list[str], above: str, pre_releases: bool) -> str | None:
    """The newest release version among `tags` newer than `above` (pre-releases only when
    asked for), or None."""
    candidates = []
    for tag in tags:
        if not is_release_version(tag):
            continue
        parsed = semver.Version.parse(tag)
        if parsed.prerelease and not pre_releases:
            continue
        if not above or is_older(above, tag):
            candidates.append((parsed, tag))
    return max(candidates)[1] if candidates else None


@dataclass
class Release:
    project: FleetProject
    stacks: list[str]
    check_registry: bool = True

    def __post_init__(self) -> None:
        unknown = [s for s in self.stacks if s not in self.project.stacks]
        if unknown:
            raise ReleaseRefused(
                f"--stacks: {', '.join(unknown)}: no such stack (no Pulumi.<stack>.yaml); the "
                f"stacks are {', '.join(self.project.stacks)}"
            )
        self.images = sorted({self.project.target(s).settings.image for s in self.stacks})

    def held(self) -> str:
        """The newest version the chosen stack files hold."""
        versions = [v for s in self.stacks if (v := self.project.committed_version(s))]
        return max(versions, key=semver.Version.parse) if versions else ""

    def newest(self, pre_releases: bool) -> str | None:
        """The newest release in the registry newer than the stack files hold."""
        found: set[str] | None = None
        for image in self.images:
            try:
                tags = set(Registry(image).tags())
            except RegistryError as error:
                raise ReleaseFailed(f"asking {image} for its tags: {error}") from None
            found = tags if found is None else found & tags  # released for every image
        return newest_release(sorted(found or ()), self.held(), pre_releases)

    def check(self, version: str) -> list[Released]:
        """What the release changes, or ReleaseRefused; nothing is written."""
        if not (self.project.root / ".git").exists():
            raise ReleaseRefused(f"{self.project.root} is not a git checkout of the project")
        for stack in self.stacks:
            self.project.target(stack, **{VERSION_KEY: version})  # ConfigError names it
        changes = []
        for stack in self.stacks:
            before = self.project.committed_version(stack) or ""
            if is_older(version, before):
                raise ReleaseRefused(
                    f"{version} is older than {before}, which Pulumi.{stack}.yaml holds: a "
                    "release never goes backwards (to go back on purpose, set the stack files "
                    "back on main and roll out with --allow-downgrade: main.yml's "
                    "allow_downgrade input)"
                )
            if before != version:
                changes.append(
                    Released(stack, self.project.target(stack).settings.cluster, before, version)
                )
        if changes and self.check_registry:
            for image in self.images:
                try:
                    exists = Registry(image).has_tag(version)
                except RegistryError as error:
                    raise ReleaseRefused(
                        f"{image}:{version}: the registry could not be asked ({error}); where "
                        "it cannot be reached, --skip-registry-check releases without asking"
                    ) from None
                if not exists:
                    raise ReleaseRefused(
                        f"{image}:{version}: no such tag in its registry; push the image first "
                        "(or, for a registry this machine cannot reach, --skip-registry-check)"
                    )
        return changes

    def pending(self, version: str) -> str:
        """`release/<version>` if the remote `origin` has that branch already (its pull
        request is open, or was closed unmerged), else ""."""
        branch = f"{BRANCH_PREFIX}{version}"
        remotes = _git(self.project.root, "remote").split()
        if "origin" not in remotes:
            return ""
        return branch if _git(self.project.root, "ls-remote", "--heads", "origin", branch) else ""

    def commit(self, version: str, changes: list[Released]) -> str:
        """The branch `release/<version>` with one commit of the changed stack files; the
        branch's name. The checkout is left on it."""
        root, branch = self.project.root, f"{BRANCH_PREFIX}{version}"
        files = [f"Pulumi.{c.stack}.yaml" for c in changes]
        if _git(root, "status", "--porcelain", "--", *files):
            raise ReleaseRefused(
                f"uncommitted changes in {', '.join(files)}: commit or stash them first"
            )
        if _git(root, "branch", "--list", branch):
            raise ReleaseRefused(f"the branch {branch} exists already")
        try:  # all, before any is written
            texts = {f: with_version((root / f).read_text(), version, f) for f in files}
        except StackFileError as error:
            raise ReleaseFailed(str(error)) from None
        _git(root, "switch", "--quiet", "-c", branch)
        for name, text in texts.items():
            (root / name).write_text(text)
        _git(root, "add", "--", *files)
        clusters = ", ".join(c.cluster for c in changes)
        message = f"release: hecate-daemon {version}\n\nStacks: {clusters}."
        _git(root, "commit", "--quiet", "-m", message, "--", *files)
        return branch


def _git(root: Path, *args: str) -> str:
    env = {**committer_env(root), **os.environ}
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise ReleaseFailed(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()
