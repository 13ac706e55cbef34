"""Local bare remotes standing for the team's GitHub repositories in the workflow tests:
hecate-infra holds this checkout's program, Makefile, scripts and workflows (what CI checks
out), with the stack files and the rollout plan a test gives."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .deployment import git_env
from .paths import ROOT
from .processes import git

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


def infra_remote(bare: Path, files: dict[str, str]) -> str:
    """A bare hecate-infra at `bare`, main holding the project's files and `files` (path →
    text: the stack files, the plan); main's commit."""
    git("init", "--quiet", "--bare", "--initial-branch", "main", str(bare), cwd=bare.parent)
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
        git("init", "--quiet", "--initial-branch", "main", cwd=tree)
        return _commit_and_push(tree, "hecate-infra", str(bare), "main")


def commit_to(bare: Path, files: dict[str, str], message: str, branch: str = "main") -> str:
    """`files` (path → text) committed on `branch` of the remote, as a merged change or a
    teammate's push; the new head."""
    with tempfile.TemporaryDirectory(dir=bare.parent) as work:
        clone = Path(work) / "clone"
        git("clone", "--quiet", "--branch", branch, str(bare), str(clone), cwd=bare.parent)
        for name, text in files.items():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_text(text)
        return _commit_and_push(clone, message, "origin", branch)


def show(bare: Path, path: str, ref: str = "main") -> str:
    return git("show", f"{ref}:{path}", cwd=bare)


def _commit_and_push(tree: Path, message: str, *push: str) -> str:
    """Everything in `tree` committed (as the test bed) and pushed; the commit."""
    env = git_env()
    for args in (("add", "-A"), ("commit", "--quiet", "-m", message), ("push", "--quiet", *push)):
        git(*args, cwd=tree, env=env)
    return git("rev-parse", "HEAD", cwd=tree)
