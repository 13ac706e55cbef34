"""The workflow harness: runs the project's GitHub workflows as written, job by job, on this
machine, against local bare remotes (hecate-infra and hecate-gitops) and the built cache.

- The workflow file is read from the remote at the event's commit, as GitHub does.
- Jobs run in `needs` order with their `if:`; a matrix is expanded (its legs one after
  another); job outputs and `needs.*` are passed on.
- `run:` steps run in order with `bash --noprofile --norc -eo pipefail`, their workflow, job
  and step `env`, `if:`, `GITHUB_OUTPUT` (step outputs), `GITHUB_ENV`, `GITHUB_STEP_SUMMARY`,
  `RUNNER_TEMP`, in a workspace of the job's own and a HOME of its own.
- The actions it knows are replaced by what they do here (ACTIONS); setup-python and cache
  stand for the environment `make venv engine tools` built for this test run (the workspace's
  virtualenvs are views of the running ones, their stamps fresh, and ~/.cache/hecate is the
  built cache), so that `make venv engine tools` as written finds everything current.
- `gh` is the tests' recorder (testbed/gh_recorder.py), GitHub's API being out of reach.

Anything it does not know (an action, a key of a job or step, an input of an action, an
expression, a secret or a variable the test did not give) raises HarnessError naming it."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .gh_recorder import STATE, load
from .paths import ROOT
from .workflow_expressions import (
    EXPRESSION,
    FUNCTIONS,
    Evaluator,
    UnknownExpression,
    check,
    interpolate,
    text,
    truthy,
)

JOB_KEYS = {"runs-on", "needs", "if", "outputs", "steps", "strategy", "timeout-minutes", "env"}
STEP_KEYS = {"id", "name", "uses", "with", "run", "env", "if"}
STRATEGY_KEYS = {"matrix", "fail-fast"}
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The environments `make venv tools` built, which setup-python gives a job's workspace.
VIEWS = {
    ".venv": Path(sys.prefix),
    "policy/.venv": ROOT / "policy" / ".venv",
    ".tools/checkov": ROOT / ".tools" / "checkov",
}


class HarnessError(RuntimeError):
    """The workflow uses something the harness does not know (named), or is malformed."""


@dataclass(frozen=True)
class Event:
    """What triggered the run: `name` as in `on:`, the branch and commit of hecate-infra it
    runs at (the branch's head on the remote when `sha` is None), its payload and inputs."""

    name: str
    branch: str = "main"
    sha: str | None = None
    payload: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)


@dataclass
class StepRun:
    name: str
    outcome: str  # success, failure, skipped
    code: int | None = None
    log: str = ""


@dataclass
class JobRun:
    name: str
    result: str  # success, failure, skipped
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    summary: str = ""
    workspace: Path | None = None

    def step(self, name: str) -> StepRun:
        found = [s for s in self.steps if s.name == name]
        assert found, f"no step {name!r} in {self.name}: {[s.name for s in self.steps]}"
        return found[0]

    @property
    def log(self) -> str:
        return "".join(f"--- {s.name} ({s.outcome}, exit {s.code})\n{s.log}" for s in self.steps)


@dataclass
class WorkflowRun:
    workflow: str
    event: Event
    sha: str
    jobs: list[JobRun]

    def job(self, name: str) -> JobRun:
        found = [j for j in self.jobs if j.name == name]
        assert found, f"no job {name!r} in {self.workflow}: {[j.name for j in self.jobs]}"
        return found[0]

    @property
    def conclusion(self) -> str:
        return "failure" if any(j.result == "failure" for j in self.jobs) else "success"

    @property
    def log(self) -> str:
        return "\n".join(f"=== {j.name}: {j.result}\n{j.log}" for j in self.jobs)


