"""The actions the workflows use, replaced by what they do on this machine (ACTIONS, with the
inputs each takes): checkout is a depth-1 fetch of a local remote; setup-python and cache are
the environment `make venv engine tools` built for this test run; artifacts are copied between
the jobs of a run."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..paths import ROOT
from ..processes import git
from .runs import HarnessError

if TYPE_CHECKING:
    from .jobs import Job

# The environments `make venv tools` built, which setup-python gives a job's workspace.
VIEWS = {
    ".venv": Path(sys.prefix),
    "policy/.venv": ROOT / "policy" / ".venv",
    ".tools/checkov": ROOT / ".tools" / "checkov",
}


def checkout(job: Job, given: dict) -> str:
    """A depth-1 clone of a local remote."""
    if "token" in given and not given["token"]:
        raise HarnessError(f"{job.where}: actions/checkout: the token is empty")
    repository = given.get("repository") or job.contexts["github"]["repository"]
    url = job.context.harness.url(repository)
    ours = repository == job.contexts["github"]["repository"]
    branch = job.context.event.branch if ours else "main"
    sha = job.context.sha if ours else job.context.harness.head("main", repository)
    dest = job.workspace / given.get("path", ".")
    dest.mkdir(parents=True, exist_ok=True)
    for args in (
        ("init", "--quiet", "--initial-branch", branch),
        ("remote", "add", "origin", url),
        ("fetch", "--quiet", "--depth=1", "origin", f"+{sha}:refs/remotes/origin/{branch}"),
        ("checkout", "--quiet", "-B", branch, f"refs/remotes/origin/{branch}"),
    ):
        git(*args, cwd=dest)
    return f"{repository}@{sha[:12]} into {dest} (depth 1)\n"


def setup_python(job: Job, given: dict) -> str:
    """The running interpreter and the virtualenvs make built."""
    wanted, running = (
        str(given.get("python-version")),
        f"{sys.version_info[0]}.{sys.version_info[1]}",
    )
    if wanted != running:
        raise HarnessError(f"{job.where}: setup-python {wanted}: the harness runs {running}")
    for relative, source in VIEWS.items():
        if not source.is_dir():
            raise HarnessError(
                f"{job.where}: setup-python: {source} is not built (make venv tools)"
            )
        view = job.workspace / relative
        view.mkdir(parents=True, exist_ok=True)
        for entry in source.iterdir():
            target = view / entry.name
            if entry.name.startswith(".installed"):
                target.touch()  # fresh, so that make finds the view current
            elif not target.exists():
                target.symlink_to(entry)
    job.path.insert(1, str(Path(sys.executable).parent))
    return f"python {running}: {', '.join(VIEWS)}\n"


def setup_go(job: Job, given: dict) -> str:
    """Go from this machine."""
    go = shutil.which("go")
    if not go:
        raise HarnessError(f"{job.where}: setup-go: no go on this machine")
    job.path.insert(1, str(Path(go).parent))
    return subprocess.run([go, "version"], capture_output=True, text=True).stdout


def cache(job: Job, given: dict) -> str:
    """The built cache."""
    if given.get("path") != "~/.cache/hecate":
        raise HarnessError(
            f"{job.where}: actions/cache: {given.get('path')}: only ~/.cache/hecate is known"
        )
    if not str(given.get("key", "")).strip():
        raise HarnessError(f"{job.where}: actions/cache: the key is empty")
    (job.home / ".cache").mkdir(exist_ok=True)
    link = job.home / ".cache" / "hecate"
    if not link.exists():
        link.symlink_to(job.context.harness.cache)
    return f"restored {given['key']}\n"


def upload(job: Job, given: dict) -> str:
    """Files kept for later jobs of the run."""
    target = job.context.harness.artifacts / f"run-{job.context.harness.runs}" / given["name"]
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(glob.glob(str(given["path"])))
    for name in files:
        shutil.copy(name, target)
    return f"{given['name']}: {len(files)} file(s)\n"


def download(job: Job, given: dict) -> str:
    """Files an earlier job kept."""
    found = job.context.harness.artifacts / f"run-{job.context.harness.runs}"
    target = Path(given["path"])
    names = sorted(p for p in found.glob("*") if fnmatch.fnmatch(p.name, given["pattern"]))
    for artifact in names:
        into = target if given.get("merge-multiple") else target / artifact.name
        into.mkdir(parents=True, exist_ok=True)
        for file in artifact.iterdir():
            shutil.copy(file, into)
    return f"{len(names)} artifact(s)\n"


def hash_files(workspace: Path, *patterns: str) -> str:
    files = sorted(
        {
            p
            for pattern in patterns
            for p in glob.glob(str(workspace / pattern), recursive=True)
            if Path(p).is_file()
        }
    )
    if not files:
        return ""
    outer = hashlib.sha256()
    for name in files:
        outer.update(hashlib.sha256(Path(name).read_bytes()).digest())
    return outer.hexdigest()


# Each known action: what it does here, and the inputs (`with:`) it takes.
ACTIONS = {
    "actions/checkout@v4": (checkout, {"repository", "token", "path"}),
    "actions/setup-python@v5": (setup_python, {"python-version"}),
    "actions/setup-go@v5": (setup_go, {"go-version"}),
    "actions/cache@v4": (cache, {"path", "key"}),
    "actions/upload-artifact@v4": (upload, {"name", "path"}),
    "actions/download-artifact@v4": (download, {"pattern", "merge-multiple", "path"}),
}
