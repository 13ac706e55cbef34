"""`fleet rollout VERSION --dry-run`: the plan as it would run and each stack's preview with
the new version; nothing in the project, the state or a cluster changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from ..naming import VERSION_KEY
from ..project import stack_file_with
from .report import RolloutReport

if TYPE_CHECKING:
    from .rollout import Rollout


def dry_run(rollout: Rollout, out: TextIO) -> RolloutReport:
    """The plan and each stack's preview with the new version, through a temporary copy
    of the stack file (`--config-file`): nothing in the project, the state or a cluster
    changes."""
    project = rollout.project
    for line in plan_lines(rollout):
        print(line, file=out)
    report = rollout.report
    report.dry_run, report.result = True, "dry run"
    for stack in rollout.plan.stacks:
        version = {VERSION_KEY: rollout.version_of(stack)}
        summary = project.preview_as(stack, stack_file_with(project.stack_file(stack), version))
        outcome = report.stacks[stack]
        outcome.after = rollout.version_of(stack)
        outcome.result = "would change" if summary.changed else "no change"
        if not summary.ok:
            outcome.result = "preview failed"
        outcome.detail = summary.described if summary.ok else "—"
        print(f"\n--- {stack}: {outcome.result} ({outcome.detail})", file=out)
        print(summary.output.strip(), file=out)
    return report


def plan_lines(rollout: Rollout) -> list[str]:
    """The plan as `--dry-run` prints it."""
    lines = []
    for index, wave in enumerate(rollout.plan.waves, 1):
        soak = f", soak {wave.soak_seconds:.0f} s" if wave.soak_seconds else ""
        lines.append(f"wave {index} ({wave.name}{soak}):")
        if wave.approval_required:
            lines.append("  stops for approval first (--approve " + wave.name + ")")
        for stack in wave.stacks:
            t = rollout.targets[stack]
            lines.append(
                f"  {stack}: {t.cluster} (context {t.context}) "
                f"{t.settings.version} → {rollout.version_of(stack)}"
            )
        for check in wave.verify:
            lines.append(
                f"  verify {check.name}: {' '.join(check.command)} "
                f"(timeout {check.timeout_seconds:.0f} s)"
            )
    lines.append(f"gate timeout: {rollout.plan.gate_timeout_seconds:.0f} s per wave")
    return lines