class Harness:
    def __init__(
        self,
        workdir: Path,
        remotes: dict[str, Path | str],
        secrets: dict[str, str],
        variables: dict[str, str] | None = None,
        owner: str = "hecate-social",
        cache: Path | None = None,
    ):
        self.workdir, self.owner = workdir, owner
        self.remotes = {f"{owner}/{name}": path for name, path in remotes.items()}
        self.secrets, self.variables = secrets, variables or {}
        self.cache = cache or Path(os.environ.get("HECATE_CACHE", "~/.cache/hecate")).expanduser()
        self.gh_state = workdir / "github.json"
        self.artifacts = workdir / "artifacts"
        self.runs = 0
        self.current: subprocess.Popen | None = None
        self.killed = False
        bin_dir = workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        gh = bin_dir / "gh"
        gh.write_text(
            f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m testbed.gh_recorder "$@"\n'
        )
        gh.chmod(0o755)
        self.bin = bin_dir

    @property
    def repository(self) -> str:
        return f"{self.owner}/hecate-infra"

    def github(self) -> dict:
        """What the recorder holds: pull requests, comments, calls."""
        return load(self.gh_state)

    # -- GitHub's side of the road, done here with git --

    def head(self, branch: str = "main", repository: str = "hecate-infra") -> str:
        out = _git("ls-remote", "--heads", self._url(repository), branch)
        if not out:
            raise HarnessError(f"{repository} has no branch {branch}")
        return out.split()[0]

    def merge(self, number: int) -> str:
        """Merges pull request `number` as GitHub's merge button does (a merge commit on its
        base); the new head of the base branch."""
        state = self.github()
        pull = next(p for p in state["pulls"] if p["number"] == number)
        assert pull["state"] == "open", pull
        clone = self.workdir / f"merge-{number}"
        remote = self._remote("hecate-infra")
        _git("clone", "--quiet", "--branch", pull["base"], str(remote), str(clone))
        _git("fetch", "--quiet", "origin", pull["head"], cwd=clone)
        _git(
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            f"Merge pull request #{number} from {pull['head']}",
            "FETCH_HEAD",
            cwd=clone,
            env=_committer(),
        )
        _git("push", "--quiet", "origin", pull["base"], cwd=clone)
        shutil.rmtree(clone)
        pull["state"] = "merged"
        self.gh_state.write_text(json.dumps(state, indent=2))
        return self.head(pull["base"])

    def _url(self, repository: str) -> str:
        """Where a repository is cloned from: a bare directory's file:// URL, or a git server's."""
        remote = self._remote(repository)
        return remote if isinstance(remote, str) else f"file://{remote}"

    def _remote(self, repository: str) -> Path | str:
        name = repository if "/" in repository else f"{self.owner}/{repository}"
        if name not in self.remotes:
            raise HarnessError(
                f"actions/checkout: no local remote for {name} (known: {', '.join(self.remotes)})"
            )
        return self.remotes[name]

    # -- runs --

    def validate(self, spec: dict, workflow: str) -> None:
        """Every job and step of the workflow, run or not: their keys, actions and inputs,
        and every expression's functions, contexts, secrets and variables."""
        contexts = {
            **dict.fromkeys(("github", "env", "inputs", "matrix", "strategy", "needs")),
            **dict.fromkeys(("steps", "runner")),
            "secrets": self.secrets,
            "vars": self.variables,
        }
        functions = {*FUNCTIONS, "hashFiles", "always", "success", "failure", "cancelled"}

        def expressions(value: Any, where: str, implicit: bool = False) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    expressions(inner, f"{where}.{key}", implicit and key == "if")
            elif isinstance(value, list):
                for index, inner in enumerate(value):
                    expressions(inner, f"{where}[{index}]")
            elif isinstance(value, str):
                found = [m[1] for m in EXPRESSION.finditer(value)]
                try:
                    for source in found or ([value] if implicit else []):
                        check(source, contexts, functions)
                except UnknownExpression as error:
                    raise HarnessError(f"{workflow}: {where}: {error}") from None

        expressions(spec.get("env"), "env")
        for name, job in (spec.get("jobs") or {}).items():
            unknown = sorted(set(job) - JOB_KEYS)
            if unknown:
                raise HarnessError(f"{workflow}: job {name}: unknown key {', '.join(unknown)}")
            if "if" in job:
                expressions({"if": job["if"]}, f"job {name}", implicit=True)
            for key in ("env", "outputs", "strategy"):
                expressions(job.get(key), f"job {name}: {key}")
            for number, step in enumerate(job.get("steps") or [], 1):
                where = f"job {name}: step {number}"
                unknown = sorted(set(step) - STEP_KEYS)
                if unknown:
                    raise HarnessError(f"{workflow}: {where}: unknown key {', '.join(unknown)}")
                uses = step.get("uses")
                if uses is not None and uses not in ACTIONS:
                    known = ", ".join(ACTIONS)
                    raise HarnessError(
                        f"{workflow}: {where}: unknown action {uses} (known: {known})"
                    )
                inputs = set(step.get("with") or {}) - (ACTIONS[uses][1] if uses else set())
                if inputs:
                    raise HarnessError(
                        f"{workflow}: {where}: {uses} has no input {', '.join(sorted(inputs))} here"
                    )
                expressions(step, where, implicit=True)

    def kill(self) -> None:
        """Kills the step that runs now, and everything it started (a stopped runner)."""
        self.killed = True
        if self.current and self.current.poll() is None:
            os.killpg(self.current.pid, signal.SIGKILL)

    def run(self, workflow: str, event: Event, jobs: list[str] | None = None) -> WorkflowRun:
        """Runs `.github/workflows/<workflow>` for `event` (only `jobs`, in their order, if
        given: a job outside them counts as skipped)."""
        self.runs += 1
        self.killed = False
        sha = event.sha or self.head(event.branch)
        remote = self._remote("hecate-infra")
        source = _git("show", f"{sha}:.github/workflows/{workflow}", cwd=remote)
        spec = yaml.safe_load(source)
        triggers = spec.get(True, spec.get("on")) or {}
        if event.name not in triggers:
            raise HarnessError(
                f"{workflow} does not run on {event.name} (on: {', '.join(triggers)})"
            )
        declared = ((triggers.get("workflow_dispatch") or {}).get("inputs")) or {}
        unknown = sorted(set(event.inputs) - set(declared))
        if unknown:
            raise HarnessError(f"{workflow}: no workflow_dispatch input {', '.join(unknown)}")
        inputs = {}
        if event.name == "workflow_dispatch":
            inputs = {k: event.inputs.get(k, v.get("default")) for k, v in declared.items()}
        run_dir = self.workdir / f"run-{self.runs}"
        github = {
            "repository": self.repository,
            "repository_owner": self.owner,
            "event_name": event.name,
            "event": event.payload,
            "sha": sha,
            "ref": f"refs/heads/{event.branch}",
            "workspace": None,
        }
        context = _Context(self, spec, run_dir, github, inputs, event, sha, workflow)
        self.validate(spec, workflow)
        unknown_before = len(self.github()["unknown"])
        done: dict[str, JobRun] = {}
        for name in _job_order(spec.get("jobs") or {}, workflow):
            job = spec["jobs"][name]
            if (jobs is not None and name not in jobs) or self.killed:
                done[name] = JobRun(name, "skipped")
                continue
            done[name] = context.job(name, job, done)
        calls = self.github()["unknown"][unknown_before:]
        if calls:
            said = "; ".join("gh " + " ".join(c["argv"]) for c in calls)
            raise HarnessError(
                f"{workflow}: calls GitHub's API in a way the recorder does not know: {said}"
            )
        return WorkflowRun(workflow, event, sha, list(done.values()))


