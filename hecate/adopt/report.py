"""The plan as people read it and as --json gives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .model import Change, Plan, short


def _display(key: str, value: Any) -> str:
    if key == "hecate:sealedSecrets":
        return ", ".join(sorted(value)) + " (copied sealed)"
    if key == "hecate:patches":
        return f"{len(value)} patch(es), below"
    return short(value)


def report(result: Plan, stack_path: Path, dry_run: bool) -> str:
    handmade = result.handmade
    lines = [
        f"{'Would adopt' if dry_run else 'Adopted'} {result.cluster} into stack {result.stack}: "
        f"{handmade.sync.file} syncs ./{handmade.shared_dir}",
        "",
        f"Settings ({stack_path.name})",
    ]
    width = max(len(k) for k in result.config)
    lines += [f"  {k.ljust(width)}  {_display(k, v)}" for k, v in result.config.items()]
    if result.kept_by_patch:
        lines += ["", "Fields no setting expresses, kept as hecate:patches"]
        lines += [f"  {c.line()}" for c in result.kept_by_patch]
    lines += ["", "What the first `make up` changes on the cluster"]
    lines += [f"  {c.line()}" for c in result.changes] or ["  nothing"]
    lines += ["", f"Shared files of {handmade.shared_dir}/"]
    if result.remove_shared:
        lines.append(f"  removed (no other cluster syncs them): {', '.join(handmade.shared_files)}")
    else:
        lines.append(f"  kept: still synced by {', '.join(result.shared_users)}")
        lines += [f"  written: {p}" for p in result.write]
    for note in result.notes:
        lines.append(f"note: {note}")
    directories = sorted({f"clusters/{result.cluster}", handmade.shared_dir})
    lines += [
        "",
        f"Next: `make up STACK={result.stack}`, then one commit of {' and '.join(directories)} "
        "in the gitops checkout, pushed: that commit moves the cluster.",
    ]
    return "\n".join(lines)


def as_json(result: Plan, dry_run: bool) -> dict[str, Any]:
    def change(c: Change) -> dict[str, Any]:
        return {"object": f"{c.kind}/{c.name}", "op": c.op, "path": c.path, "value": c.value}

    config = {
        k: (sorted(v) if k == "hecate:sealedSecrets" else v) for k, v in result.config.items()
    }
    return {
        "stack": result.stack,
        "cluster": result.cluster,
        "dryRun": dry_run,
        "from": result.handmade.sync.file,
        "settings": config,
        "keptByPatch": [change(c) for c in result.kept_by_patch],
        "changes": [change(c) for c in result.changes],
        "shared": {
            "dir": result.handmade.shared_dir,
            "files": list(result.handmade.shared_files),
            "removed": result.remove_shared,
            "usedBy": result.shared_users,
        },
        "written": sorted(result.write),
        "removed": sorted(result.remove),
        "notes": result.notes,
    }
