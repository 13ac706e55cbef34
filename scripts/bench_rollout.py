"""The fleet command's figures (`make bench-rollout`), printed as a table (or `--json`):

- a three-wave `fleet rollout` with zero soak on the test bed, against the sum of its parts
  done by hand for the version before: three `pulumi up`s, each commit pushed, and Flux's
  apply and the DaemonSet's rollout awaited (reconcile requested, as `flux reconcile` does);
- what a stack's deploy costs in that rollout (its wave's start to its push: version, preview,
  snapshot, `up`, commit, push), against that stack's own `pulumi preview` and `pulumi up` run
  by hand in the same project (the engine alone; the target is 1.3x);
- `fleet preview` of the committed stacks in parallel against one after another;
- `fleet preview` of 30 stacks generated into a temporary copy, to show how it grows.

`--fleet DIR` runs on the fleet already up in DIR instead of bringing one up (its first
rollout then takes the clusters as it finds them, backwards if need be). `--smoke` is one run of
each figure at the smallest sizes (dev's stack alone, a wave of its own; 2 generated stacks):
the tests run it, so that a change that breaks the bench fails `make test`.

    scripts/bench_rollout.py [--runs 3] [--fleet DIR] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hecate.signals import let_children_hear_sigint  # noqa: E402
from scripts.bench_fleet import fleet_to_bench, print_figures  # noqa: E402
from testbed import flux  # noqa: E402
from testbed.components import BRANCH, CLUSTERS  # noqa: E402
from testbed.deployment import git_env  # noqa: E402
from testbed.processes import git, wait_for  # noqa: E402
from testbed.rollout_project import WAVE_ORDER, RolloutProject  # noqa: E402
from testbed.scratch import Project, copy_project, engine_env  # noqa: E402

GENERATED = 30
WORDS = {1: "one", 2: "two", 3: "three"}


def counted(count: int, noun: str, plural: str = "") -> str:
    """`three waves`, `one wave`: a figure's label says how many of what it timed."""
    return f"{WORDS.get(count, count)} {noun if count == 1 else plural or noun + 's'}"


def timed(run) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    run()
    return time.monotonic() - started


def by_hand(rp: RolloutProject, version: str, stacks: tuple[str, ...]) -> dict[str, float]:
    """The rollout's parts, stack after stack, with nothing between them: seconds of `up`
    (config set included) and of push to rolled out (Flux's apply and the DaemonSet's rollout)."""
    parts = {"up": 0.0, "apply": 0.0}
    image = f"ghcr.io/hecate-social/hecate-daemon:{version}"
    for stack in stacks:
        cluster = f"{stack}-cluster"
        started = time.monotonic()
        rp.project.pulumi("config", "set", "--stack", stack, "hecate:version", version)
        rp.project.pulumi("up", "--stack", stack, "--yes", "--policy-pack", "policy")
        parts["up"] += time.monotonic() - started
        started = time.monotonic()
        git(
            "add",
            "--all",
            "--",
            f"clusters/{cluster}",
            f"infrastructure/hecate/{cluster}",
            cwd=rp.checkout,
            env=git_env(),
        )
        git(
            "commit",
            "--quiet",
            "-m",
            f"deploy({cluster}): hecate-daemon {version}",
            cwd=rp.checkout,
            env=git_env(),
        )
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=rp.checkout, env=git_env())
        commit = git("rev-parse", "HEAD", cwd=rp.checkout)
        flux.sync(rp.fleet, cluster, commit)
        wait_for(
            f"{cluster} on {version}",
            lambda c=cluster: rp.running_image(c) == (image, [image]),
            timeout=600,
            every=0.25,
        )
        parts["apply"] += time.monotonic() - started
    return parts


def deploy_per_stack(report: dict) -> float:
    """The mean of each wave's time from its start to its push (one stack a wave): what a
    stack's deploy costs before its gate."""
    events, spans = report["events"], []
    for wave in dict.fromkeys(e["wave"] for e in events if e["step"] == "wave"):
        ours = [e for e in events if e["wave"] == wave]
        start = next(e["seconds"] for e in ours if e["step"] == "wave")
        spans.append(max(e["seconds"] for e in ours if e["step"] == "push") - start)
    return statistics.mean(spans)


