"""One committed stack deployed to its cluster of the fleet, the way a person does it:
`pulumi up` renders into a checkout of the gitops repository, a commit of the cluster's
directories is pushed, and Flux is asked to reconcile."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hecate.fleet.cluster_health import observed
from testbed import flux
from testbed.components import BRANCH
from testbed.fleet import Fleet
from testbed.mocks import stack_config
from testbed.processes import GIT_IDENTITY, FleetError, git
from testbed.scratch import Project, Result, new_project, set_plain

# Short enough for a failing rollout to be reported within a test; long enough for kwok's nodes.
HEALTH_TIMEOUT = "30s"


def fleet_settings(fleet: Fleet) -> dict:
    """A stack's source pointed at the fleet's git server (which asks for no deploy key), and
    the test bed's short health check."""
    return {
        "hecate:gitops": {"url": fleet.git_url, "secretRef": ""},
        "hecate:healthTimeout": HEALTH_TIMEOUT,
    }


@dataclass
class Deployment:
    stack: str
    cluster: str
    fleet: Fleet
    project: Project
    outputs: list[str] = field(default_factory=list)  # of every pulumi command run

    @classmethod
    def create(cls, fleet: Fleet, stack: str, workdir: Path) -> Deployment:
        project = new_project(workdir, stack, KUBECONFIG=str(fleet.kubeconfig))
        checkout = project.path / "gitops"
        fleet.clone_gitops(checkout)
        # The stack as committed, its source pointed at the test bed's git server.
        set_plain(project.path / f"Pulumi.{stack}.yaml", fleet_settings(fleet))
        return cls(stack, stack_config(stack)["hecate:cluster"], fleet, project)

    @property
    def checkout(self) -> Path:
        return self.project.path / "gitops"

    @property
    def directories(self) -> list[str]:
        return [f"clusters/{self.cluster}", f"infrastructure/hecate/{self.cluster}"]

    def config(self, key: str, value: str, secret: bool = False) -> None:
        args = ["config", "set", "--stack", self.stack, "--path", key]
        if secret:
            args.append("--secret")
        self.pulumi(*args, "--", value)

    def config_rm(self, key: str) -> None:
        self.pulumi("config", "rm", "--stack", self.stack, "--path", key)

    def up(self, *extra: str) -> Result:
        return self.pulumi("up", "--stack", self.stack, "--yes", "--policy-pack", "policy", *extra)

    def pulumi(self, *args: str) -> Result:
        result = self.project.pulumi(*args)
        self.outputs.append(result.text)
        return result

    def push(self, message: str) -> str:
        """Commit the cluster's directories and push; rebase and retry if the remote moved.
        Returns the pushed commit."""
        env = git_env()
        git("add", "--all", "--", *self.directories, cwd=self.checkout, env=env)
        git("commit", "--quiet", "-m", message, cwd=self.checkout, env=env)
        return self.push_head()

    def push_head(self) -> str:
        env = git_env()
        for _ in range(5):
            done = subprocess.run(
                ["git", "push", "--quiet", "origin", f"HEAD:{BRANCH}"],
                cwd=self.checkout,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode == 0:
                return git("rev-parse", "HEAD", cwd=self.checkout)
            git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=self.checkout, env=env)
        raise FleetError(f"git push from {self.checkout} kept failing: {done.stderr.strip()}")

    def deploy(self, message: str, healthy: bool = True) -> tuple[str, dict]:
        """up, push, sync: returns the commit and the hecate Kustomization after it."""
        self.up()
        commit = self.push(message)
        return commit, flux.sync(self.fleet, self.cluster, commit, healthy=healthy)

    def revert(self, commit: str) -> str:
        """`git revert` of a pushed commit, pushed; returns the new commit."""
        git("revert", "--no-edit", commit, cwd=self.checkout, env=git_env())
        return self.push_head()

    def rendered_path(self, name: str) -> Path:
        return self.checkout / "infrastructure" / "hecate" / self.cluster / name

    def rendered(self, name: str) -> dict:
        """A manifest of the cluster's workloads directory, as the checkout holds it."""
        return yaml.safe_load(self.rendered_path(name).read_text())

    @property
    def image(self) -> str:
        return self.rendered("daemonset.yaml")["spec"]["template"]["spec"]["containers"][0]["image"]

    @property
    def max_unavailable(self) -> int:
        strategy = self.rendered("daemonset.yaml")["spec"]["updateStrategy"]["rollingUpdate"]
        value = strategy["maxUnavailable"]
        if isinstance(value, str):  # a percentage of the nodes, rounded down, at least one
            return max(1, self.fleet.nodes * int(value.rstrip("%")) // 100)
        return value

    def rolled_out(self, image: str) -> bool:
        """The DaemonSet runs `image` on every node, every pod ready."""
        fleet = self.fleet
        ds = fleet.get(self.cluster, "-n", "hecate", "daemonset", "hecate-daemon")
        status = ds["status"]
        pods = [
            p
            for p in fleet.get(self.cluster, "-n", "hecate", "pods", "-l", "app=hecate-daemon")[
                "items"
            ]
            if not p["metadata"].get("deletionTimestamp")
        ]
        return (
            observed(ds)
            and status["desiredNumberScheduled"] == fleet.nodes
            and status.get("updatedNumberScheduled") == fleet.nodes
            and status.get("numberReady") == fleet.nodes
            and len(pods) == fleet.nodes
            and all(p["spec"]["containers"][0]["image"] == image for p in pods)
        )

    def in_step(self) -> bool:
        """The checkout holds exactly what was pushed: nothing rendered and left uncommitted."""
        return git("status", "--porcelain", cwd=self.checkout) == ""


def git_env() -> dict[str, str]:
    return {**os.environ, **GIT_IDENTITY}


def on_each(deployments: Iterable[Deployment], step: Callable[[Deployment], object]) -> list:
    """`step` on every deployment at once (their clusters are independent, and most of a step is
    waiting for Flux); every cluster's failure reported, each naming its cluster. A step may
    push: a push that lost the race rebases (`push_head`), and a sync waits for a revision that
    holds its commit (`Fleet.holds`)."""
    deployments = list(deployments)
    with ThreadPoolExecutor(max_workers=len(deployments)) as pool:
        futures = [pool.submit(step, d) for d in deployments]
    failed = [
        f"{d.cluster}: {type(e).__name__}: {e}"
        for d, e in ((d, f.exception()) for d, f in zip(deployments, futures, strict=True))
        if e is not None
    ]
    if failed:
        raise AssertionError("\n".join(failed))
    return [f.result() for f in futures]
