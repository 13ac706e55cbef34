"""The fleet at scale (`make bench-scale`): how rollouts and previews grow with the clusters.

- `fleet preview` of 30 and 100 generated stacks: on one runner, and split in --shards shards
  (each shard timed as the runner of a CI matrix would run it);
- a test bed of --clusters clusters: its start time and peak resident memory;
- one wave of 1, 3 and all of those clusters rolled out (zero soak): one stack at a time and
  --parallel at once, and, with --before REV, one at a time by the code of REV (the per-stack
  cost before the wave was parallel); each rollout's deploy phase (from the wave's start to its
  last push) per stack;
- a --clusters x --big-nodes test bed: its start time, peak memory, and a rollout across it in
  three waves.

The figures are printed as a table (or --json), and --chart FILE draws the growth (matplotlib).

`--fleet DIR` runs the waves on the fleet already up in DIR, through the project's committed
stacks (the first --clusters of them, the rest left out with --only; their first rollout takes
the clusters as it finds them, backwards if need be), with no test bed of its own and no
--big-nodes one. `--smoke` is one run at the smallest sizes (2 stacks in 2 shards, a
wave of one cluster, no big test bed): the tests run it, so that a change that breaks the bench
fails `make test`.

    scripts/bench_scale.py [--clusters 10] [--parallel 4] [--stacks 30,100] [--shards 4]
                           [--big-nodes 50] [--before REV] [--chart docs/scale.png] [--json]
                           [--with EARLIER.json] [--fleet DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hecate.project import stack_names  # noqa: E402
from hecate.signals import let_children_hear_sigint  # noqa: E402
from scripts.bench_fleet import print_figures, resident_mib  # noqa: E402
from scripts.bench_rollout import fleet_preview, generated_project  # noqa: E402
from testbed.fleet import Fleet  # noqa: E402
from testbed.local_fleet import Bringup  # noqa: E402
from testbed.rollout_project import RolloutProject, three_waves  # noqa: E402

Figures = list[tuple[str, float, str]]


class PeakMemory:
    """The fleet's resident memory, sampled every second while the block runs."""

    def __init__(self, workdir: Path):
        self.workdir, self.peak, self._stop = workdir, 0.0, threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.peak = max(self.peak, resident_mib(self.workdir))
            except OSError:
                continue  # a process ended between listing and reading it

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rollout(rp: RolloutProject, version: str | None, *args: str) -> dict:
    """`fleet rollout` (of the committed config when version is None), its report."""
    command = ("rollout", *([version] if version else []), "--plain", "--json", *args)
    result = rp.fleet_cmd(*command, timeout=3600)
    assert result.code == 0, result.text
    return json.loads(result.out)


def deploy_seconds(report: dict) -> float:
    """From the wave's start to its last push: the time spent deploying, before the gates."""
    events = report["events"]
    start = next(e["seconds"] for e in events if e["step"] == "wave")
    return max(e["seconds"] for e in events if e["step"] == "push") - start


CODE = ("hecate", "__main__.py")  # what --before swaps: the program and its tools


def with_code_of(rp: RolloutProject, rev: str, run: Callable[[], dict]) -> dict:
    """`run` with the project's code as it was at `rev` (the program renders alike)."""
    for name in CODE:
        (rp.root / name).rename(rp.root / f"{name}.now")
    try:
        archive = subprocess.run(
            ["git", "archive", rev, *CODE], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(rp.root)], input=archive, check=True)
        return run()
    finally:
        for name in CODE:
            path = rp.root / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            (rp.root / f"{name}.now").rename(path)


def previews(scratch: Path, counts: list[int], shards: int, record) -> None:  # type: ignore[no-untyped-def]
    for count in counts:
        root, env = generated_project(scratch, count)
        record(f"fleet preview, {count} stacks, one runner", fleet_preview(root, env, 4))
        times = [
            fleet_preview(root, env, 4, "--shard", f"{i}/{shards}") for i in range(1, 1 + shards)
        ]
        record(f"fleet preview, {count} stacks, slowest of {shards} shards", max(times))


