"""What a workflow run gives back: each job's result, steps, outputs and summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
        if any(j.result == "failure" for j in self.jobs):
            return "failure"
        return "waiting" if any(j.result == "waiting" for j in self.jobs) else "success"

    @property
    def log(self) -> str:
        return "\n".join(f"=== {j.name}: {j.result}\n{j.log}" for j in self.jobs)
