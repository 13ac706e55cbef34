#!/usr/bin/env python3
"""Speed figures for the README: each a median over fresh processes, run side by side.

  mocks   bare import of what a gitops stack imports (pulumi, its dynamic providers, yaml),
          against evaluating one stack under mocks (imports included); and the unit suite
          (`make unit`: the tests that need neither the engine nor a cluster).
  engine  `pulumi preview` and `pulumi up` of a stack, against the same engine's
          preview of an empty Python program (the floor).

Usage: scripts/bench.py [mocks|engine ...] [--runs N] [--stack NAME] [--smoke]
  --smoke  one run of each, without the unit suite: what the tests run, so that the bench
           cannot rot unseen (tests/e2e/test_benches.py)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What a gitops stack's program imports besides its own (pulumi_kubernetes: direct delivery only).
BARE_IMPORT = """
import pulumi
import pulumi.dynamic, yaml
"""

EVALUATE = """
import sys
sys.path.insert(0, {root!r})
from testbed.mocks import evaluate
assert evaluate({stack!r}).error is None
"""


# Both sides of a comparison run from compiled bytecode: pip compiled the packages at install,
# so the project's own modules get theirs written too, even where the shell says not to.
BYTECODE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path = ROOT, env: dict | None = None) -> float:
    env = {**(env or BYTECODE_ENV)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}{done.stderr}")
    return elapsed


def side_by_side(commands: dict[str, tuple], runs: int) -> dict[str, float]:
    """Median wall time of each command, alternating them so load affects all alike.

    An entry is (command, kwargs) or (command, kwargs, setup): setup(run) runs untimed before it.
    """
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command, kwargs, *_ in commands.values():
        timed(command, **kwargs)  # warm-up, untimed: bytecode, disk cache
    for run in range(runs):
        for name, (command, kwargs, *setup) in commands.items():
            for step in setup:
                step(run)
            samples[name].append(timed(command, **kwargs))
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_mocks(stack: str, runs: int, smoke: bool = False) -> None:
    python = sys.executable
    medians = side_by_side(
        {
            "bare import": ([python, "-c", BARE_IMPORT], {}),
            f"evaluate {stack} under mocks": (
                [python, "-c", EVALUATE.format(root=str(ROOT), stack=stack)],
                {},
            ),
        },
        runs,
    )
    floor = medians["bare import"]
    for name, value in medians.items():
        print(f"{name:32} {value:6.2f} s  {value / floor:4.2f}x")
    if smoke:  # the tests run the smoke mode: not the suite inside the suite
        return
    # `make unit` itself: the Makefile alone says which tests need neither engine nor cluster.
    suite = side_by_side(
        {"unit suite": (["make", "--no-print-directory", "-s", "unit"], {})},
        max(1, runs // 2),
    )
    print(f"{'unit suite':32} {suite['unit suite']:6.2f} s")


def bench_engine(stack: str, runs: int) -> None:
    if not shutil.which("pulumi"):
        sys.exit("pulumi is not on PATH: run `make bench`, which installs the engine first")
    with tempfile.TemporaryDirectory(prefix="hecate-bench-") as tmp:
        work = Path(tmp)
        project, empty = work / "project", work / "empty"
        from testbed.scratch import copy_project, engine_env  # the same setup as the e2e tests

        copy_project(project)
        # The steps from the empty program to the stack's: each a copy of the project whose
        # __main__.py stops earlier, so that each difference of medians is one step's cost.
        steps = {name: work / f"step-{index}" for index, name in enumerate(STEPS)}
        for name, directory in steps.items():
            copy_project(directory)
            (directory / "__main__.py").write_text(STEPS[name])
        empty.mkdir()
        (empty / "Pulumi.yaml").write_text(
            "name: floor\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"
        )
        (empty / "__main__.py").write_text("import pulumi\n")
        (empty / ".venv").symlink_to(sys.prefix)
        env = engine_env(work / "state")
        # Each step a backend of its own: the copies share the project's name, and so its stacks'.
        envs = {d: engine_env(work / f"state-{d.name}") for d in steps.values()}
        envs.update({project: env, empty: env})
        for directory, its_env in envs.items():
            subprocess.run(
                ["pulumi", "stack", "init", stack],
                cwd=directory,
                env=its_env,
                check=True,
                capture_output=True,
            )
        for directory in (project, *steps.values()):  # previews of an existing state
            subprocess.run(
                ["pulumi", "up", "--yes", "--stack", stack, "--non-interactive"],
                cwd=directory,
                env=envs[directory],
                check=True,
                stdout=subprocess.DEVNULL,
            )

        def next_version(run: int) -> None:
            # Each timed `up` does real work: the daemon's version alternates, so the DaemonSet
            # is re-rendered.
            subprocess.run(
                ["pulumi", "config", "set", "hecate:version", f"0.7.{100 + run}", "--stack", stack],
                cwd=project,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )

        preview = ["pulumi", "preview", "--stack", stack, "--non-interactive"]
        medians = side_by_side(
            {
                "empty program preview (floor)": (preview, {"cwd": empty, "env": env}),
                **{
                    f"preview: {name}": (preview, {"cwd": directory, "env": envs[directory]})
                    for name, directory in steps.items()
                },
                f"pulumi preview --stack {stack}": (preview, {"cwd": project, "env": env}),
                f"pulumi up --stack {stack}": (
                    [
                        "pulumi",
                        "up",
                        "--yes",
                        "--skip-preview",
                        "--stack",
                        stack,
                        "--non-interactive",
                    ],
                    {"cwd": project, "env": env},
                    next_version,
                ),
            },
            runs,
        )
        floor = medians["empty program preview (floor)"]
        for name, value in medians.items():
            print(f"{name:44} {value:6.2f} s  {value / floor:4.2f}x")
        # Where the stack's preview spends its time over the floor, step by step.
        ladder = [floor, *(medians[f"preview: {name}"] for name in STEPS)]
        ladder.append(medians[f"pulumi preview --stack {stack}"])
        names = [*STEPS, "the other rendered files, the components, the outputs"]
        for name, low, high in zip(names, ladder[:-1], ladder[1:], strict=True):
            print(f"  + {name:42} {high - low:+6.2f} s")


# Each step's program: the real one, stopped earlier.
STEPS = {
    "the program's imports": (
        "import pulumi\n"
        "from hecate.cluster import ClusterObjects, HecateCluster\n"
        "from hecate.gitops_tree import open_tree\n"
        "from hecate.project import running_settings\n"
    ),
    "settings, tree and objects, no resource": (
        "import os\n"
        "import pulumi\n"
        "from hecate.cluster import ClusterObjects\n"
        "from hecate.gitops_tree import open_tree\n"
        "from hecate.project import running_settings\n"
        "settings = running_settings()\n"
        "tree = open_tree(settings, pulumi.get_stack(), os.getcwd())\n"
        "objects = ClusterObjects.of(settings)\n"
    ),
    "one rendered file (the dynamic provider starts)": (
        "import os\n"
        "import pulumi\n"
        "from hecate.cluster import ClusterObjects\n"
        "from hecate.delivery import GitopsDirectory\n"
        "from hecate.gitops_tree import open_tree\n"
        "from hecate.project import running_settings\n"
        "settings = running_settings()\n"
        "tree = open_tree(settings, pulumi.get_stack(), os.getcwd())\n"
        "objects = ClusterObjects.of(settings)\n"
        "GitopsDirectory(tree, settings.workloads_dir).declare(\n"
        "    objects.namespace, 'namespace.yaml', pulumi.ResourceOptions()\n"
        ")\n"
    ),
}


def main() -> None:
    # Stopped (a CI timeout, `kill`): unwind, so that the scratch copies go and every pulumi
    # child is waited for; a Ctrl-C does the same through KeyboardInterrupt.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", nargs="*", help="mocks, engine, or both (the default)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stack", default="beam")
    parser.add_argument("--smoke", action="store_true", help="one run, no unit suite (the tests)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from hecate.signals import let_children_hear_sigint

    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    os.chdir(ROOT)
    if args.smoke:
        args.runs = 1
    print(f"{os.cpu_count()} cores, median of {args.runs} runs")
    what = args.what or ["mocks", "engine"]
    if set(what) - {"mocks", "engine"}:
        parser.error(
            f"unknown benchmark {sorted(set(what) - {'mocks', 'engine'})}: choose mocks or engine"
        )
    if "mocks" in what:
        bench_mocks(args.stack, args.runs, args.smoke)
    if "engine" in what:
        bench_engine(args.stack, args.runs)


if __name__ == "__main__":
    main()
