"""The workflow harness itself (testbed/workflows.py): what it runs as GitHub would, and what
it refuses by name; what a step leaves running is stopped at the job's end, as GitHub does, and
with the harness if it dies. Small workflows on a throwaway remote; the project's own workflows
are run in tests/e2e/test_release_workflow.py and tests/local_fleet/test_waves_road.py."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.github_remotes import commit_to, infra_remote
from testbed.paths import ROOT
from testbed.processes import wait_for
from testbed.workflows import Event, Harness, HarnessError
from testbed.workflows.expressions import Evaluator, UnknownExpression, interpolate

CHAIN = """\
name: chain
on:
  push:
  workflow_dispatch:
    inputs:
      flag:
        type: boolean
        default: false
env:
  FROM_SECRET: ${{ secrets.TOKEN }}
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      legs: ${{ steps.legs.outputs.legs }}
      note: ${{ steps.legs.outputs.note }}
    steps:
      - id: legs
        run: |
          echo 'legs=["a","b"]' >> "$GITHUB_OUTPUT"
          { echo 'note<<END'; echo 'two'; echo 'lines'; echo 'END'; } >> "$GITHUB_OUTPUT"
  leg:
    needs: plan
    strategy:
      fail-fast: false
      matrix:
        leg: ${{ fromJSON(needs.plan.outputs.legs) }}
    runs-on: ubuntu-latest
    steps:
      - env:
          LEG: ${{ matrix.leg }}
          INDEX: ${{ strategy.job-index }}
          FLAG: ${{ inputs.flag && '--flag' || '' }}
        run: |
          echo "leg $LEG at $INDEX [$FLAG] secret ${#FROM_SECRET} chars" >> "$GITHUB_STEP_SUMMARY"
          [ "$LEG" != b ]
      - if: failure()
        run: echo "after a failure" >> "$GITHUB_STEP_SUMMARY"
      - run: echo "after success" >> "$GITHUB_STEP_SUMMARY"
  report:
    needs: leg
    if: always()
    runs-on: ubuntu-latest
    steps:
      - env:
          RESULT: ${{ needs.leg.result }}
        run: echo "leg was $RESULT" >> "$GITHUB_STEP_SUMMARY"
  skipped:
    needs: leg
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "hecate-infra.git"
    infra_remote(bare, {".github/workflows/chain.yml": CHAIN})
    return bare


def harness(tmp_path, remote, **secrets) -> Harness:
    return Harness(
        tmp_path / "github", {"hecate-infra": remote}, secrets=secrets or {"TOKEN": "s3"}
    )


def with_workflow(remote, text: str) -> str:
    return commit_to(remote, {".github/workflows/chain.yml": text}, "the workflow")


def test_jobs_run_in_order_with_outputs_a_matrix_if_and_the_status_functions(tmp_path, remote):
    run = harness(tmp_path, remote).run(
        "chain.yml", Event("workflow_dispatch", inputs={"flag": True})
    )
    plan, leg, report = run.job("plan"), run.job("leg"), run.job("report")
    assert plan.outputs == {"legs": '["a","b"]', "note": "two\nlines"}
    assert leg.result == "failure"  # leg b failed; fail-fast false, so both legs ran
    assert leg.summary == (
        "leg a at 0 [--flag] secret 2 chars\nafter success\n"
        "leg b at 1 [--flag] secret 2 chars\nafter a failure\n"
    )
    assert report.summary == "leg was failure\n"  # always(), after a failed need
    assert run.job("skipped").result == "skipped"  # success() of its needs, by default
    assert run.conclusion == "failure"


