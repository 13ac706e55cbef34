"""Local bare remotes standing for the team's GitHub repositories in the workflow tests:
hecate-infra holds this checkout's program, Makefile, scripts and workflows (what CI checks
out), with the stack files and the rollout plan a test gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .paths import ROOT

# What hecate-infra's CI needs of the project: the program, the workflows and the build.
INFRA_FILES = [
    ".checkov.yaml",
    ".ci",
    ".github",
    ".gitignore",
    "Makefile",
    "Pulumi.yaml",
    "__main__.py",
    "engine",
    "hecate",
    "policy",
    "pyproject.toml",
    "requirements.txt",
    "scripts",
]
IGNORED = shutil.ignore_patterns(".venv", "__pycache__", "*.pyc", ".pytest_cache")
AUTHOR = {
    "GIT_AUTHOR_NAME": "hecate-team",
    "GIT_AUTHOR_EMAIL": "team@hecate.invalid",
    "GIT_COMMITTER_NAME": "hecate-team",
    "GIT_COMMITTER_EMAIL": "team@hecate.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def infra_remote(bare: Path, files: dict[str, str]) -> str:
    """A bare hecate-infra at `bare`, main holding the project's files and `files` (path →
    text: the stack files, the plan); main's commit."""
    _git("init", "--quiet", "--bare", "--initial-branch", "main", str(bare))
    with tempfile.TemporaryDirectory(dir=bare.parent) as work:
        tree = Path(work) / "tree"
        tree.mkdir()
        for name in INFRA_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, tree / name, ignore=IGNORED)
            else:
                shutil.copy(source, tree / name)
        for name, text in files.items():
            (tree / name).write_text(text)
        _git("init", "--quiet", "--initial-branch", "main", cwd=tree)
        _git("add", "-A", cwd=tree)
        _git("commit", "--quiet", "-m", "hecate-infra", cwd=tree)
        _git("push", "--quiet", str(bare), "main", cwd=tree)
        return _git("rev-parse", "HEAD", cwd=tree)


def commit_to(bare: Path, files: dict[str, str], message: str, branch: str = "main") -> str:
    """`files` (path → text) committed on `branch` of the remote, as a merged change or a
    teammate's push; the new head."""
    with tempfile.TemporaryDirectory(dir=bare.parent) as work:
        clone = Path(work) / "clone"
        _git("clone", "--quiet", "--branch", branch, str(bare), str(clone))
        for name, text in files.items():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_text(text)
        _git("add", "-A", cwd=clone)
        _git("commit", "--quiet", "-m", message, cwd=clone)
        _git("push", "--quiet", "origin", branch, cwd=clone)
        return _git("rev-parse", "HEAD", cwd=clone)


def show(bare: Path, path: str, ref: str = "main") -> str:
    return _git("show", f"{ref}:{path}", cwd=bare)


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **AUTHOR}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()
