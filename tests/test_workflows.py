"""The CI workflows: lint-clean (actionlint), and covering every committed stack."""

from __future__ import annotations

import re
import subprocess

import yaml

from testbed.mocks import ROOT, stack_names
from testbed.paths import BIN

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint():
    actionlint = BIN / "actionlint"
    assert actionlint.is_file(), f"{actionlint} is missing: run scripts/install-pulumi"
    assert WORKFLOWS, "no workflows"
    done = subprocess.run(
        [str(actionlint), *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _steps(name: str) -> str:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    return "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )


def test_pull_requests_preview_the_fleet_in_shards_and_post_one_merged_report():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    jobs = workflow["jobs"]
    runs = {name: "\n".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "python -m hecate fleet shards" in runs["shards"]
    assert jobs["preview"]["strategy"]["matrix"]["shard"] == (
        "${{ fromJSON(needs.shards.outputs.matrix) }}"
    )
    assert 'fleet preview --shard "$SHARD" --json' in runs["preview"]
    assert "python -m hecate fleet merge-previews" in runs["report"]
    assert "gh pr comment" in runs["report"] and "gh pr comment" not in runs["preview"]
    assert jobs["report"]["if"] == "always()", "a failed shard must still be reported"


def test_main_rolls_out_through_the_fleet_command():
    runs = _steps("main.yml")
    assert "python -m hecate fleet rollout" in runs
    assert "make up" not in runs and "pulumi up" not in runs, "main must not render stacks itself"


def test_no_workflow_lists_stacks():
    """A new cluster is one stack file: the fleet command finds the stacks, not the workflows."""
    for workflow in WORKFLOWS:
        words = set(re.findall(r"[A-Za-z0-9_.-]+", workflow.read_text()))
        named = [s for s in stack_names() if s in words or f"{s}-cluster" in words]
        assert not named, f"{workflow.name} names stacks {named}"


def test_a_dispatched_rollout_goes_back_only_when_the_dispatch_says_so():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "main.yml").read_text())
    dispatch = workflow[True]["workflow_dispatch"]["inputs"]  # PyYAML reads `on:` as True
    assert dispatch["allow_downgrade"] == {
        "description": dispatch["allow_downgrade"]["description"],
        "type": "boolean",
        "required": False,
        "default": False,
    }
    step = next(
        s for s in workflow["jobs"]["rollout"]["steps"] if "fleet rollout" in s.get("run", "")
    )
    assert step["env"]["DOWNGRADE"] == "${{ inputs.allow_downgrade && '--allow-downgrade' || '' }}"
    assert '${DOWNGRADE:+"$DOWNGRADE"}' in step["run"]


def test_a_daemon_release_opens_a_pull_request_and_main_rolls_out_only_what_main_holds():
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = release[True]  # PyYAML reads `on:` as True
    assert triggers["repository_dispatch"] == {"types": ["hecate-daemon-release"]}
    assert triggers["schedule"] and "workflow_dispatch" in triggers
    runs = _steps("release.yml")
    assert "python -m hecate fleet release" in runs and "--newest" in runs
    assert "gh pr create --base main" in runs
    main = yaml.safe_load((ROOT / ".github" / "workflows" / "main.yml").read_text())
    # One version of record: no version to dispatch, nothing written back after the fact.
    assert "version" not in (main[True]["workflow_dispatch"] or {}).get("inputs", {})
    assert "git push" not in _steps("main.yml")


def test_no_run_step_interpolates_event_data():
    """Event data (a dispatch payload, a branch name) reaches a script through `env` only, so
    that no payload can become shell code."""
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (workflow.name, step.get("name"))


# Each workflow's jobs, and the test that runs them as written through the workflow harness
# (testbed/workflows/); a job added to a workflow must be added here, and run there.
RUN_AS_WRITTEN = {
    "release.yml": ("tests/e2e/test_release_workflow.py", {"release"}),
    "pull-request.yml": ("tests/local_fleet/test_waves_road.py", {"shards", "preview", "report"}),
    "main.yml": ("tests/local_fleet/test_waves_road.py", {"rollout"}),
}
NOT_RUN = {("pull-request.yml", "test"): "it is `bash .ci/run`: CI itself, the suite"}


def test_every_job_of_every_workflow_is_run_by_a_test():
    assert {w.name for w in WORKFLOWS} == set(RUN_AS_WRITTEN)
    for workflow in WORKFLOWS:
        jobs = set(yaml.safe_load(workflow.read_text())["jobs"])
        test, run = RUN_AS_WRITTEN[workflow.name]
        skipped = {job for (name, job) in NOT_RUN if name == workflow.name}
        assert jobs == run | skipped, f"{workflow.name}: jobs {sorted(jobs)}"
        assert f'"{workflow.name}"' in (ROOT / test).read_text(), f"{test} runs no {workflow.name}"
