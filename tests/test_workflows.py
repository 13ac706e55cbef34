"""The CI workflows: lint-clean (actionlint), and covering every committed stack."""

from __future__ import annotations

import subprocess

import yaml

from tests.e2e.engine import BIN
from tests.harness import ROOT, stack_names

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint():
    actionlint = BIN / "actionlint"
    assert actionlint.is_file(), f"{actionlint} is missing: run scripts/install-pulumi"
    assert WORKFLOWS, "no workflows"
    done = subprocess.run(
        [str(actionlint), *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_preview_matrix_is_every_stack_file():
    """The matrix is computed from Pulumi.*.yaml, so this runs that step's command here."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text())
    script = workflow["jobs"]["stacks"]["steps"][1]["run"].split("\n")[0]
    listing = script[script.index("$(") + 2 : script.rindex(" | jq -R")]
    done = subprocess.run(
        ["bash", "-c", listing], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.split() == stack_names()
    assert workflow["jobs"]["preview"]["steps"][-1]["with"]["policyPacks"] == "policy"


def test_main_renders_every_stack_in_the_readmes_order():
    workflow = yaml.safe_load((ROOT / ".github/workflows/main.yml").read_text())
    order = workflow["env"]["STACK_ORDER"].split()
    assert sorted(order) == stack_names()
    readme = (ROOT / "README.md").read_text()
    rollout = readme[readme.index("## Rollout") : readme.index("## Rollback")]
    positions = [
        rollout.index(f"--stack {stack}")
        if f"--stack {stack}" in rollout
        else rollout.index(f"`{stack}`")
        for stack in order
    ]
    assert positions == sorted(positions), "the README's rollout names the stacks in another order"