def _job_order(jobs: dict, workflow: str) -> list[str]:
    order: list[str] = []
    while len(order) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in order and set(_needs(j)) <= set(order)]
        if not ready:
            raise HarnessError(f"{workflow}: the jobs' needs form a cycle or name no job")
        order.extend(ready)
    return order


def _needs(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


@dataclass
class _Context:
    harness: Harness
    spec: dict
    run_dir: Path
    github: dict
    inputs: dict
    event: Event
    sha: str
    workflow: str

    def job(self, name: str, job: dict, done: dict[str, JobRun]) -> JobRun:
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(job)}
        base = {
            "github": self.github,
            "inputs": self.inputs,
            "vars": self.harness.variables,
            "secrets": self.harness.secrets,
            "needs": needs,
        }
        results = [done[n].result for n in needs]
        status = {
            "always": lambda: True,
            "success": lambda: all(r == "success" for r in results),
            "failure": lambda: any(r == "failure" for r in results),
            "cancelled": lambda: False,
        }
        if not self._condition(job.get("if"), base, status, f"job {name}"):
            return JobRun(name, "skipped")
        strategy = job.get("strategy") or {}
        unknown = sorted(set(strategy) - STRATEGY_KEYS)
        if unknown:
            raise HarnessError(
                f"{self.workflow}: job {name}: unknown strategy key {', '.join(unknown)}"
            )
        legs = self._matrix(strategy.get("matrix"), base, name)
        run = JobRun(name, "success")
        for index, matrix in enumerate(legs):
            leg = _Job(
                self,
                name,
                job,
                {
                    **base,
                    "matrix": matrix,
                    "strategy": {"job-index": index, "job-total": len(legs)},
                },
                index,
            )
            leg_run = leg.run()
            run.steps += leg_run.steps
            run.outputs.update(leg_run.outputs)
            run.summary += leg_run.summary
            run.workspace = leg_run.workspace
            if leg_run.result == "failure":
                run.result = "failure"
                if strategy.get("fail-fast", True):
                    break
            if self.harness.killed:
                run.result = "failure"
                break
        return run

    def _matrix(self, matrix: Any, base: dict, name: str) -> list[dict]:
        if matrix is None:
            return [{}]
        evaluator = Evaluator(base)
        if isinstance(matrix, str):
            matrix = self.evaluate(matrix, evaluator, f"job {name}: matrix")
        if not isinstance(matrix, dict) or {"include", "exclude"} & set(matrix):
            raise HarnessError(f"{self.workflow}: job {name}: a matrix of keys and lists only")
        axes = {}
        for key, values in matrix.items():
            if isinstance(values, str):
                values = self.evaluate(values, evaluator, f"job {name}: matrix.{key}")
            if not isinstance(values, list) or not values:
                raise HarnessError(
                    f"{self.workflow}: job {name}: matrix.{key} is {values!r}, not a list"
                )
            axes[key] = values
        return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]

    def evaluate(self, value: Any, evaluator: Evaluator, where: str) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return interpolate(value, evaluator)
        except UnknownExpression as error:
            raise HarnessError(f"{self.workflow}: {where}: {error}") from None

    def _condition(self, condition: Any, contexts: dict, status: dict, where: str) -> bool:
        if condition is None:
            return status["success"]()
        source = str(condition).strip()
        if source.startswith("${{") and source.endswith("}}"):
            source = source[3:-2]
        if not any(f"{s}()" in source for s in status):
            source = f"success() && ({source})"
        try:
            return truthy(Evaluator(contexts, status).evaluate(source))
        except UnknownExpression as error:
            raise HarnessError(f"{self.workflow}: {where}: if: {error}") from None


