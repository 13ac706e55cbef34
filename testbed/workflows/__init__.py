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
- `gh` is the tests' recorder (gh_recorder.py), GitHub's API being out of reach.

Anything it does not know (an action, a key of a job or step, an input of an action, an
expression, a secret or a variable the test did not give) raises HarnessError naming it."""

from .harness import Harness
from .runs import Event, HarnessError, JobRun, StepRun, WorkflowRun

__all__ = ["Event", "Harness", "HarnessError", "JobRun", "StepRun", "WorkflowRun"]
