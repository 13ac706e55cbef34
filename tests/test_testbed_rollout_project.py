"""testbed/rollout_project.py's runner environment: what a runner writes to its temporary
directory (the engine's event logs, left behind when a test kills the runner on purpose) lands
under the test's work directory, never in the machine's /tmp."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from testbed.rollout_project import runner_env


def test_a_runner_s_scratch_files_land_under_its_work_directory(tmp_path):
    fleet = SimpleNamespace(kubeconfig=tmp_path / "fleet" / "kubeconfig")
    env = runner_env(fleet, tmp_path / "waves")
    made = subprocess.run(
        [sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp(prefix='hecate-engine-'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(made).parent == tmp_path / "waves" / "tmp"
    assert env["KUBECONFIG"] == str(fleet.kubeconfig)
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'waves' / 'state'}"