def test_a_push_has_no_inputs_and_a_boolean_expression_gives_an_operand(tmp_path, remote):
    run = harness(tmp_path, remote).run("chain.yml", Event("push"))
    assert "leg a at 0 [] secret" in run.job("leg").summary


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("uses: actions/checkout@v4", None),  # known: the control
        ("uses: actions/github-script@v7", "unknown action actions/github-script@v7"),
        ("run: echo ${{ github.event.x && toLower('A') }}", "unknown function toLower()"),
        ("run: echo ${{ job.status }}", "unknown context 'job'"),
        ("run: echo ${{ secrets.OTHER }}", "secrets.OTHER is not given to the harness"),
        ("run: echo ${{ vars.SOME }}", "vars.SOME is not given to the harness"),
        ("shell: python\n        run: print(1)", "unknown key shell"),
    ],
)
def test_what_the_harness_does_not_know_fails_the_run_by_name(tmp_path, remote, change, named):
    text = CHAIN.replace('      - run: "true"', f"      - {change}")
    with_workflow(remote, text)
    github = harness(tmp_path, remote)
    if named is None:
        assert github.run("chain.yml", Event("push")).job("skipped").result == "skipped"
        return
    with pytest.raises(HarnessError, match=named.replace("(", r"\(").replace(")", r"\)")):
        github.run("chain.yml", Event("push"))


GATED = """\
name: gated
on: push
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      next: ${{ steps.say.outputs.next }}
    steps:
      - id: say
        run: echo "next=prod" >> "$GITHUB_OUTPUT"
  prod:
    needs: first
    environment: ${{ needs.first.outputs.next }}
    runs-on: ubuntu-latest
    steps:
      - run: echo "in prod" >> "$GITHUB_STEP_SUMMARY"
  after:
    needs: prod
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


def test_a_job_in_an_environment_waits_until_the_environment_approves_it(tmp_path, remote):
    commit_to(remote, {".github/workflows/gated.yml": GATED}, "a gated workflow")
    github = harness(tmp_path, remote)
    waiting = github.run("gated.yml", Event("push"))
    assert [j.result for j in waiting.jobs] == ["success", "waiting", "skipped"]
    assert waiting.conclusion == "waiting"
    github.approved_environments.add("prod")
    approved = github.run("gated.yml", Event("push"))
    assert approved.job("prod").summary == "in prod\n"
    assert approved.conclusion == "success"


def test_an_action_input_the_harness_does_not_know_is_named(tmp_path, remote):
    with_workflow(
        remote,
        CHAIN.replace(
            '- run: "true"', "- uses: actions/checkout@v4\n        with:\n          fetch-depth: 0"
        ),
    )
    with pytest.raises(HarnessError, match="actions/checkout@v4 has no input fetch-depth"):
        harness(tmp_path, remote).run("chain.yml", Event("push"))


def test_an_unknown_gh_call_fails_the_run_even_when_the_step_goes_on(tmp_path, remote):
    step = "- env:\n          GH_TOKEN: x\n        run: gh release create v1 || true"
    with_workflow(
        remote, CHAIN.replace("needs: leg\n    runs-on", "runs-on").replace('- run: "true"', step)
    )
    with pytest.raises(HarnessError, match="gh release create v1"):
        harness(tmp_path, remote).run("chain.yml", Event("push"))


def test_the_recorder_edits_the_last_comment_only_once_there_is_one(tmp_path, remote):
    steps = """- uses: actions/checkout@v4
      - env:
          GH_TOKEN: x
        run: |
          git push origin HEAD:topic
          gh pr create --base main --head topic --title t --body b
          for text in first second; do
            echo "$text" > body
            gh pr comment 1 --edit-last --body-file body || gh pr comment 1 --body-file body
          done"""
    with_workflow(
        remote, CHAIN.replace("needs: leg\n    runs-on", "runs-on").replace('- run: "true"', steps)
    )
    github = harness(tmp_path, remote)
    run = github.run("chain.yml", Event("push"))
    assert run.job("skipped").result == "success", run.log
    assert github.github()["pulls"][0]["comments"] == ["second\n"]


def test_a_workflow_that_does_not_run_on_the_event_is_refused(tmp_path, remote):
    with pytest.raises(HarnessError, match="does not run on schedule"):
        harness(tmp_path, remote).run("chain.yml", Event("schedule"))
    with pytest.raises(HarnessError, match="no workflow_dispatch input other"):
        harness(tmp_path, remote).run("chain.yml", Event("workflow_dispatch", inputs={"other": 1}))


# -- expressions --


def evaluate(source: str, **contexts):
    return Evaluator(contexts).evaluate(source)


def test_and_or_give_an_operand_and_equality_ignores_case():
    assert evaluate("a && 'yes' || 'no'", a=True) == "yes"
    assert evaluate("a && 'yes' || 'no'", a=None) == "no"
    assert evaluate("x.y.z || 'default'", x={}) == "default"
    assert evaluate("v == 'TRUE'", v="true") is True
    assert evaluate("n == '1'", n=1.0) is True
    assert evaluate("!(n > 1)", n=2.0) is False
    assert evaluate("x['a-b']", x={"a-b": 3}) == 3
    assert evaluate("format('{0}/{1}', 1, 'x')") == "1/x"


def test_interpolation_keeps_the_type_of_a_whole_expression_and_texts_the_rest():
    evaluator = Evaluator({"m": {"n": 1.0, "b": True}})
    assert interpolate("${{ m.n }}", evaluator) == 1.0
    assert interpolate("n=${{ m.n }} b=${{ m.b }} x=${{ m.x }}", evaluator) == "n=1 b=true x="


@given(st.text(alphabet="abc'", max_size=12))
def test_a_string_literal_reads_back_as_written(value):
    literal = "'" + value.replace("'", "''") + "'"
    assert evaluate(literal) == value


@pytest.mark.parametrize("source", ["a ==", "(a", "a +  b", "a | b", "'open"])
def test_a_malformed_expression_is_refused(source):
    with pytest.raises(UnknownExpression):
        evaluate(source, a=1, b=2)


def test_an_unknown_strategy_key_is_named_even_in_a_job_that_does_not_run(tmp_path, remote):
    strategy = "  skipped:\n    needs: leg\n    strategy:\n      max-parallel: 2\n"
    with_workflow(remote, CHAIN.replace("  skipped:\n    needs: leg\n", strategy))
    with pytest.raises(HarnessError, match="job skipped: unknown strategy key max-parallel"):
        harness(tmp_path, remote).run("chain.yml", Event("push"))


LEFT_RUNNING = """\
name: left-running
on: push
jobs:
  only:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sleep 300 &
          echo "$!" > {pid_file}
          {after}
