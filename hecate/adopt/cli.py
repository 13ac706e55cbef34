"""`hecate adopt`'s command line: arguments in, the plan, its report, exit status out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..handmade_tree import (
    TreeRefused,
)
from ..project import stack_config, stack_file_config
from ..settings import default
from .model import AdoptRefused
from .planning import plan
from .report import as_json, report
from .writing import apply, existing_settings, remove_shared_only


def _cluster_of(stack_path: Path, given: str | None) -> str:
    named = None
    if stack_path.is_file():
        named = stack_file_config(stack_path).get("hecate:cluster")
    if given and named and given != named:
        raise AdoptRefused(
            [f"--cluster {given!r}: {stack_path.name} already names hecate:cluster {named!r}"]
        )
    if not (given or named):
        raise AdoptRefused(
            [f"no cluster: {stack_path.name} sets no hecate:cluster; name it with --cluster"]
        )
    return str(given or named)


def _gitops_dir(root: Path, stack: str, given: Path | None) -> Path:
    if given is not None:
        return given
    try:
        configured = stack_config(root, stack).get("hecate:gitopsDir", default("gitopsDir"))
    except FileNotFoundError:
        configured = default("gitopsDir")
    return root / str(configured)


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="hecate adopt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--stack", help="the stack to write, e.g. beam (Pulumi.beam.yaml)")
    command.add_argument("--cluster", help="the cluster (default: the stack file's hecate:cluster)")
    command.add_argument(
        "--gitops", type=Path, help="the gitops checkout (default: the stack's hecate:gitopsDir)"
    )
    command.add_argument("--root", type=Path, default=Path.cwd(), help="the project (default: .)")
    command.add_argument(
        "--overwrite", action="store_true", help="replace the settings the stack file has"
    )
    command.add_argument(
        "--remove-shared",
        action="store_true",
        help="remove the shared files of the guide's layout (refused while a cluster syncs them)",
    )
    command.add_argument(
        "--shared-dir", default="infrastructure/hecate", help="with --remove-shared alone"
    )
    command.add_argument("--dry-run", action="store_true", help="print, write nothing")
    command.add_argument("--json", action="store_true", help="the result as JSON")
    return command


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.stack is None:
            if not args.remove_shared:
                options.error("--stack is required (or --remove-shared alone)")
            gitops = (args.gitops or root / "gitops").resolve()
            files = remove_shared_only(gitops, os.path.normpath(args.shared_dir))
            if not args.dry_run:
                for relative in files:
                    (gitops / relative).unlink()
            print(
                json.dumps({"removed": files})
                if args.json
                else "\n".join(
                    f"{'would remove' if args.dry_run else 'removed'} {f}" for f in files
                )
                or "nothing to remove"
            )
            return 0
        stack_path = root / f"Pulumi.{args.stack}.yaml"
        cluster = _cluster_of(stack_path, args.cluster)
        already = existing_settings(stack_path)
        if already and not args.overwrite:
            raise AdoptRefused(
                [
                    f"{stack_path.name} already has settings ({', '.join(already)}); adopt writes "
                    "them from the hand-made tree: pass --overwrite to replace them"
                ]
            )
        gitops = _gitops_dir(root, args.stack, args.gitops).resolve()
        result = plan(root, gitops, args.stack, cluster, args.remove_shared)
        if not args.dry_run:
            apply(result, stack_path)
    except (AdoptRefused, TreeRefused) as error:
        for problem in error.problems:
            print(f"adopt: {problem}", file=sys.stderr)
        print("adopt: nothing written", file=sys.stderr)
        return 1
    print(
        json.dumps(as_json(result, args.dry_run), indent=2)
        if args.json
        else report(result, stack_path, args.dry_run)
    )
    return 0
