"""A copy of the project pointed at the fleet, for the `fleet` commands: every committed stack
(`create`) or one generated stack per cluster of a fleet of any size (`generated`); its own
state backend, a clone of the fleet's gitops repository at ./gitops, and each stack's source set
to the fleet's git server."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hecate.project import stack_names
from testbed.components import BRANCH
from testbed.deployment import fleet_settings, git_env
from testbed.fleet import Fleet
from testbed.processes import git
from testbed.scratch import (
    Project,
    Result,
    copy_project,
    engine_env,
    init_stack,
    set_plain,
)

GITHUB_VARIABLES = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_SHA")

# Short waits for the test bed: its nodes are kwok's, each rollout takes seconds.
GATE_TIMEOUT = "150s"
WAVE_ORDER = ("dev", "edge", "beam")  # the committed stacks, a wave each, dev first


def committed_plan(stacks: tuple[str, ...], dev_soak: str) -> dict:
    """The rollout plan of these committed stacks: a wave each, in dev, edge, beam order, dev's
    soak `dev_soak` and no other."""
    waves = [
        {"name": s, "stacks": [s], **({"soak": dev_soak} if s == "dev" else {})}
        for s in WAVE_ORDER
        if s in stacks
    ]
    return {"soak": "0s", "timeouts": {"gate": GATE_TIMEOUT}, "waves": waves}


def three_waves(names: list[str]) -> list[list[str]]:
    """A first cluster alone, then the rest in two halves: a canary, then the fleet."""
    rest = names[1:]
    half = (len(rest) + 1) // 2
    return [w for w in ([names[0]], rest[:half], rest[half:]) if w]


def runner_env(fleet: Fleet, workdir: Path) -> dict[str, str]:
    """A runner's environment: the engine's, a throwaway backend and the fleet's kubeconfig
    under `workdir`, and a TMPDIR there too, so that a runner a test kills on purpose leaves its
    scratch files (the engine's event logs) with the test's, not in the machine's /tmp."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {
        **engine_env(workdir / "state"),
        "KUBECONFIG": str(fleet.kubeconfig),
        "TMPDIR": str(tmp),
    }


