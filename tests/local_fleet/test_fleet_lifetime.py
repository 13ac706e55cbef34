"""Nothing outlives a killed test run: a fleet goes down with the process that owns it, however
that process dies, and a fleet left behind all the same is found and stopped by the next
`make fleet-up` or `make fleet-down`, with a line saying so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from testbed.local_fleet import WATCHDOG_PID, Bringup
from testbed.paths import ROOT
from testbed.processes import Launcher, alive, wait_for

# A process that owns a one-cluster fleet and then writes to its stdout forever. Its Ctrl-C is a
# terminal's: a test run started in the background by a non-interactive shell hands its children
# SIGINT ignored, and Python keeps it so.
OWNER = """
import signal, sys, time
from pathlib import Path
from testbed.local_fleet import Bringup
signal.signal(signal.SIGINT, signal.default_int_handler)
Bringup(Path(sys.argv[1]), ["life-cluster"], 1).up()
print("up", flush=True)
while True:
    print("still here", flush=True)
    time.sleep(0.1)
"""


def start_owner(workdir: Path) -> subprocess.Popen:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(workdir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready = threading.Event()
    threading.Thread(target=lambda: ready.set() if owner.stdout.readline() else None).start()
    assert ready.wait(180), "the owner's fleet never came up"
    return owner


def fleet_processes(workdir: Path) -> set[int]:
    """Every process of the fleet: by its pid files (the fleet's, kwokctl's, the watchdog's)
    and by the work directory in their working directory or command line."""
    launcher = Launcher(workdir)
    pids = {pid for pid in launcher.recorded().values() if alive(pid)} | set(launcher.strays())
    watchdog = workdir / WATCHDOG_PID
    if watchdog.exists() and alive(pid := int(watchdog.read_text())):
        pids.add(pid)
    return pids


# Bounds for a loaded 2-core machine: the property is that the fleet goes down, not how fast
# (an owner taking a fleet down after Ctrl-C once took over 30 s beside other work).
GONE_WITHIN = 180


def gone_within(workdir: Path, seen: set[int], seconds: float = GONE_WITHIN) -> None:
    wait_for(
        f"every process of the fleet in {workdir} gone",
        lambda: not any(alive(pid) for pid in seen) and not Launcher(workdir).strays(),
        timeout=seconds,
    )


DEATHS = {
    "SIGKILL": lambda owner: owner.send_signal(signal.SIGKILL),
    "SIGTERM": lambda owner: owner.send_signal(signal.SIGTERM),
    "SIGINT (Ctrl-C)": lambda owner: owner.send_signal(signal.SIGINT),
    "writing to a closed pipe": lambda owner: owner.stdout.close(),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_a_fleet_goes_down_with_its_owner_however_it_dies(death, tmp_path):
    workdir = tmp_path / "fleet"
    owner = start_owner(workdir)
    try:
        seen = fleet_processes(workdir)
        # The cluster's control plane, its controllers, the git server and the watchdog.
        assert len(seen) >= 8, seen
        DEATHS[death](owner)
        owner.wait(timeout=GONE_WITHIN)
        gone_within(workdir, seen)
        log = (workdir / "logs" / "watchdog.log").read_text()
        assert "the owner of" in log and "watchdog: done" in log, log
    finally:
        if owner.poll() is None:
            owner.kill()
        Bringup(workdir).down()


def test_a_fleet_left_behind_is_found_and_stopped_by_the_next_fleet_up(tmp_path):
    workdir = tmp_path / "fleet"
    owner = start_owner(workdir)
    command = [sys.executable, "-m", "testbed"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--workdir", str(workdir), "--clusters", "life-cluster", "--nodes", "1"]
    try:
        seen = fleet_processes(workdir)
        # The watchdog dies first (what an out-of-memory kill of both would leave): nobody is
        # left to take the fleet down.
        watchdog = int((workdir / WATCHDOG_PID).read_text())
        os.kill(watchdog, signal.SIGKILL)
        owner.kill()
        owner.wait(timeout=30)
        assert any(alive(pid) for pid in seen), "nothing was left behind to find"
        up = subprocess.run(
            [*command, "up", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert up.returncode == 0, up.stderr
        assert f"the fleet in {workdir} was left by pid {owner.pid}, which is gone" in up.stderr
        assert "stopping it first" in up.stderr
        # The old fleet is gone; a new one (untied, as `make fleet-up` makes it) runs instead.
        assert not any(alive(pid) for pid in seen)
        fresh = fleet_processes(workdir)
        assert fresh and not fresh & seen
        down = subprocess.run(
            [*command, "down", "--workdir", str(workdir)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert down.returncode == 0, down.stderr
        gone_within(workdir, fresh)
    finally:
        if owner.poll() is None:
            owner.kill()
        Bringup(workdir).down()