def wave_project(
    fleet: Fleet, workdir: Path, size: int, in_use: bool
) -> tuple[RolloutProject, list[str]]:
    """A project rolling `size` clusters out in one wave, and the flags its rollouts take: one
    generated stack per cluster, named as the cluster; on a fleet in use (--fleet), whose
    clusters' trees are its committed stacks' (a generated stack may not render over them),
    those stacks, the rest left out with --only."""
    if not in_use:
        return RolloutProject.generated(fleet, workdir, [fleet.names[:size]]), []
    rp = RolloutProject.create(fleet, workdir)
    chosen = stack_names(rp.root)[:size]
    plan = {"soak": "0s", "timeouts": {"gate": "300s"}, "waves": [{"stacks": chosen}]}
    (rp.root / "rollout-plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return rp, ["--only", ",".join(chosen)]


def waves_of_growing_size(
    fleet: Fleet, scratch: Path, args: argparse.Namespace, record
) -> dict[str, dict[int, float]]:  # type: ignore[no-untyped-def]
    names = fleet.names[: args.clusters]
    sizes = sorted({1, min(3, len(names)), len(names)})
    curves: dict[str, dict[int, float]] = {"one at a time": {}, f"{args.parallel} at once": {}}
    if args.before:
        curves[f"one at a time, as of {args.before[:7]}"] = {}
    for size in sizes:
        rp, only = wave_project(fleet, scratch / f"wave-{size}", size, bool(args.fleet))
        # The first deploy, untimed; a fleet in use runs whatever it runs.
        back = ["--allow-downgrade"] if args.fleet else []
        first = rp.fleet_cmd("rollout", "--plain", *back, *only, timeout=3600)
        assert first.code == 0, first.text
        runs = [
            ("one at a time", "--parallel", "1"),
            (f"{args.parallel} at once", "--parallel", str(args.parallel)),
        ]
        for minor, (label, *flags) in enumerate(runs, 1):
            report = rollout(rp, f"0.8.{minor}", *flags, *only)
            curves[label][size] = report["seconds"]
            record(f"one wave of {size}: rollout, {label}", report["seconds"])
            record(f"one wave of {size}: deploy per stack, {label}", deploy_seconds(report) / size)
        if args.before:
            label = f"one at a time, as of {args.before[:7]}"
            report = with_code_of(
                rp, args.before, lambda rp=rp, only=only: rollout(rp, "0.8.9", *only)
            )
            curves[label][size] = report["seconds"]
            record(f"one wave of {size}: rollout, {label}", report["seconds"])
            record(f"one wave of {size}: deploy per stack, {label}", deploy_seconds(report) / size)
    return curves


def test_bed(scratch: Path, clusters: int, nodes: int, record) -> tuple[Bringup, Fleet]:  # type: ignore[no-untyped-def]
    names = [f"scale-{n}" for n in range(1, clusters + 1)]
    bringup = Bringup(scratch / f"fleet-{nodes}", names, nodes)
    started = time.monotonic()
    with PeakMemory(bringup.workdir) as memory:
        fleet = bringup.up()
    record(f"test bed of {clusters} x {nodes} nodes: start", time.monotonic() - started)
    record(
        f"test bed of {clusters} x {nodes} nodes: peak memory while starting", memory.peak, "MiB"
    )
    return bringup, fleet


def chart(path: Path, curves: dict[str, dict[int, float]], figures: Figures, shards: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (left, right) = pyplot.subplots(1, 2, figsize=(10, 4))
    for label, points in curves.items():
        sizes = sorted(points)
        left.plot(sizes, [points[s] for s in sizes], marker="o", label=label)
    left.set(xlabel="clusters in the wave", ylabel="rollout (s)", title="One wave, zero soak")
    left.set_ylim(bottom=0)
    left.legend()
    stacks = sorted({int(w.split()[2]) for w, _, _ in figures if w.startswith("fleet preview, ")})
    value = {w: v for w, v, _ in figures}
    for runner in ("one runner", f"slowest of {shards} shards"):
        times = [value[f"fleet preview, {n} stacks, {runner}"] for n in stacks]
        right.plot(stacks, times, marker="o", label=runner)
    right.set(xlabel="stacks", ylabel="fleet preview (s)", title="Previews of a pull request")
    right.set_ylim(bottom=0)
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--stacks", default="30,100")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--big-nodes", type=int, default=50)
    parser.add_argument("--before", help="a revision whose code rolls out one stack at a time")
    parser.add_argument("--chart", type=Path)
    parser.add_argument(
        "--with", dest="earlier", type=Path, help="figures of an earlier run (--json) to keep"
    )
    parser.add_argument("--fleet", type=Path, help="the work directory of a fleet already up")
    parser.add_argument("--smoke", action="store_true", help="one run, the smallest sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.clusters, args.parallel, args.stacks, args.shards = 1, 2, "2", 2
    if args.smoke or args.fleet:
        args.big_nodes = 0
    figures: Figures = []
    if args.earlier:
        rows = json.loads(args.earlier.read_text())
        figures += [(row["what"], row["value"], row["unit"]) for row in rows]

    def record(what: str, value: float, unit: str = "s") -> None:
        figures.append((what, value, unit))
        print(f"bench: {what}: {value:.1f} {unit}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hecate-bench-scale-") as scratch:
        scratch_path = Path(scratch)
        counts = [int(n) for n in args.stacks.split(",") if n]  # --stacks "": no previews
        previews(scratch_path, counts, args.shards, record)
        if args.fleet:  # found as it is, left up
            fleet = Fleet.load(args.fleet.resolve())
            curves = waves_of_growing_size(fleet, scratch_path, args, record)
        else:
            bringup, fleet = test_bed(scratch_path, args.clusters, 3, record)
            try:
                curves = waves_of_growing_size(fleet, scratch_path, args, record)
            finally:
                bringup.down()
        if args.chart:  # before the longest part: a run stopped there still has its chart
            chart(args.chart, curves, figures, args.shards)
        if args.big_nodes:
            bringup, fleet = test_bed(scratch_path, args.clusters, args.big_nodes, record)
            try:
                waves = three_waves(fleet.names)
                rp = RolloutProject.generated(fleet, scratch_path / "big", waves)
                with PeakMemory(bringup.workdir) as memory:
                    first = rollout(rp, None, "--parallel", str(args.parallel))
                    report = rollout(rp, "0.8.1", "--parallel", str(args.parallel))
                where = f"{args.clusters} x {args.big_nodes} nodes"
                record(f"test bed of {where}: first deploy, three waves", first["seconds"])
                record(f"test bed of {where}: rollout, three waves", report["seconds"])
                record(f"test bed of {where}: peak memory while rolling out", memory.peak, "MiB")
            finally:
                bringup.down()
    print_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
