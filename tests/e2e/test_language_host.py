"""The project's Python language host (engine/pulumi-language-python) on programs beyond ours."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from testbed.processes import descendants, living, reap
from testbed.scratch import Project, engine_env

PROJECT = "name: {name}\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"


def program(tmp_path, name: str, main: str) -> Project:
    path = tmp_path / name
    path.mkdir()
    (path / "Pulumi.yaml").write_text(PROJECT.format(name=name))
    (path / "__main__.py").write_text(main)
    (path / ".venv").symlink_to(sys.prefix)
    project = Project(path, engine_env(tmp_path / "state"))
    project.pulumi("stack", "init", "dev")
    return project


def test_a_stack_without_config_runs(tmp_path):
    project = program(tmp_path, "bare", 'import pulumi\npulumi.export("answer", 42)\n')
    result = project.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    assert "answer: 42" in result.text


def test_config_and_secrets_reach_the_program(tmp_path):
    project = program(
        tmp_path,
        "configured",
        (
            "import pulumi\n"
            "config = pulumi.Config()\n"
            "pulumi.export('greeting', config.require('greeting'))\n"
            "token = config.require_secret('token')\n"
            "pulumi.export('token_is_secret', pulumi.Output.is_secret(token))\n"
        ),
    )
    project.pulumi("config", "set", "greeting", "hello", "--stack", "dev")
    project.pulumi("config", "set", "--secret", "token", "s3cr3t-value", "--stack", "dev")
    project.pulumi("up", "--stack", "dev", "--yes", "--skip-preview")
    outputs = project.pulumi("stack", "output", "--stack", "dev", "--json").out
    assert '"greeting": "hello"' in outputs and '"token_is_secret": true' in outputs
    assert "s3cr3t-value" not in outputs


def test_an_unhandled_exception_is_reported_with_the_programs_traceback(tmp_path):
    project = program(tmp_path, "failing", "raise ValueError('boom from the program')\n")
    result = project.pulumi("preview", "--stack", "dev", check=False)
    assert result.code != 0 and "ValueError: boom from the program" in result.text


def test_nothing_outlives_a_killed_engine(tmp_path):
    """kill -9 of the CLI mid-run: its language host and the program exit within seconds (they
    once stayed for over ten minutes)."""
    project = program(tmp_path, "sleeper", "import time\ntime.sleep(300)\n")
    cli = project.start("preview", "--stack", "dev")
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = descendants(cli.pid)
            commands = {Path(f"/proc/{pid}/cmdline").read_bytes() for pid in living(started)}
            if any(b"pulumi-language-python" in c for c in commands) and any(
                b"__main__" in c or b"exec" in c for c in commands
            ):
                break
            time.sleep(0.2)
        assert any(
            b"pulumi-language-python" in Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in living(started)
        )
    finally:
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
    assert reap(started) == []
