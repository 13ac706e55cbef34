"""The fleet benches cannot rot unseen: each one's smoke mode (`--smoke --fleet DIR`: one run,
the smallest sizes) runs on the session's fleet, and prints every figure of its table, each a
positive number in its unit. The benches move the clusters as they please (0.7.2 to 0.8.2), so
the module ends by rolling the session's `fleet_project` out again, backwards, and checks that
every cluster is back on the version its stack file says, as the modules after it expect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from testbed.paths import ROOT
from testbed.scratch import engine_env
from tests.local_fleet.waves import STACKS, assert_on

FIGURES = {
    "bench_fleet.py": [
        ("fleet resident memory (idle)", "MiB"),
        ("first deploy, push to rolled out (3 nodes, requested)", "s"),
        ("version bump, push to rolled out (3 nodes, requested)", "s"),
        ("fleet resident memory (after the rollouts)", "MiB"),
    ],
    "bench_rollout.py": [
        ("by hand: one `pulumi up` (config set included)", "s"),
        ("by hand: one push to rolled out (Flux apply, DaemonSet rollout)", "s"),
        ("by hand: the sum of the parts", "s"),
        ("fleet rollout, one wave, zero soak", "s"),
        ("a stack's deploy in that rollout (wave start to push)", "s"),
        ("a stack's own preview + up, by hand (the engine alone)", "s"),
        ("deploy against the engine alone (target 1.3x)", "x"),
        ("fleet preview, 1 stack, one after another", "s"),
        ("fleet preview, 1 stack, in parallel (4)", "s"),
        ("fleet preview, 2 stacks, in parallel (4)", "s"),
        ("fleet preview, 2 stacks, one after another", "s"),
    ],
    "bench_scale.py": [
        ("fleet preview, 2 stacks, one runner", "s"),
        ("fleet preview, 2 stacks, slowest of 2 shards", "s"),
        ("one wave of 1: rollout, one at a time", "s"),
        ("one wave of 1: deploy per stack, one at a time", "s"),
        ("one wave of 1: rollout, 2 at once", "s"),
        ("one wave of 1: deploy per stack, 2 at once", "s"),
    ],
}


@pytest.fixture(scope="module")
def back_in_step(fleet_project) -> Iterator[None]:
    yield
    report = fleet_project.json("rollout", "--plain", "--allow-downgrade")
    assert report["result"] == "rolled out", report
    for stack in STACKS:
        assert_on(fleet_project, fleet_project.version(stack), [stack])


@pytest.mark.parametrize("script", FIGURES)
def test_a_fleet_bench_runs_on_the_fleet_and_prints_each_figure(
    script, fleet, back_in_step, tmp_path
):
    done = subprocess.run(
        [sys.executable, f"scripts/{script}", "--smoke", "--fleet", str(fleet.workdir), "--json"],
        cwd=ROOT,
        env=engine_env(tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    rows = json.loads(done.stdout)
    assert [(row["what"], row["unit"]) for row in rows] == FIGURES[script], done.stdout
    assert all(row["value"] > 0 for row in rows), done.stdout
