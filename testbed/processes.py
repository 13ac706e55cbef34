"""The test bed's processes: each started in a session of its own under one work directory,
its pid recorded, and stopped by that pid alone (a recycled pid is left alone)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from testbed.components import REPOSITORY
from testbed.paths import BIN, ROOT


class FleetError(RuntimeError):
    """The fleet could not be brought up; the message says which step and where its log is."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that the kernel picked at random (each held until all are
    chosen): two fleets started at once never pick the same ones, as a first-free scan would."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def descendants(root: int) -> set[int]:
    """Every live process below `root`, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def living(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies are not)."""
    running = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                running.add(pid)
        except OSError:
            continue
    return running


def reap(pids: set[int], within: float = 15) -> list[str]:
    """Wait up to `within` seconds for `pids` to exit; kill what is left and return its command
    lines, so that a test can assert none while never leaving one behind."""
    deadline = time.monotonic() + within
    while living(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = []
    for pid in living(pids):
        try:
            left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    return left


class Launcher:
    """Starts the fleet's processes, each in a session of its own with its pid recorded, and
    stops them by those pids."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.pids = workdir / "pids"
        self.logs = workdir / "logs"
        self.home = workdir / "home"

    def base_env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home),
            "KWOK_WORKDIR": str(self.workdir / "kwok"),
            "LANG": "C.UTF-8",
        }
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        cwd.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.pids / f"{name}.pid").write_text(f"{process.pid}\n")
        return process.pid

    def run(
        self, name: str, argv: list[str], timeout: float = 300, input: str | None = None
    ) -> str:
        """A short command; its output goes to logs/<name>.log and, on failure, into the error."""
        done = subprocess.run(
            argv,
            input=input,
            cwd=self.workdir,
            env=self.base_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with open(self.logs / f"{name}.log", "a") as log:
            log.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise FleetError(
                f"{' '.join(argv[:4])} ... failed ({done.returncode}):\n"
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done.stdout

    def git_server(self, port: int) -> None:
        """The git server, serving git/repos/ on 127.0.0.1:port; returns once it answers."""
        root = ROOT
        self.spawn(
            "git-server",
            [
                sys.executable,
                "-m",
                "testbed.git_server",
                "--root",
                str(self.workdir / "git" / "repos"),
                "--port",
                str(port),
            ],
            env=self.base_env(PYTHONPATH=str(root)),
            cwd=self.workdir / "git",
        )
        wait_for(
            "the git server",
            lambda: (
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/{REPOSITORY}/info/refs?service=git-upload-pack",
                    timeout=2,
                ).status
                == 200
            ),
            timeout=20,
            every=0.2,
        )

    def exited(self) -> list[str]:
        """Each process started here that is no longer running, with the end of its log: a
        controller that died at start-up is named instead of waited for."""
        found = []
        for file in sorted(self.pids.glob("*.pid")):
            if not self.ours(int(file.read_text().split()[0])):
                log = self.logs / f"{file.stem}.log"
                tail = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
                found.append(f"{file.stem} exited ({log}): " + " | ".join(tail))
        return found

    def recorded(self) -> dict[Path, int]:
        """Every pid file under the work directory: ours, and those kwokctl wrote."""
        files = list(self.pids.glob("*.pid")) + list((self.workdir / "kwok").glob("**/pids/*.pid"))
        found = {}
        for file in files:
            try:
                found[file] = int(file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return found

    def ours(self, pid: int) -> bool:
        """Still running with its working directory inside the work directory."""
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return False
        return alive(pid) and Path(cwd).is_relative_to(self.workdir)

    def strays(self) -> list[int]:
        """Processes working in the work directory, or naming it on their command line, that
        no pid file names (this process and the ones it runs under excepted)."""
        spared = {os.getpid(), os.getppid()}
        root = str(self.workdir)
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            pid = int(entry.name)
            if pid in spared:
                continue
            try:
                cwd = os.readlink(entry / "cwd")
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            named = any(a == root or f"{root}/" in a for a in argv)
            if Path(cwd).is_relative_to(self.workdir) or named:
                found.append(pid)
        return found

    def stop(self, pid_files: Iterable[Path] | None = None, grace: float = 10) -> list[int]:
        """SIGTERM each recorded process (and its session), SIGKILL what is left after `grace`
        seconds; returns the pids that needed the SIGKILL."""
        recorded = self.recorded()
        targets = {f: p for f, p in recorded.items() if pid_files is None or f in set(pid_files)}
        running = [pid for pid in targets.values() if self.ours(pid)]
        for pid in running:
            signal_session(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self.ours(pid) for pid in running):
            time.sleep(0.1)
        killed = [pid for pid in running if self.ours(pid)]
        for pid in killed:
            signal_session(pid, signal.SIGKILL)
        for file in targets:
            file.unlink(missing_ok=True)
        return killed


def alive(pid: int) -> bool:
    """Running, not a zombie (the engine tests' check, for one process)."""
    return bool(living({pid}))


def signal_session(pid: int, sig: signal.Signals) -> None:
    # The session too: a process we started in its own session may have children in it.
    for send in (lambda: os.killpg(pid, sig), lambda: os.kill(pid, sig)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send()


def wait_for(
    what: str,
    check: Callable[[], object],
    timeout: float,
    every: float = 0.5,
    launcher: Launcher | None = None,
):
    """Poll `check` until it returns something truthy; FleetError naming `what` on timeout, or
    at once if one of the `launcher`'s processes died."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        dead = launcher.exited() if launcher else []
        if dead:
            raise FleetError(f"while waiting for {what}: {'; '.join(dead)}")
        try:
            last = check()
            if last:
                return last
        except (FleetError, OSError, ValueError, KeyError) as error:
            last = error
        if time.monotonic() > deadline:
            raise FleetError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
        time.sleep(every)


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise FleetError(f"git {' '.join(args)} in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "hecate test bed",
    "GIT_AUTHOR_EMAIL": "testbed@hecate.invalid",
    "GIT_COMMITTER_NAME": "hecate test bed",
    "GIT_COMMITTER_EMAIL": "testbed@hecate.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
