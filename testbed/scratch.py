"""Scratch copies of the project, run under the real Pulumi engine: its own state backend,
its stacks initialised as the committed files say (the e2e tests, the fleet tests, the benches)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from hecate.project import SECRET_PLACEHOLDER, secure_paths, stack_names
from testbed.paths import BIN, CACHE, ROOT

PROJECT_FILES = ["Pulumi.yaml", "__main__.py", "requirements.txt", "hecate", "policy"]
POLICY_VENV = ROOT / "policy" / ".venv"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def missing_tools() -> list[str]:
    """What `make engine kubernetes-provider tools` should have installed and did not."""
    wanted = ["pulumi", "pulumi-language-python", "kustomize", "kubeseal"]
    missing = [f"{BIN}/{tool}" for tool in wanted if not (BIN / tool).is_file()]
    if not list((CACHE / "pulumi-home" / "plugins").glob("resource-kubernetes-v*")):
        missing.append("the kubernetes provider plugin")
    if not (POLICY_VENV / "bin" / "python").is_file():
        missing.append(f"the policy pack's virtualenv {POLICY_VENV}")
    if not CHECKOV.is_file():
        missing.append(str(CHECKOV))
    return missing


def engine_env(state: Path) -> dict[str, str]:
    """The environment of a pulumi command: cached engine, throwaway file backend."""
    state.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_HOME": str(CACHE / "pulumi-home"),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "e2e-throwaway-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "NO_COLOR": "1",
        }
    )
    return env


def portable_stack_file(source: Path, destination: Path) -> list[str]:
    """Copy a stack file without what ties it to its own backend: the passphrase's salt and the
    values encrypted with it. Returns the `--path` of each encrypted value, to set again."""
    content = yaml.safe_load(source.read_text()) or {}
    content.pop("encryptionsalt", None)
    config = content.get("config") or {}
    removed = []
    for key, value in list(config.items()):
        for path in secure_paths(value):
            removed.append(".".join((key, *path)))
            if not path:
                del config[key]
                continue
            parent = value
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
    destination.write_text(yaml.safe_dump(content, sort_keys=False))
    return removed


def set_plain(stack_file: Path, settings: dict) -> None:
    """Plain (not secret) settings into a stack file, as `pulumi config set --path` writes
    them: a mapping merged into the one the file has. One write rather than a pulumi process a
    setting, each of which derives the passphrase's key (a million PBKDF2 rounds)."""
    content = yaml.safe_load(stack_file.read_text()) or {}
    config = content.setdefault("config", {})
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    stack_file.write_text(yaml.safe_dump(content, sort_keys=False))


def copy_files(names: list[str], destination: Path) -> None:
    """These files and directories of the project into `destination` (no virtualenv, no
    bytecode)."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", ".venv")
            )
        else:
            shutil.copy2(source, destination / name)


def copy_project(destination: Path, stacks: list[str] | None = None) -> dict[str, list[str]]:
    """The program and its stack files, with .venv pointing at the running interpreter's venv.

    Returns, per stack, the config paths whose encrypted values were left out."""
    destination.mkdir(parents=True)
    copy_files(PROJECT_FILES, destination)
    removed = {}
    for stack in stack_names(ROOT):
        if stacks is None or stack in stacks:
            name = f"Pulumi.{stack}.yaml"
            removed[stack] = portable_stack_file(ROOT / name, destination / name)
    (destination / ".venv").symlink_to(sys.prefix)
    (destination / "policy" / ".venv").symlink_to(POLICY_VENV)
    return removed


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Project:
    path: Path
    env: dict[str, str]

    def pulumi(self, *args: str, check: bool = True, timeout: float = 600) -> Result:
        # The global flag goes first: anything after a `--` in args is a value.
        done = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(done.returncode, done.stdout, done.stderr)
        if check:
            assert result.code == 0, (
                f"pulumi {' '.join(args)} failed ({result.code}):\n{result.text}"
            )
        return result

    def start(self, *args: str) -> subprocess.Popen:
        """A pulumi command in the background, in a session of its own, output discarded."""
        return subprocess.Popen(
            ["pulumi", "--non-interactive", *args],
            cwd=self.path,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def preview_steps(self, stack: str, *extra: str) -> list[dict]:
        """The steps of `pulumi preview --json`."""
        return json.loads(self.pulumi("preview", "--stack", stack, "--json", *extra).out).get(
            "steps", []
        )

    def files(self, under: str = "gitops") -> dict[str, str]:
        """Every file under a directory of the project, by relative path, with its sha256."""
        base = self.path / under
        return (
            {
                str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(base.rglob("*"))
                if p.is_file()
            }
            if base.exists()
            else {}
        )


def init_stack(project: Project, stack: str, encrypted: list[str]) -> None:
    """The stack in the project's backend, keeping its shape: each encrypted value that
    copy_project left out is set again, encrypted for this backend."""
    project.pulumi("stack", "init", stack)
    for path in encrypted:
        project.pulumi(
            "config",
            "set",
            "--secret",
            "--path",
            path,
            SECRET_PLACEHOLDER,
            "--stack",
            stack,
        )


def new_project(tmp_path: Path, stack: str, **extra_env: str) -> Project:
    """A copy of the project holding one stack, on a throwaway backend under tmp_path."""
    removed = copy_project(tmp_path / "project", stacks=[stack])
    project = Project(tmp_path / "project", {**engine_env(tmp_path / "state"), **extra_env})
    init_stack(project, stack, removed[stack])
    return project
