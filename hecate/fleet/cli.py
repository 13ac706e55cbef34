"""`hecate fleet` (or `python -m hecate fleet`): the fleet of this project's stacks.

    fleet status [--json] [--no-clusters]      each stack's tree and cluster; exit 1 on drift,
                                               an unhealthy or an unknown (unreachable) cluster
    fleet preview [--json] [--report FILE] [--expect-no-changes] [--shard I/N]
                                               every stack (or one shard's) previewed in
                                               parallel, policy pack on
    fleet merge-previews SHARD.json... [--report FILE] [--expect-no-changes]
                                               the shards' reports as one, each stack once
    fleet shards [--per-shard 10]              the shards a CI job matrix runs, as JSON
    fleet rollout VERSION [--plan FILE] [--dry-run] [--no-rollback] [--parallel N] [--json]
                      [--report FILE] [--allow-downgrade] [--only STACK,...]
                      [--approve WAVE,...]
    fleet rollout --abort [--plan FILE] [--json]
                                               the unfinished rollout (interrupted or waiting
                                               for an approval) rolled back, the fleet freed
                                               the version through the plan's waves (for
                                               those stacks alone, with --only), each
                                               wave's stacks N at a time, gated; never to
                                               an older version than a cluster's pods run
                                               unless --allow-downgrade
    fleet release VERSION|--newest [--stacks S,...] [--skip-registry-check] [--pre-releases]
                      [--json]                 the version into the stack files, committed on
                                               a branch release/VERSION (the pull request's)
    fleet kubeconfig --output FILE [--duration 24h] [--json]
                                               a kubeconfig for the fleet tool's own identity
                                               (FLEET_KUBECONFIG), one context per cluster

Exit status: 0 fine; 1 drift, unhealthy, changes where none were expected, a failed preview or
a failed rollout (rolled back or not); 2 bad input (nothing ran); 3 another runner's rollout
holds the fleet (nothing ran; the message names it); 4 the rollout stopped before a wave with
`approval: required` (not a failure: nothing of that wave changed; carry on with --approve
WAVE); 130 interrupted (run the same rollout again, from any runner, to carry on).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from ..settings import ConfigError
from ..table import print_table
from . import shards
from .deployments import Deployments
from .gitops_repo import GitError, RemoteUnreachable
from .journal import AS_COMMITTED, JournalError
from .plan import PLAN_FILE, PlanError, load_plan
from .preflight import PreflightError
from .remote_state import LockHeld
from .report import PreviewReport, PreviewRow, Progress, RolloutReport, append_report
from .rollout import DEFAULT_PARALLEL, Rollout
from .stacks import ChangeSummary, FleetProject
from .status import StackStatus, fleet_status
from .versions import DowngradeRefused

OK, FAILED, BAD_INPUT, LOCKED, AWAITING_APPROVAL, INTERRUPTED = 0, 1, 2, 3, 4, 130


class UsageError(ValueError):
    """Options that do not go together."""


# --- status ------------------------------------------------------------------------------


def status(args: argparse.Namespace, out: TextIO) -> int:
    project = FleetProject(args.root)
    rows = fleet_status(project, project.stacks, not args.no_clusters, args.kubeconfig)
    if args.json:
        print(json.dumps([asdict(r) | {"fine": r.fine} for r in rows], indent=2), file=out)
    else:
        print_table("hecate fleet", rows, out, StackStatus.HEADERS)
        for r in rows:
            for problem in r.problems:
                print(f"{r.stack}: {problem}", file=out)
            for note in r.notes:
                print(f"{r.stack}: note: {note}", file=out)
    return OK if all(r.fine for r in rows) else FAILED


# --- preview -----------------------------------------------------------------------------


def preview(args: argparse.Namespace, out: TextIO) -> int:
    project = FleetProject(args.root)
    stacks = shards.Shard.parse(args.shard).of(project.stacks) if args.shard else project.stacks
    summaries = project.preview_all(args.parallel, stacks)
    return _preview_report(summaries, args, out)


def merge_previews(args: argparse.Namespace, out: TextIO) -> int:
    project = FleetProject(args.root)
    return _preview_report(shards.merged(args.files, project.stacks), args, out)


def shard_matrix(args: argparse.Namespace, out: TextIO) -> int:
    print(json.dumps(shards.matrix(FleetProject(args.root).stacks, args.per_shard)), file=out)
    return OK


def _preview_report(summaries: list[ChangeSummary], args: argparse.Namespace, out: TextIO) -> int:
    report = PreviewReport(summaries, args.expect_no_changes)
    append_report(args.report, report.markdown())
    if args.json:
        print(shards.dump(summaries), file=out)
    else:
        print_table("hecate fleet preview", report.rows, out, PreviewRow.HEADERS)
        for s in summaries:
            if not s.ok:
                print(f"\n{s.stack}: preview failed:\n{s.output.strip()}", file=out)
    return OK if report.fine else FAILED


# --- rollout -----------------------------------------------------------------------------


def rollout(args: argparse.Namespace, out: TextIO) -> int:
    project = FleetProject(args.root)
    plan = load_plan(args.plan or project.root / PLAN_FILE, project.stacks)
    if args.only:
        plan = plan.only(args.only.split(","), f"{args.plan or PLAN_FILE} with --only {args.only}")
    if args.abort and (args.version or args.approve or args.only or args.dry_run):
        raise UsageError(
            "--abort ends the unfinished rollout, whichever version it is: give it no version, "
            "--approve, --only or --dry-run"
        )
    approve = tuple(args.approve.split(",")) if args.approve else ()
    plan.check_approvals(approve, f"{args.plan or PLAN_FILE} with --approve {args.approve}")
    report = RolloutReport(args.version or AS_COMMITTED)
    with Progress(report, live=None if not args.plain else False) as progress:
        runner = Rollout(
            project,
            plan,
            args.version,
            progress,
            report,
            rollback=not args.no_rollback,
            kubeconfig=args.kubeconfig,
            wait_seconds=args.wait,
            parallel=args.parallel,
            allow_downgrade=args.allow_downgrade,
            approve=approve,
            abort=args.abort,
        )
        runner.validate_version()
        if not args.dry_run:
            runner.deployments = Deployments.from_environment(
                os.environ,
                str(project.root),
                lambda text: progress.event("rollout", "", "deployments", text),
            )
            runner.preflight()
        try:
            if args.dry_run:
                runner.dry_run(sys.stderr if args.json else out)
            else:
                runner.run()
        except KeyboardInterrupt:
            report.result = "interrupted"
            report.failure = "interrupted: run the same command again to carry on"
        report.seconds = round(progress.elapsed(), 1)
    append_report(args.report, report.markdown())
    print(report.as_json() if args.json else report.markdown(), file=out)
    if report.result == "interrupted":
        return INTERRUPTED
    if report.result == "aborted":
        return OK
    if report.awaiting:
        if args.awaiting_output:
            with args.awaiting_output.open("a") as output:
                output.write(f"awaiting={report.awaiting}\n")
        return AWAITING_APPROVAL
    return OK if report.succeeded else FAILED


# --- kubeconfig --------------------------------------------------------------------------


def kubeconfig(args: argparse.Namespace, out: TextIO) -> int:
    from . import kubeconfig as fleet_kubeconfig

    try:
        seconds = fleet_kubeconfig.duration_seconds(args.duration)
        fleet_kubeconfig.check_output(args.output)
        project = FleetProject(args.root)
        config, issued = fleet_kubeconfig.issue(project, project.stacks, args.kubeconfig, seconds)
    except fleet_kubeconfig.KubeconfigUsage as error:
        print(f"fleet kubeconfig: {error}", file=sys.stderr)
        return BAD_INPUT
    except fleet_kubeconfig.KubeconfigError as error:
        print(f"fleet kubeconfig: {error}", file=sys.stderr)
        return FAILED
    fleet_kubeconfig.write(args.output, config)
    if args.json:
        print(json.dumps([asdict(i) for i in issued], indent=2), file=out)
    else:
        print_table("fleet kubeconfig", issued, out, fleet_kubeconfig.Issued.HEADERS)
        print(f"written: {args.output} (hecate-fleet's tokens; keep it secret)", file=out)
    return OK


# --- release ------------------------------------------------------------------------------


def release(args: argparse.Namespace, out: TextIO) -> int:
    from . import release as releases

    project = FleetProject(args.root)
    stacks = args.stacks.split(",") if args.stacks else project.stacks
    try:
        if bool(args.version) == args.newest:
            raise releases.ReleaseRefused("give a VERSION or --newest (one of the two)")
        runner = releases.Release(project, stacks, check_registry=not args.skip_registry_check)
        version: str = args.version or runner.newest(args.pre_releases) or ""
        changes = runner.check(version) if version else []
        pending = runner.pending(version) if changes else ""
        if pending and not args.newest:
            raise releases.ReleaseRefused(
                f"the branch {pending} is on the remote already: its pull request is open, or "
                f"was closed unmerged (delete the branch to release {version} again)"
            )
        branch = runner.commit(version, changes) if changes and not pending else ""
    except releases.ReleaseRefused as error:
        print(f"fleet release: {error}", file=sys.stderr)
        return BAD_INPUT
    except releases.ReleaseFailed as error:
        print(f"fleet release: {error}", file=sys.stderr)
        return FAILED
    if args.json:
        rows = [asdict(c) for c in changes]
        report = {"version": version, "branch": branch, "pending": pending, "stacks": rows}
        print(json.dumps(report), file=out)
    elif pending:
        print(
            f"nothing to release: {pending} is on the remote already, awaiting its merge", file=out
        )
    elif not branch:
        held = runner.held()
        print(f"nothing to release: the stack files hold {version or held} already", file=out)
    else:
        print_table("hecate fleet release", changes, out, releases.Released.HEADERS)
        print(f"committed on {branch}: push it and open a pull request", file=out)
    return OK


# --- the command line --------------------------------------------------------------------


def positive(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,3}", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def report_options(command: argparse.ArgumentParser) -> None:
    """What a preview report takes, sharded or whole."""
    command.add_argument("--json", action="store_true", help="machine-readable output")
    command.add_argument("--report", type=Path, help="append a Markdown report (a PR comment) here")
    command.add_argument("--expect-no-changes", action="store_true", help="exit 1 on any change")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="hecate fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--root", type=Path, default=Path.cwd(), help="the project (default: .)")
    top.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    commands = top.add_subparsers(dest="command", required=True)

    s = commands.add_parser("status", help="each stack's tree and cluster")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--no-clusters", action="store_true", help="the tree columns only")
    s.set_defaults(run=status)

    p = commands.add_parser("preview", help="every stack's preview, in parallel")
    report_options(p)
    p.add_argument(
        "--parallel",
        type=positive,
        default=DEFAULT_PARALLEL,
        help=f"previews at once (default {DEFAULT_PARALLEL})",
    )
    p.add_argument("--shard", metavar="I/N", help="only the stacks of shard I of N (a CI matrix)")
    p.set_defaults(run=preview)

    m = commands.add_parser("merge-previews", help="one report from the shards' --json")
    m.add_argument("files", nargs="+", type=Path, help="each shard's `fleet preview --json`")
    report_options(m)
    m.set_defaults(run=merge_previews)

    sh = commands.add_parser("shards", help="the shards a CI matrix runs, as JSON")
    sh.add_argument("--per-shard", type=positive, default=10, help="stacks a shard (default 10)")
    sh.set_defaults(run=shard_matrix)

    r = commands.add_parser("rollout", help="a version through the fleet, wave by wave")
    r.add_argument(
        "version",
        nargs="?",
        help="daemon version for every stack; without it, "
        "each stack's committed config is rolled out as it is",
    )
    r.add_argument("--plan", type=Path, help=f"the rollout plan (default: {PLAN_FILE})")
    r.add_argument("--dry-run", action="store_true", help="print the plan and previews only")
    r.add_argument("--no-rollback", action="store_true", help="leave a failed wave as it is")
    r.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="may move clusters to an older version than their pods run (refused otherwise)",
    )
    r.add_argument(
        "--only",
        metavar="STACK[,STACK]",
        help="the plan's waves for these stacks alone (a hotfix to one cluster)",
    )
    r.add_argument(
        "--approve",
        metavar="WAVE[,WAVE]",
        help="approve these waves (`approval: required` in the plan): the rollout goes on "
        "through them instead of stopping before them with exit 4",
    )
    r.add_argument(
        "--abort",
        action="store_true",
        help="end the unfinished rollout (interrupted, or waiting for an approval): roll back "
        "every wave it deployed, the last first, and free the fleet",
    )
    r.add_argument(
        "--awaiting-output",
        type=Path,
        metavar="FILE",
        help="when a wave waits for its approval, append `awaiting=WAVE` to FILE (a CI "
        "step's $GITHUB_OUTPUT)",
    )
    r.add_argument("--json", action="store_true", help="the final report as JSON")
    r.add_argument("--report", type=Path, help="append the Markdown report here")
    r.add_argument("--plain", action="store_true", help="plain progress lines, even on a TTY")
    r.add_argument(
        "--parallel",
        type=positive,
        default=DEFAULT_PARALLEL,
        metavar="N",
        help=f"stacks of a wave deployed at once (default {DEFAULT_PARALLEL})",
    )
    r.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for another runner's rollout to end (default: refuse at once)",
    )
    r.set_defaults(run=rollout)

    rel = commands.add_parser("release", help="a daemon version into the stack files, on a branch")
    rel.add_argument("version", nargs="?", help="the daemon version (a tag of the stacks' image)")
    rel.add_argument(
        "--newest",
        action="store_true",
        help="the newest release in the registry newer than the stack files hold (if any)",
    )
    rel.add_argument("--pre-releases", action="store_true", help="--newest may be a pre-release")
    rel.add_argument("--stacks", help="only these stacks, comma-separated (default: every one)")
    rel.add_argument(
        "--skip-registry-check",
        action="store_true",
        help="do not ask the registry whether the tag exists (a machine that cannot reach it)",
    )
    rel.add_argument("--json", action="store_true", help="the version, branch and changes")
    rel.set_defaults(run=release)

    k = commands.add_parser("kubeconfig", help="a kubeconfig for the fleet tool's identity")
    k.add_argument("--output", type=Path, required=True, help="the file to write (mode 0600)")
    k.add_argument(
        "--duration",
        default="24h",
        help="how long the tokens last, e.g. 90m, 24h, 7d (default 24h)",
    )
    k.add_argument("--json", action="store_true", help="what was issued, as JSON")
    k.set_defaults(run=kubeconfig)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except (
        UsageError,
        ConfigError,
        PlanError,
        JournalError,
        PreflightError,
        DowngradeRefused,
        shards.ShardError,
    ) as error:
        print(f"fleet {args.command}: {error}", file=sys.stderr)
        return BAD_INPUT
    except LockHeld as error:
        print(f"fleet {args.command}: {error}", file=sys.stderr)
        return LOCKED
    except RemoteUnreachable as error:
        print(
            f"fleet {args.command}: {error}: nothing was changed; run the same command again "
            "once it answers",
            file=sys.stderr,
        )
        return FAILED
    except (GitError, FileNotFoundError) as error:
        print(f"fleet {args.command}: {error}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print(f"fleet {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
