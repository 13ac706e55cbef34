"""`make lint` (scripts/lint), which `make test` runs first: a violation fails it."""

from __future__ import annotations

import os
import subprocess
import sys

from testbed.scratch import copy_files

LINTED = ["pyproject.toml", "hecate", "policy", "engine", "scripts", "tests", "__main__.py"]


def lint(root) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/lint"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "VENV": sys.prefix},
    )


def test_a_violation_fails_the_lint(tmp_path):
    copy_files(LINTED, tmp_path)
    naming = tmp_path / "hecate" / "naming.py"
    # (An import naming.py does not make itself: unused, F401.)
    naming.write_text(naming.read_text() + "\nimport zlib\nLONG = '" + "x" * 120 + "'\n")
    host = tmp_path / "engine" / "pulumi-language-python" / "main.go"
    host.write_text(host.read_text().replace("\tflags.Int(", "        flags.Int(", 1))
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "F401" in done.stdout + done.stderr and "E501" in done.stdout + done.stderr
    assert "not gofmt-formatted: engine/pulumi-language-python/main.go" in done.stderr
