"""The team's own checks (`verify:` on a wave of the rollout plan), run once per cluster after
the wave's gates pass and again at the end of its soak.

A check is a program and its arguments, run from the project's root without a shell, with the
cluster it checks in its environment:

    HECATE_STACK, HECATE_CLUSTER, HECATE_CONTEXT   the stack, its cluster, its kubeconfig context
    HECATE_VERSION                                 the version the wave rolled out
    HECATE_WAVE, HECATE_CHECK_AFTER                the wave, and `gate` or `soak`
    KUBECONFIG                                     the rollout's kubeconfig, when one was given

Exit 0 passes; anything else (or running past its timeout, when its whole process group is
killed) fails the wave, which is rolled back like a failed gate, its last lines the cause.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .plan import Check

TAIL_LINES = 10  # of a failed check's output, into the report
_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class CheckResult:
    check: Check
    passed: bool
    seconds: float
    outcome: str  # `exit 0`, `exit 3`, `timed out after 120 s`, `cannot run: …`
    tail: tuple[str, ...] = ()  # the output's last lines (stdout and stderr, as they came)

    def describe(self) -> str:
        command = " ".join(self.check.command)
        said = "".join(f"\n    {line}" for line in self.tail)
        last = f"; its last lines:{said}" if said else "; no output"
        return f"check {self.check.name!r} (`{command}`): {self.outcome}{last}"


def check_environment(
    stack: str, cluster: str, context: str, version: str, wave: str, after: str, kubeconfig: str
) -> dict[str, str]:
    """What a check is told of the cluster it checks (over the runner's own environment)."""
    env = {
        "HECATE_STACK": stack,
        "HECATE_CLUSTER": cluster,
        "HECATE_CONTEXT": context,
        "HECATE_VERSION": version,
        "HECATE_WAVE": wave,
        "HECATE_CHECK_AFTER": after,
    }
    if kubeconfig:
        env["KUBECONFIG"] = str(Path(kubeconfig).resolve())
    return env


def _tail(output: Path) -> tuple[str, ...]:
    with output.open("rb") as read:
        read.seek(max(0, output.stat().st_size - _TAIL_BYTES))
        text = read.read().decode("utf-8", errors="replace")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return tuple(lines[-TAIL_LINES:])


def run_check(check: Check, root: Path, env: Mapping[str, str]) -> CheckResult:
    """`check` run from `root` with `env` over this process's environment."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hecate-check-") as scratch:
        output = Path(scratch) / "output"
        with output.open("wb") as sink:
            try:
                # Its own session, so that a timeout ends whatever it started too.
                process = subprocess.Popen(
                    list(check.command),
                    cwd=root,
                    env={**os.environ, **env},
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                return CheckResult(check, False, 0.0, f"cannot run: {error.strerror or error}")
            try:
                code = process.wait(timeout=check.timeout_seconds)
                outcome = f"exit {code}"
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                code = None
                outcome = f"timed out after {check.timeout_seconds:.0f} s"
        seconds = time.monotonic() - start
        return CheckResult(check, code == 0, seconds, outcome, _tail(output))