"""


def gone(pid: int) -> bool:
    """No such process, or one that only waits to be reaped (a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_what_a_step_left_running_is_stopped_when_its_job_ends(tmp_path, remote):
    pid_file = tmp_path / "sleep.pid"
    with_workflow(remote, LEFT_RUNNING.format(pid_file=pid_file, after="true"))
    run = harness(tmp_path, remote).run("chain.yml", Event("push"))
    assert run.job("only").result == "success"
    pid = int(pid_file.read_text())
    wait_for(f"the step's sleep (pid {pid}) to stop", lambda: gone(pid), timeout=30, every=0.1)


HARNESS_IN_A_PROCESS = """\
import sys
from pathlib import Path
from testbed.workflows import Event, Harness
work, remote = Path(sys.argv[1]), Path(sys.argv[2])
Harness(work / "github", {"hecate-infra": remote}, secrets={"TOKEN": "s3"}).run(
    "chain.yml", Event("push")
)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_step_s_processes_go_with_the_harness_however_it_dies(tmp_path, remote, how):
    """A test run killed in the middle of a workflow step (CI cancelled, pytest killed) leaves
    nothing of the step behind: not its script, nor what the script started."""
    pid_file = tmp_path / "sleep.pid"
    with_workflow(remote, LEFT_RUNNING.format(pid_file=pid_file, after="wait"))
    owner = subprocess.Popen(
        [sys.executable, "-c", HARNESS_IN_A_PROCESS, str(tmp_path), str(remote)], cwd=ROOT
    )
    try:
        wait_for("the step's sleep to start", pid_file.exists, timeout=60, every=0.1)
        wait_for("its pid", lambda: pid_file.read_text().strip().isdigit(), timeout=10)
        pid = int(pid_file.read_text())
        assert not gone(pid)
        owner.send_signal(how)
        owner.wait(timeout=30)
        wait_for(f"the step's sleep (pid {pid}) to stop", lambda: gone(pid), timeout=30, every=0.1)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
