"""The benches cannot rot unseen: `scripts/bench.py --smoke` (one run of each figure, without
the unit suite) runs under the real engine and prints every figure the README quotes."""

from __future__ import annotations

import re
import subprocess
import sys

from testbed.paths import ROOT
from testbed.scratch import engine_env

FIGURES = [
    "bare import",
    "evaluate beam under mocks",
    "empty program preview (floor)",
    "preview: the program's imports",
    "preview: one rendered file (the dynamic provider starts)",
    "pulumi preview --stack beam",
    "pulumi up --stack beam",
]


def test_the_speed_bench_runs_and_prints_each_figure(tmp_path):
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--smoke"],
        cwd=ROOT,
        env=engine_env(tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in FIGURES:
        assert re.search(rf"^{re.escape(figure)}\s+\d+\.\d\d s\s+\d\.\d\dx$", done.stdout, re.M), (
            f"no figure for {figure!r}:\n{done.stdout}"
        )
    assert "unit suite" not in done.stdout  # the suite is not run inside the suite
