"""The local fleet's figures (`make bench-fleet`), printed as a table (or `--json`):

- the cold build of the test bed (`--cold-build`: into an empty cache and Go build cache, so
  tens of minutes; otherwise not measured);
- warm `fleet up` to three ready clusters, and the fleet's resident memory;
- the time from `git push` to the DaemonSet rolled out on every node, with Flux's reconcile
  requested (as `flux reconcile` does) and left to Flux's intervals;
- how that time grows with the fake nodes of one cluster (`--nodes 10,100,500`).

`--fleet DIR` runs on the fleet already up in DIR (`make fleet-up`'s `.fleet`) instead of
bringing one up, and leaves it up. `--smoke` is one run of each figure at the smallest sizes (no
node rows, no wait on Flux's intervals): the tests run it on their fleet, so that a change that
breaks the bench fails `make test`.

    scripts/bench_fleet.py [--nodes 10,100,500] [--cold-build] [--fleet DIR] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hecate.signals import let_children_hear_sigint  # noqa: E402
from testbed import flux  # noqa: E402
from testbed.components import CLUSTERS  # noqa: E402
from testbed.deployment import Deployment  # noqa: E402
from testbed.fleet import Fleet  # noqa: E402
from testbed.local_fleet import Bringup  # noqa: E402
from testbed.processes import Launcher, wait_for  # noqa: E402

STACK = "beam"


def resident_mib(workdir: Path) -> float:
    """Resident memory of every process the fleet started, from /proc."""
    launcher = Launcher(workdir)
    total = 0
    for pid in launcher.recorded().values():
        if not launcher.ours(pid):
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def push_to_rolled_out(deployment: Deployment, version: str, requested: bool) -> float:
    """Seconds from the push of a version to every node running it and ready."""
    deployment.config("hecate:version", version)
    deployment.up()
    image = deployment.image
    started = time.monotonic()
    commit = deployment.push(f"deploy({deployment.cluster}): hecate-daemon {version}")
    if requested:
        flux.sync(deployment.fleet, deployment.cluster, commit, timeout=1800)
    wait_for(
        f"{deployment.cluster} on {version}",
        lambda: deployment.rolled_out(image),
        timeout=1800,
        every=0.25,
    )
    return time.monotonic() - started


@contextmanager
def fleet_to_bench(
    given: Path | None, workdir: Path, names: list[str], nodes: int, record
) -> Iterator[Fleet]:  # type: ignore[no-untyped-def]
    """The fleet a bench runs on: the one up in `given` (`--fleet`), found as it is and left up,
    or one brought up in `workdir` (its start recorded) and taken down afterwards."""
    if given is not None:
        yield Fleet.load(given.resolve())
        return
    bringup = Bringup(workdir, names, nodes)
    try:
        started = time.monotonic()
        fleet = bringup.up()
        record(f"warm fleet up, {len(names)} clusters of {nodes} nodes", time.monotonic() - started)
        yield fleet
    finally:
        bringup.down()


def deployment_for(fleet, workdir: Path) -> Deployment:
    created = Deployment.create(fleet, STACK, workdir)
    # The tests' short health timeout would fail a rollout over hundreds of nodes.
    created.config("hecate:healthTimeout", "30m")
    return created


def cold_build(scratch: Path) -> float:
    env = {
        **os.environ,
        "HECATE_CACHE": str(scratch / "cache"),
        "GOCACHE": str(scratch / "gocache"),
        "GOMODCACHE": str(scratch / "gomodcache"),
    }
    started = time.monotonic()
    subprocess.run(["bash", str(ROOT / "scripts" / "install-testbed")], env=env, check=True)
    elapsed = time.monotonic() - started
    subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)  # module cache is read-only
    return elapsed


def main() -> int:
    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="10,100,500", help="node counts for the scaling rows")
    parser.add_argument("--cold-build", action="store_true")
    parser.add_argument("--fleet", type=Path, help="the work directory of a fleet already up")
    parser.add_argument("--smoke", action="store_true", help="one run, the smallest sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.nodes, args.cold_build = "", False
    figures: list[tuple[str, float, str]] = []

    def record(what: str, value: float, unit: str = "s") -> None:
        figures.append((what, value, unit))
        print(f"bench: {what}: {value:.1f} {unit}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hecate-bench-fleet-") as scratch:
        scratch_path = Path(scratch)
        if args.cold_build:
            record("cold build of the test bed", cold_build(scratch_path / "cold") / 60, "min")

        with fleet_to_bench(args.fleet, scratch_path / "fleet", CLUSTERS, 3, record) as fleet:
            nodes = fleet.nodes
            record("fleet resident memory (idle)", resident_mib(fleet.workdir), "MiB")
            deployment = deployment_for(fleet, scratch_path / "stack")
            record(
                f"first deploy, push to rolled out ({nodes} nodes, requested)",
                push_to_rolled_out(deployment, "0.7.2", True),
            )
            record(
                f"version bump, push to rolled out ({nodes} nodes, requested)",
                push_to_rolled_out(deployment, "0.7.3", True),
            )
            if not args.smoke:  # up to the GitRepository's interval (a minute) of waiting
                record(
                    f"version bump, push to rolled out ({nodes} nodes, Flux's intervals)",
                    push_to_rolled_out(deployment, "0.7.4", False),
                )
            record("fleet resident memory (after the rollouts)", resident_mib(fleet.workdir), "MiB")

        for count in [int(n) for n in args.nodes.split(",") if n]:
            bringup = Bringup(scratch_path / f"nodes-{count}", ["beam-cluster"], count)
            try:
                started = time.monotonic()
                fleet = bringup.up()
                record(f"one cluster of {count} nodes up", time.monotonic() - started)
                deployment = deployment_for(fleet, scratch_path / f"stack-{count}")
                record(
                    f"first deploy, push to rolled out ({count} nodes)",
                    push_to_rolled_out(deployment, "0.7.2", True),
                )
                record(
                    f"version bump, push to rolled out ({count} nodes, maxUnavailable 1)",
                    push_to_rolled_out(deployment, "0.7.3", True),
                )
                record(
                    f"cluster resident memory ({count} nodes)", resident_mib(fleet.workdir), "MiB"
                )
            finally:
                bringup.down()

    print_figures(figures, args.json)
    return 0


def print_figures(figures: list[tuple[str, float, str]], as_json: bool) -> None:
    """The benchmark's figures: a table for people, or JSON."""
    if as_json:
        rows = [{"what": w, "value": round(v, 2), "unit": u} for w, v, u in figures]
        print(json.dumps(rows, indent=2))
        return
    width = max(len(w) for w, _, _ in figures)
    for what, value, unit in figures:
        print(f"{what:<{width}}  {value:8.1f} {unit}")


if __name__ == "__main__":
    sys.exit(main())
