"""One job of a run, one matrix leg at a time: its `if:`, matrix, env, steps and outputs."""

from __future__ import annotations

import functools
import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..processes import FleetError
from .actions import ACTIONS, hash_files
from .expressions import Evaluator, UnknownExpression, interpolate, text, truthy
from .gh_recorder import STATE
from .runs import Event, HarnessError, JobRun, StepRun

if TYPE_CHECKING:
    from .harness import Harness

JOB_KEYS = {
    "runs-on",
    "needs",
    "if",
    "outputs",
    "steps",
    "strategy",
    "timeout-minutes",
    "env",
    "environment",
}
STEP_KEYS = {"id", "name", "uses", "with", "run", "env", "if"}
STRATEGY_KEYS = {"matrix", "fail-fast"}
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# How a `run:` step starts: a watcher beside the step, in its process group, waits for EOF on
# the job's lifeline (a pipe whose only write end the harness holds) and then kills the group.
# EOF comes when the job ends, as GitHub stops what a job's steps left running, or when the
# harness dies however it dies (a SIGTERM'd or SIGKILL'd pytest): a step's `hecate fleet
# rollout` never outlives the test run that started it.
STEP_KEEPER = (
    "( while read -r -u {fd} _; do :; done; kill -KILL 0 ) </dev/null >/dev/null 2>&1 &\n"
    "exec {fd}<&-\n"
    'exec bash --noprofile --norc -eo pipefail "$1"\n'
)


def job_order(jobs: dict, workflow: str) -> list[str]:
    order: list[str] = []
    while len(order) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in order and set(needs_of(j)) <= set(order)]
        if not ready:
            raise HarnessError(f"{workflow}: the jobs' needs form a cycle or name no job")
        order.extend(ready)
    return order


def needs_of(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


@dataclass
class Context:
    harness: Harness
    spec: dict
    run_dir: Path
    github: dict
    inputs: dict
    event: Event
    sha: str
    workflow: str

    def job(self, name: str, job: dict, done: dict[str, JobRun]) -> JobRun:
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in needs_of(job)}
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
        if "environment" in job:
            where = f"job {name}: environment"
            environment = self.evaluate(job["environment"], Evaluator(base), where)
            if environment not in self.harness.approved_environments:
                # Held by the environment's protection rules until someone approves it.
                return JobRun(name, "waiting")
        strategy = job.get("strategy") or {}  # its keys: checked by Harness.validate()
        legs = self._matrix(strategy.get("matrix"), base, name)
        run = JobRun(name, "success")
        for index, matrix in enumerate(legs):
            leg = Job(
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


class Job:
    """One leg of a job: its workspace, HOME and temp, its steps in order."""

    def __init__(self, context: Context, name: str, job: dict, contexts: dict, index: int):
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
        self.lifeline = (-1, -1)  # the job's pipe while its steps run (run())

    def _evaluator(self) -> Evaluator:
        return Evaluator(
            self.contexts, {"hashFiles": functools.partial(hash_files, self.workspace)}
        )

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
        self.lifeline = os.pipe()  # neither end inherited, but by each step's watcher (read)
        try:
            self._steps(run, timeout, started)
        finally:
            for end in self.lifeline:
                os.close(end)
        evaluator = self._evaluator()
        run.outputs = {
            k: text(self.context.evaluate(v, evaluator, f"{self.where}: outputs.{k}"))
            for k, v in (self.job.get("outputs") or {}).items()
        }
        summaries = sorted(self.temp.glob("summary-*"), key=lambda p: int(p.name.split("-")[1]))
        run.summary = "".join(p.read_text() for p in summaries)
        run.result = "failure" if self.failed or self.context.harness.killed else "success"
        return run

    def _steps(self, run: JobRun, timeout: float, started: float) -> None:
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
            except FleetError as error:  # a git command of the action failed
                return StepRun(label, "failure", 1, f"{error}\n")
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
        log_file = self.temp / f"step-{number}.log"
        with log_file.open("w") as out:
            read_end = self.lifeline[0]
            keeper = STEP_KEEPER.format(fd=read_end)
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", keeper, "step", str(script)],
                cwd=self.workspace,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(read_end,),
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
        return StepRun(label, "success" if code == 0 else "failure", code, log_file.read_text())

    def _defaults(self) -> dict[str, str]:
        github, harness = self.contexts["github"], self.context.harness
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
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": harness.api.url if harness.api else "https://api.github.com",
            "GITHUB_RUN_ID": str(harness.runs),
            STATE: str(harness.gh_state),
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
