"""A command started as a background job (SIGINT ignored, as a shell starts `cmd &`) still
starts its pulumi processes with SIGINT at its default action: pulumi stops its plugins with
SIGINT, and waits before killing any that ignores it (hecate/signals.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from testbed.mocks import ROOT

SIGINT_BIT = 1 << (signal.SIGINT - 1)  # in /proc/<pid>/status's SigIgn mask


def ignoring_sigint(*command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command as a shell starts a background job: SIGINT ignored (inherited across exec)."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def ignored_masks(record: Path) -> list[int]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [int(line.split()[1], 16) for line in lines]


def fake_pulumi(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A `pulumi` where the fleet command looks for it (beside PULUMI_HOME) that records which
    signals it was started ignoring, and fails."""
    record = tmp_path / "sigign"
    pulumi = tmp_path / "cache" / "bin" / "pulumi"
    pulumi.parent.mkdir(parents=True)
    pulumi.write_text(f"#!/bin/sh\ngrep SigIgn /proc/self/status >> {record}\nexit 1\n")
    pulumi.chmod(0o755)
    env = {
        **os.environ,
        "PULUMI_HOME": str(tmp_path / "cache" / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "throwaway",
    }
    return record, env


def test_a_fleet_command_started_with_sigint_ignored_starts_pulumi_hearing_it(
    committed_copy, tmp_path
):
    record, env = fake_pulumi(tmp_path)
    ignoring_sigint(sys.executable, "-m", "hecate", "fleet", "preview", cwd=committed_copy, env=env)
    masks = ignored_masks(record)
    assert masks, "the fleet command started no pulumi"
    assert all(not mask & SIGINT_BIT for mask in masks), [hex(m) for m in masks]

    # Without the command in between, the same pulumi starts with SIGINT ignored: what the
    # command undoes is there to undo.
    record.unlink()
    ignoring_sigint(str(tmp_path / "cache" / "bin" / "pulumi"), cwd=committed_copy, env=env)
    assert all(mask & SIGINT_BIT for mask in ignored_masks(record))


def test_the_process_itself_still_pays_sigint_no_heed(tmp_path):
    script = textwrap.dedent(
        """
        import os, signal, subprocess
        from hecate.signals import let_children_hear_sigint

        let_children_hear_sigint()
        os.kill(os.getpid(), signal.SIGINT)  # ignored before: still harmless
        status = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True)
        print(next(line for line in status.stdout.splitlines() if line.startswith("SigIgn")))
        """
    )
    done = ignoring_sigint(sys.executable, "-c", script, cwd=ROOT, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert not int(done.stdout.split()[1], 16) & SIGINT_BIT, done.stdout


def test_a_process_that_hears_sigint_keeps_its_handler(tmp_path):
    script = textwrap.dedent(
        """
        import signal
        from hecate.signals import let_children_hear_sigint

        let_children_hear_sigint()
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "True", done.stdout + done.stderr
