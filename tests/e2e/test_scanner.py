"""checkov on the manifests each committed stack renders: no failed check.

Skips live in .checkov.yaml, each beside its reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from testbed.mocks import stack_names
from testbed.paths import ROOT
from testbed.scratch import CHECKOV, new_project


@pytest.mark.parametrize("stack", stack_names())
def test_rendered_manifests_pass_checkov(stack, tmp_path):
    project = new_project(tmp_path, stack)
    project.pulumi("up", "--stack", stack, "--yes", "--skip-preview")
    shutil.copy(ROOT / ".checkov.yaml", tmp_path / ".checkov.yaml")
    done = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(project.path / "gitops"),
            "--config-file",
            str(tmp_path / ".checkov.yaml"),
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = (
        [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
        if summary["failed"]
        else []
    )
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 0 and summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 5  # every rendered object was scanned