def engine_alone(rp: RolloutProject, version: str, stacks: tuple[str, ...]) -> float:
    """The mean of each stack's `pulumi preview` plus `pulumi up` of a new version, by hand
    (the version written untimed, nothing pushed): what the engine itself costs a stack."""
    seconds = []
    for stack in stacks:
        rp.project.pulumi("config", "set", "--stack", stack, "hecate:version", version)
        policy = ("--stack", stack, "--policy-pack", "policy")
        started = time.monotonic()
        rp.project.pulumi("preview", *policy)
        rp.project.pulumi("up", "--yes", "--skip-preview", *policy)
        seconds.append(time.monotonic() - started)
    return statistics.mean(seconds)


def fleet_preview(root: Path, env: dict[str, str], parallel: int, *extra: str) -> float:
    def run() -> None:
        subprocess.run(
            [
                *(sys.executable, "-m", "hecate", "fleet", "preview"),
                *("--parallel", str(parallel), *extra),
            ],
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
            check=True,
            capture_output=True,
        )

    return timed(run)


def generated_project(scratch: Path, count: int = GENERATED) -> tuple[Path, dict[str, str]]:
    """A copy of the project with `count` generated stacks (and none of the committed ones)."""
    root = scratch / f"generated-{count}"
    copy_project(root, stacks=[])
    env = engine_env(scratch / f"generated-{count}-state")
    project = Project(root, env)
    for index in range(1, count + 1):
        name = f"s{index:02d}"
        (root / f"Pulumi.{name}.yaml").write_text(
            f"config:\n  hecate:cluster: {name}-cluster\n  hecate:version: 0.7.2\n"
        )
        project.pulumi("stack", "init", name)
    return root, env


def main() -> int:
    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each preview (median)")
    parser.add_argument("--fleet", type=Path, help="the work directory of a fleet already up")
    parser.add_argument("--smoke", action="store_true", help="one run, the smallest sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # The committed stacks, a wave each; the smoke run, dev's alone.
    generated, stacks = (2, WAVE_ORDER[:1]) if args.smoke else (GENERATED, WAVE_ORDER)
    n = len(stacks)
    if args.smoke:
        args.runs = 1
    figures: list[tuple[str, float, str]] = []

    def record(what: str, value: float, unit: str = "s") -> None:
        figures.append((what, value, unit))
        print(f"bench: {what}: {value:.1f} {unit}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hecate-bench-rollout-") as scratch:
        scratch_path = Path(scratch)
        with fleet_to_bench(args.fleet, scratch_path / "fleet", CLUSTERS, 3, record) as fleet:
            rp = RolloutProject.create(fleet, scratch_path / "waves", stacks=stacks)
            # A fleet in use runs whatever it runs: the first deploy may have to go back.
            back = ["--allow-downgrade"] if args.fleet else []
            first = rp.fleet_cmd("rollout", "--plain", *back)
            assert first.code == 0, first.text
            parts = by_hand(rp, "0.7.3", stacks)
            record(f"by hand: {counted(n, '`pulumi up`')} (config set included)", parts["up"])
            record(
                f"by hand: {counted(n, 'push', 'pushes')} to rolled out"
                " (Flux apply, DaemonSet rollout)",
                parts["apply"],
            )
            record("by hand: the sum of the parts", parts["up"] + parts["apply"])
            rollout = rp.fleet_cmd("rollout", "0.7.4", "--plain", "--json")
            assert rollout.code == 0, rollout.text
            report = json.loads(rollout.out)
            record(f"fleet rollout, {counted(n, 'wave')}, zero soak", report["seconds"])
            deploy, engine = deploy_per_stack(report), engine_alone(rp, "0.7.5", stacks)
            record("a stack's deploy in that rollout (wave start to push)", deploy)
            record("a stack's own preview + up, by hand (the engine alone)", engine)
            record("deploy against the engine alone (target 1.3x)", deploy / engine, "x")

            serial, parallel = [], []
            for _ in range(args.runs):  # alternated, so that load hits both alike
                serial.append(fleet_preview(rp.root, rp.env, 1))
                parallel.append(fleet_preview(rp.root, rp.env, 4))
            committed = f"{n} stack{'s' if n != 1 else ''}"
            record(f"fleet preview, {committed}, one after another", statistics.median(serial))
            record(f"fleet preview, {committed}, in parallel (4)", statistics.median(parallel))

        root, env = generated_project(scratch_path, generated)
        record(f"fleet preview, {generated} stacks, in parallel (4)", fleet_preview(root, env, 4))
        record(f"fleet preview, {generated} stacks, one after another", fleet_preview(root, env, 1))

    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