@dataclass
class RolloutProject:
    project: Project
    fleet: Fleet
    started: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        fleet: Fleet,
        workdir: Path,
        dev_soak: str = "0s",
        stacks: tuple[str, ...] = WAVE_ORDER,
    ) -> RolloutProject:
        """A copy of the project with these committed stacks (every one by default), a wave
        each in dev, edge, beam order, each stack's source the fleet's git server."""
        root = workdir / "project"
        removed = copy_project(root, stacks=list(stacks))
        env = runner_env(fleet, workdir)
        project = Project(root, env)
        plan = committed_plan(stacks, dev_soak)
        (root / "rollout-plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
        fleet.clone_gitops(root / "gitops")
        for stack in stack_names(root):
            set_plain(root / f"Pulumi.{stack}.yaml", fleet_settings(fleet))
            init_stack(project, stack, removed[stack])
        return cls(project, fleet)

    @classmethod
    def generated(
        cls, fleet: Fleet, workdir: Path, waves: list[list[str]], version: str = "0.7.2"
    ) -> RolloutProject:
        """A copy of the project with none of the committed stacks and one generated stack per
        cluster the waves name (the stack named as the cluster), rolled out in these waves: a
        fleet of any size, never in the committed tree."""
        root = workdir / "project"
        copy_project(root, stacks=[])
        env = runner_env(fleet, workdir)
        project = Project(root, env)
        for cluster in (c for wave in waves for c in wave):
            config = {"hecate:cluster": cluster, "hecate:version": version, **fleet_settings(fleet)}
            (root / f"Pulumi.{cluster}.yaml").write_text(yaml.safe_dump({"config": config}))
            project.pulumi("stack", "init", cluster)
        plan = {
            "soak": "0s",
            "timeouts": {"gate": "300s"},
            "waves": [{"name": f"wave-{n}", "stacks": w} for n, w in enumerate(waves, 1)],
        }
        (root / "rollout-plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
        fleet.clone_gitops(root / "gitops")
        # For a shell in the copy: `source env`, then `python -m hecate fleet …` finds its stacks.
        shared = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "KUBECONFIG")
        exports = "".join(f"export {k}={shlex.quote(env[k])}\n" for k in shared)
        (root / "env").write_text(exports)
        return cls(project, fleet)

    @property
    def root(self) -> Path:
        return self.project.path

    def stack_files(self) -> dict[str, str]:
        """Every stack file as it is now: what a fresh clone of the project would hold."""
        return {s: (self.root / f"Pulumi.{s}.yaml").read_text() for s in stack_names(self.root)}

    def clone(
        self, workdir: Path, committed: dict[str, str], depth: int | None = None
    ) -> RolloutProject:
        """Another runner: the project's files afresh with the stack files `committed`, no
        `.rollout/`, a fresh clone of the gitops remote (`depth` commits deep, as CI's
        checkout, if given); the same backend and kubeconfig."""
        root = workdir / "project"
        copy_project(root)
        for stack, text in committed.items():
            (root / f"Pulumi.{stack}.yaml").write_text(text)
        (root / "rollout-plan.yaml").write_text((self.root / "rollout-plan.yaml").read_text())
        self.fleet.clone_gitops(root / "gitops", depth)
        return RolloutProject(Project(root, dict(self.project.env)), self.fleet)

    def take_over_from(self, runner: RolloutProject) -> None:
        """Carry on in this project where `runner` left the fleet: its stack files, and this
        checkout at the remote's head (what a killed run committed and never pushed is gone
        with it)."""
        for stack, text in runner.stack_files().items():
            (self.root / f"Pulumi.{stack}.yaml").write_text(text)
        git("fetch", "--quiet", "origin", BRANCH, cwd=self.checkout, env=git_env())
        git("reset", "--quiet", "--hard", f"origin/{BRANCH}", cwd=self.checkout)
        git("clean", "-fdq", cwd=self.checkout)

    def use_fleet_identity(self) -> Path:
        """From now on every `fleet` command runs as the fleet tool's own identity, with the
        kubeconfig `fleet kubeconfig` writes (made with the admin's, once the stacks have
        deployed the identity)."""
        written = self.root / "fleet.kubeconfig"
        result = self.fleet_cmd(
            "--kubeconfig", str(self.fleet.kubeconfig), "kubeconfig", "--output", str(written)
        )
        assert result.code == 0, result.text
        self.project.env["KUBECONFIG"] = str(written)
        return written

    @property
    def checkout(self) -> Path:
        return self.root / "gitops"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hecate", "fleet", *args]

    def fleet_cmd(
        self, *args: str, timeout: float = 900, env: dict[str, str] | None = None
    ) -> Result:
        done = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def json(self, *args: str, expect: int = 0, env: dict[str, str] | None = None) -> Any:
        """The command's JSON output, once it exited with `expect` (`env` added to the
        project's)."""
        result = self.fleet_cmd(*args, "--json", env=env)
        assert result.code == expect, f"fleet {' '.join(args)}: exit {result.code}\n{result.text}"
        try:
            return json.loads(result.out)
        except json.JSONDecodeError:
            raise AssertionError(
                f"fleet {' '.join(args)} printed no JSON:\n{result.text}"
            ) from None

    def start(self, *args: str, log: Path) -> subprocess.Popen:
        """A fleet command in a session of its own (so that a kill reaches its pulumi too):
        progress lines to `log`, the report to `log` with `.out` added."""
        with log.open("w") as err, log.with_suffix(".out").open("w") as out:
            process = subprocess.Popen(
                self.command(*args),
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def stop_started(self) -> None:
        """Whatever a failing test left running, killed with everything it started."""
        for process in self.started:
            if process.poll() is None:
                self.kill(process)
        assert not self.wait_until_idle(), "processes left in the project"

    @staticmethod
    def wait_for_line(
        process: subprocess.Popen, log: Path, text: str, timeout: float = 300
    ) -> None:
        """Until the command's progress shows `text` (failing if it ends first)."""
        deadline = time.monotonic() + timeout
        while text not in log.read_text():
            assert process.poll() is None, f"ended ({process.returncode}) before {text!r}:\n" + (
                log.read_text()
            )
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{log.read_text()}"
            time.sleep(0.2)

    def wait_until_idle(self, timeout: float = 30) -> list[str]:
        """What still runs in the project after `timeout` seconds (nothing, normally)."""
        deadline = time.monotonic() + timeout
        while (left := self.left_running()) and time.monotonic() < deadline:
            time.sleep(0.5)
        return left

    def left_running(self) -> list[str]:
        """Processes still working in the project (a killed command's children)."""
        found = []
        for cwd in Path("/proc").glob("[0-9]*/cwd"):
            try:
                if Path(os.readlink(cwd)).is_relative_to(self.root):
                    found.append(
                        (cwd.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    )
            except OSError:
                continue
        return found

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """SIGKILL to the command and everything it started, as a stopped CI runner does."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    @property
    def env(self) -> dict[str, str]:
        # Never the runner's own GitHub credentials: a test that wants deployments recorded
        # gives the recorder's (tests/local_fleet/test_waves_reports.py).
        inherited = {k: v for k, v in self.project.env.items() if k not in GITHUB_VARIABLES}
        return {**inherited, "PYTHONPATH": str(self.root)}

    def version(self, stack: str) -> str:
        content = yaml.safe_load((self.root / f"Pulumi.{stack}.yaml").read_text())
        return content["config"]["hecate:version"]

    def remote_log(self, since: str | None = None) -> list[str]:
        """`<sha> <subject>` of the fleet repository's branch (after `since`), newest first."""
        git("fetch", "--quiet", "origin", BRANCH, cwd=self.checkout, env=git_env())
        span = f"{since}..origin/{BRANCH}" if since else f"origin/{BRANCH}"
        out = git("log", "--format=%H %s", span, cwd=self.checkout)
        return out.splitlines()

    def running_image(self, cluster: str) -> tuple[str, list[str]]:
        """The DaemonSet's image and what its pods (not being deleted) run."""
        ds = self.fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
        pods = self.fleet.get(cluster, "-n", "hecate", "pods", "-l", "app=hecate-daemon")
        images = sorted(
            {
                p["spec"]["containers"][0]["image"]
                for p in pods["items"]
                if not p["metadata"].get("deletionTimestamp")
            }
        )
        return ds["spec"]["template"]["spec"]["containers"][0]["image"], images