class _Job:
    """One leg of a job: its workspace, HOME and temp, its steps in order."""

    def __init__(self, context: _Context, name: str, job: dict, contexts: dict, index: int):
        self.context, self.name, self.job = context, name, job
        self.where = f"{context.workflow}: job {name}" + (
            f"[{index}]" if contexts["matrix"] else ""
        )
        root = context.run_dir / f"{name}-{index}"
        self.workspace, self.temp, self.home = root / "workspace", root / "temp", root / "home"
        for directory in (self.workspace, self.temp, self.home):
            directory.mkdir(parents=True)
        self.contexts = {
            **contexts,
            "github": {**contexts["github"], "workspace": str(self.workspace)},
            "runner": {"temp": str(self.temp), "os": "Linux", "arch": "X64"},
            "steps": {},
            "env": {},
        }
        self.path = [str(context.harness.bin), BASE_PATH]
        self.env: dict[str, str] = {}
        self.failed = False

    def _evaluator(self) -> Evaluator:
        return Evaluator(self.contexts, {"hashFiles": self.hash_files})

    def _env(self, values: dict | None, where: str) -> dict[str, str]:
        evaluator = self._evaluator()
        return {
            k: text(self.context.evaluate(v, evaluator, f"{where}: env.{k}"))
            for k, v in (values or {}).items()
        }

    def run(self) -> JobRun:
        run = JobRun(self.name, "success", workspace=self.workspace)
        self.env = self._env(self.context.spec.get("env"), self.where)
        self.env.update(self._env(self.job.get("env"), self.where))
        timeout = float(self.job.get("timeout-minutes", 360)) * 60
        started = time.monotonic()
        for number, step in enumerate(self.job.get("steps") or [], 1):
            label = step.get("name") or step.get("uses") or str(step.get("run", "")).splitlines()[0]
            status = {
                "always": lambda: True,
                "success": lambda: not self.failed,
                "failure": lambda: self.failed,
                "cancelled": lambda: False,
            }
            if self.context.harness.killed or not self.context._condition(
                step.get("if"), self.contexts, status, f"{self.where}: step {label!r}"
            ):
                run.steps.append(StepRun(label, "skipped"))
                continue
            left = timeout - (time.monotonic() - started)
            result = self._step(step, label, number, left)
            run.steps.append(result)
            if step.get("id"):
                self.contexts["steps"][step["id"]]["outcome"] = result.outcome
                self.contexts["steps"][step["id"]]["conclusion"] = result.outcome
            if result.outcome == "failure":
                self.failed = True
        evaluator = self._evaluator()
        run.outputs = {
            k: text(self.context.evaluate(v, evaluator, f"{self.where}: outputs.{k}"))
            for k, v in (self.job.get("outputs") or {}).items()
        }
        summaries = sorted(self.temp.glob("summary-*"), key=lambda p: int(p.name.split("-")[1]))
        run.summary = "".join(p.read_text() for p in summaries)
        run.result = "failure" if self.failed or self.context.harness.killed else "success"
        return run

    def _step(self, step: dict, label: str, number: int, timeout: float) -> StepRun:
        step_id = step.get("id")
        if step_id:
            self.contexts["steps"][step_id] = {"outputs": {}}
        where = f"{self.where}: step {label!r}"
        env = {**self.env, **self._env(step.get("env"), where)}
        self.contexts["env"] = env
        if "uses" in step:
            evaluator = self._evaluator()
            given = {
                k: self.context.evaluate(v, evaluator, f"{where}: with.{k}")
                for k, v in (step.get("with") or {}).items()
            }
            action = ACTIONS[step["uses"]][0]  # known: validate() checked it
            try:
                log = action(self, given) or ""
            except subprocess.CalledProcessError as error:
                return StepRun(label, "failure", 1, f"{error}\n{error.stderr or ''}")
            return StepRun(label, "success", 0, log)
        script = self.temp / f"step-{number}.sh"
        script.write_text(self.context.evaluate(step["run"], self._evaluator(), f"{where}: run"))
        files = {k: self.temp / f"{k.lower()}-{number}" for k in ("OUTPUT", "ENV", "SUMMARY")}
        for path in files.values():
            path.touch()
        full_env = {
            **self._defaults(),
            **env,
            "GITHUB_OUTPUT": str(files["OUTPUT"]),
            "GITHUB_ENV": str(files["ENV"]),
            "GITHUB_STEP_SUMMARY": str(files["SUMMARY"]),
        }
        log = self.temp / f"step-{number}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.workspace,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.context.harness.current = process
            try:
                code = process.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
        self.context.harness.current = None
        if step_id:
            self.contexts["steps"][step_id]["outputs"] = _key_values(files["OUTPUT"].read_text())
        self.env.update(_key_values(files["ENV"].read_text()))
        (self.temp / f"summary-{number}").write_text(files["SUMMARY"].read_text())
        return StepRun(label, "success" if code == 0 else "failure", code, log.read_text())

    def _defaults(self) -> dict[str, str]:
        github = self.contexts["github"]
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PATH": ":".join(self.path),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_REF": github["ref"],
            STATE: str(self.context.harness.gh_state),
        }

    # -- the actions, replaced by what they do here (ACTIONS) --

    def checkout(self, given: dict) -> str:
        """A depth-1 clone of a local remote."""
        if "token" in given and not given["token"]:
            raise HarnessError(f"{self.where}: actions/checkout: the token is empty")
        repository = given.get("repository") or self.contexts["github"]["repository"]
        url = self.context.harness._url(repository)
        ours = repository == self.contexts["github"]["repository"]
        branch = self.context.event.branch if ours else "main"
        sha = self.context.sha if ours else self.context.harness.head("main", repository)
        dest = self.workspace / given.get("path", ".")
        dest.mkdir(parents=True, exist_ok=True)
        for args in (
            ("init", "--quiet", "--initial-branch", branch),
            ("remote", "add", "origin", url),
            ("fetch", "--quiet", "--depth=1", "origin", f"+{sha}:refs/remotes/origin/{branch}"),
            ("checkout", "--quiet", "-B", branch, f"refs/remotes/origin/{branch}"),
        ):
            _git(*args, cwd=dest)
        return f"{repository}@{sha[:12]} into {dest} (depth 1)\n"

    def setup_python(self, given: dict) -> str:
        """The running interpreter and the virtualenvs make built."""
        wanted, running = (
            str(given.get("python-version")),
            f"{sys.version_info[0]}.{sys.version_info[1]}",
        )
        if wanted != running:
            raise HarnessError(f"{self.where}: setup-python {wanted}: the harness runs {running}")
        for relative, source in VIEWS.items():
            if not source.is_dir():
                raise HarnessError(
                    f"{self.where}: setup-python: {source} is not built (make venv tools)"
                )
            view = self.workspace / relative
            view.mkdir(parents=True, exist_ok=True)
            for entry in source.iterdir():
                target = view / entry.name
                if entry.name.startswith(".installed"):
                    target.touch()  # fresh, so that make finds the view current
                elif not target.exists():
                    target.symlink_to(entry)
        self.path.insert(1, str(Path(sys.executable).parent))
        return f"python {running}: {', '.join(VIEWS)}\n"

    def setup_go(self, given: dict) -> str:
        """Go from this machine."""
        go = shutil.which("go")
        if not go:
            raise HarnessError(f"{self.where}: setup-go: no go on this machine")
        self.path.insert(1, str(Path(go).parent))
        return subprocess.run([go, "version"], capture_output=True, text=True).stdout

    def cache(self, given: dict) -> str:
        """The built cache."""
        if given.get("path") != "~/.cache/hecate":
            raise HarnessError(
                f"{self.where}: actions/cache: {given.get('path')}: only ~/.cache/hecate is known"
            )
        if not str(given.get("key", "")).strip():
            raise HarnessError(f"{self.where}: actions/cache: the key is empty")
        (self.home / ".cache").mkdir(exist_ok=True)
        link = self.home / ".cache" / "hecate"
        if not link.exists():
            link.symlink_to(self.context.harness.cache)
        return f"restored {given['key']}\n"

    def upload(self, given: dict) -> str:
        """Files kept for later jobs of the run."""
        target = self.context.harness.artifacts / f"run-{self.context.harness.runs}" / given["name"]
        target.mkdir(parents=True, exist_ok=True)
        files = sorted(glob.glob(str(given["path"])))
        for name in files:
            shutil.copy(name, target)
        return f"{given['name']}: {len(files)} file(s)\n"

    def download(self, given: dict) -> str:
        """Files an earlier job kept."""
        found = self.context.harness.artifacts / f"run-{self.context.harness.runs}"
        target = Path(given["path"])
        names = sorted(p for p in found.glob("*") if fnmatch.fnmatch(p.name, given["pattern"]))
        for artifact in names:
            into = target if given.get("merge-multiple") else target / artifact.name
            into.mkdir(parents=True, exist_ok=True)
            for file in artifact.iterdir():
                shutil.copy(file, into)
        return f"{len(names)} artifact(s)\n"

    def hash_files(self, *patterns: str) -> str:
        files = sorted(
            {
                p
                for pattern in patterns
                for p in glob.glob(str(self.workspace / pattern), recursive=True)
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
    "actions/checkout@v4": (_Job.checkout, {"repository", "token", "path"}),
    "actions/setup-python@v5": (_Job.setup_python, {"python-version"}),
    "actions/setup-go@v5": (_Job.setup_go, {"go-version"}),
    "actions/cache@v4": (_Job.cache, {"path", "key"}),
    "actions/upload-artifact@v4": (_Job.upload, {"name", "path"}),
    "actions/download-artifact@v4": (_Job.download, {"pattern", "merge-multiple", "path"}),
}


def _key_values(content: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIMITER` blocks."""
    values, lines = {}, iter(content.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, end = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == end:
                    break
                block.append(inner)
            values[key] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def _committer() -> dict[str, str]:
    who = {"GIT_AUTHOR_NAME": "github", "GIT_AUTHOR_EMAIL": "noreply@github.com"}
    return {
        **os.environ,
        **who,
        "GIT_COMMITTER_NAME": who["GIT_AUTHOR_NAME"],
        "GIT_COMMITTER_EMAIL": who["GIT_AUTHOR_EMAIL"],
    }


def _git(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(
            done.returncode, ["git", *args], done.stdout, done.stderr
        )
    return done.stdout.strip()
