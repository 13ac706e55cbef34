"""The harness: a workflow of the project, run for an event against local remotes; GitHub's
side (the remotes' heads, a merge) done with git, its API by the recorder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ..deployment import git_env
from ..github_api import GitHubApiRecorder
from ..paths import CACHE, ROOT
from ..processes import git
from .actions import ACTIONS
from .expressions import EXPRESSION, FUNCTIONS, UnknownExpression, check
from .gh_recorder import load
from .jobs import JOB_KEYS, STEP_KEYS, STRATEGY_KEYS, Context, job_order
from .runs import Event, HarnessError, JobRun, WorkflowRun


class Harness:
    def __init__(
        self,
        workdir: Path,
        remotes: dict[str, Path | str],
        secrets: dict[str, str],
        variables: dict[str, str] | None = None,
        owner: str = "hecate-social",
        cache: Path | None = None,
        api: GitHubApiRecorder | None = None,
    ):
        self.workdir, self.owner = workdir, owner
        # GitHub's REST API for the steps' own calls (GITHUB_API_URL): the recorder, if given.
        self.api = api
        # Environments whose protection rules let a job start now (its reviewers approved):
        # a job in any other environment waits, as on GitHub, and is not run.
        self.approved_environments: set[str] = set()
        self.remotes = {f"{owner}/{name}": path for name, path in remotes.items()}
        self.secrets, self.variables = secrets, variables or {}
        self.cache = cache or CACHE
        self.gh_state = workdir / "github.json"
        self.artifacts = workdir / "artifacts"
        self.runs = 0
        self.current: subprocess.Popen | None = None
        self.killed = False
        bin_dir = workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        gh = bin_dir / "gh"
        recorder = f"{sys.executable} -m testbed.workflows.gh_recorder"
        gh.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {recorder} "$@"\n')
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
        out = git("ls-remote", "--heads", self.url(repository), branch, cwd=self.workdir)
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
        git("clone", "--quiet", "--branch", pull["base"], str(remote), str(clone), cwd=self.workdir)
        git("fetch", "--quiet", "origin", pull["head"], cwd=clone)
        git(
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            f"Merge pull request #{number} from {pull['head']}",
            "FETCH_HEAD",
            cwd=clone,
            env=git_env(),
        )
        git("push", "--quiet", "origin", pull["base"], cwd=clone)
        shutil.rmtree(clone)
        pull["state"] = "merged"
        self.gh_state.write_text(json.dumps(state, indent=2))
        return self.head(pull["base"])

    def url(self, repository: str) -> str:
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
            unknown = sorted(set(job.get("strategy") or {}) - STRATEGY_KEYS)
            if unknown:
                raise HarnessError(
                    f"{workflow}: job {name}: unknown strategy key {', '.join(unknown)}"
                )
            if "if" in job:
                expressions({"if": job["if"]}, f"job {name}", implicit=True)
            for key in ("env", "outputs", "strategy", "environment"):
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
        remote = Path(self._remote("hecate-infra"))
        source = git("show", f"{sha}:.github/workflows/{workflow}", cwd=remote)
        spec = yaml.safe_load(source)
        triggers = spec.get(True, spec.get("on")) or {}
        if not isinstance(triggers, dict):  # `on: push` or `on: [push, pull_request]`
            triggers = dict.fromkeys([triggers] if isinstance(triggers, str) else triggers)
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
        context = Context(self, spec, run_dir, github, inputs, event, sha, workflow)
        self.validate(spec, workflow)
        unknown_before = len(self.github()["unknown"])
        rest_before = len(self.api.recorded.unknown) if self.api else 0
        done: dict[str, JobRun] = {}
        for name in job_order(spec.get("jobs") or {}, workflow):
            job = spec["jobs"][name]
            if (jobs is not None and name not in jobs) or self.killed:
                done[name] = JobRun(name, "skipped")
                continue
            done[name] = context.job(name, job, done)
        rest = self.api.recorded.unknown[rest_before:] if self.api else []
        if rest:
            raise HarnessError(
                f"{workflow}: calls GitHub's REST API in a way the recorder does not know: "
                + "; ".join(rest)
            )
        calls = self.github()["unknown"][unknown_before:]
        if calls:
            said = "; ".join("gh " + " ".join(c["argv"]) for c in calls)
            raise HarnessError(
                f"{workflow}: calls GitHub's API in a way the recorder does not know: {said}"
            )
        return WorkflowRun(workflow, event, sha, list(done.values()))
