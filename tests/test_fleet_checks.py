"""A wave's own checks (`verify:`): run from the project with the cluster in their environment,
judged by their exit status, their last lines the cause, never outliving their timeout."""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

from hecate.fleet.checks import TAIL_LINES, check_environment, run_check
from hecate.fleet.plan import Check

ENV = check_environment("edge", "edge-cluster", "edge-ctx", "0.7.3", "edge", "gate", "")


def python(code: str, timeout: float = 30) -> Check:
    return Check("probe", (sys.executable, "-c", code), timeout)


def test_a_check_sees_its_cluster_and_runs_from_the_project(tmp_path):
    seen = tmp_path / "seen"
    code = (
        "import os, pathlib; names = ['HECATE_STACK', 'HECATE_CLUSTER', 'HECATE_CONTEXT', "
        "'HECATE_VERSION', 'HECATE_WAVE', 'HECATE_CHECK_AFTER', 'KUBECONFIG']; "
        f"pathlib.Path({str(seen)!r}).write_text(repr([os.environ.get(n) for n in names] "
        "+ [os.getcwd()]))"
    )
    env = check_environment(
        "edge", "edge-cluster", "edge-ctx", "0.7.3", "edge", "soak", "fleet.kubeconfig"
    )
    result = run_check(python(code), tmp_path, env)
    assert result.passed and result.outcome == "exit 0"
    assert ast.literal_eval(seen.read_text()) == [
        "edge",
        "edge-cluster",
        "edge-ctx",
        "0.7.3",
        "edge",
        "soak",
        str(Path("fleet.kubeconfig").resolve()),  # as given, from where it was given
        str(tmp_path),
    ]


def test_a_failing_check_says_its_exit_status_and_its_last_lines():
    code = "import sys\nfor i in range(30): print(f'line {i}')\nsys.exit('health: 503')"
    result = run_check(python(code), os.getcwd(), ENV)
    assert not result.passed and result.outcome == "exit 1"
    assert len(result.tail) == TAIL_LINES and result.tail[-1] == "health: 503"
    assert result.tail[-2] == "line 29"
    described = result.describe()
    assert described.startswith(f"check 'probe' (`{sys.executable} -c import sys")
    assert ": exit 1; its last lines:\n    line 21" in described
    assert described.endswith("\n    health: 503")


def test_a_check_past_its_timeout_is_ended_with_what_it_started(tmp_path):
    child = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(child)!r}).write_text(str(p.pid))\n"
        "print('waiting for the metric', flush=True)\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    result = run_check(python(code, timeout=2), tmp_path, ENV)
    assert time.monotonic() - start < 30
    assert not result.passed and result.outcome == "timed out after 2 s"
    assert result.tail == ("waiting for the metric",)
    pid = int(child.read_text())
    for _ in range(50):  # the grandchild is gone too (reaped by init once killed)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the check's child {pid} outlived the timeout")


def test_a_check_that_cannot_start_fails_naming_why(tmp_path):
    result = run_check(Check("smoke", ("scripts/no-such-check.sh",), 5), tmp_path, ENV)
    assert not result.passed
    assert result.describe() == (
        "check 'smoke' (`scripts/no-such-check.sh`): cannot run: No such file or directory; "
        "no output"
    )
