"""`make fleet-up` / `make fleet-down`: the local fleet, for people.

    python -m testbed up [--workdir .fleet] [--nodes 3] [--clusters dev-cluster,...]
    python -m testbed up --count 10 [--prefix fleet] [--nodes 50]
        clusters fleet-1 ... fleet-10, and a scratch copy of the project in <workdir>/project
        with one generated stack per cluster, rolled out in three waves
    python -m testbed down [--workdir .fleet]
    python -m testbed status [--workdir .fleet] [--json]

Exit status: 0 done, 1 the fleet failed (the message names the step and the log), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hecate.grammars import is_dns_label
from hecate.signals import let_children_hear_sigint
from testbed.components import CLUSTERS
from testbed.fleet import Fleet
from testbed.local_fleet import Bringup
from testbed.processes import FleetError
from testbed.rollout_project import RolloutProject, three_waves


def progress(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--workdir", type=Path, default=Path(".fleet"))
    parser.add_argument("--nodes", type=int, default=3, help="fake nodes per cluster (default 3)")
    parser.add_argument("--clusters", default=",".join(CLUSTERS))
    parser.add_argument("--count", type=int, help="this many clusters, named <prefix>-<n>")
    parser.add_argument("--prefix", default="fleet", help="with --count (default fleet)")
    parser.add_argument("--json", action="store_true", help="status as JSON")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error(f"--nodes {args.nodes}: a cluster needs at least one node")
    names = [n for n in args.clusters.split(",") if n]
    if args.count is not None:
        if not 1 <= args.count <= 100:
            parser.error(f"--count {args.count}: from 1 to 100 clusters")
        names = [f"{args.prefix}-{n}" for n in range(1, args.count + 1)]
    bad = [n for n in names if not is_dns_label(n)]
    if bad:
        parser.error(f"cluster names {bad}: each must be a DNS-1123 label (check --prefix)")
    # Untied: the fleet outlives this command, until `make fleet-down`.
    bringup = Bringup(args.workdir, names, args.nodes, progress, tied=False)
    try:
        if args.command == "up":
            fleet = bringup.up()
            if args.count is not None and not (fleet.workdir / "project").exists():
                project = RolloutProject.generated(fleet, fleet.workdir, three_waves(names))
                progress(f"generated stacks, one per cluster: {project.root}")
            print(f"source {fleet.workdir / 'env'}   # KUBECONFIG, HECATE_GITOPS_URL")
        elif args.command == "down":
            if gone := bringup.abandoned():
                progress(f"the fleet in {bringup.workdir} {gone}")
            killed = bringup.down()
            progress("down" + (f" (killed {len(killed)} that ignored SIGTERM)" if killed else ""))
        else:
            fleet = Fleet.load(args.workdir.resolve())
            rows = [
                {
                    "cluster": c.name,
                    "api": f"https://127.0.0.1:{c.api_port}",
                    "nodes": fleet.nodes,
                    "sealingCert": c.sealing_cert_url,
                }
                for c in fleet.clusters
            ]
            if args.json:
                print(json.dumps({"gitops": fleet.git_url, "clusters": rows}, indent=2))
            else:
                print(f"{'CLUSTER':<14} {'API SERVER':<26} {'NODES':<6} SEALING CERT")
                for row in rows:
                    cells = (row["cluster"], row["api"], row["nodes"], row["sealingCert"])
                    print("{:<14} {:<26} {:<6} {}".format(*cells))
                print(f"gitops repository: {fleet.git_url}")
    except FleetError as error:
        progress(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
