"""What the rollout tests on the local fleet share: one project of every committed stack (the
session's `fleet_project`, tests/local_fleet/conftest.py), and the readings they assert with."""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml

from testbed.components import BRANCH
from testbed.deployment import git_env
from testbed.processes import git
from testbed.rollout_project import RolloutProject

STACKS = ("dev", "edge", "beam")
IMAGE = "ghcr.io/hecate-social/hecate-daemon"
SOAK = "4s"  # after the dev wave, when it changed something
THROWAWAY_KEY = f"sk-waves-{secrets.token_hex(12)}"


def at(events: list[dict], stack: str, step: str) -> int:
    """The index of the stack's first event of that step."""
    for index, event in enumerate(events):
        if event["stack"] == stack and event["step"] == step:
            return index
    raise AssertionError(f"no {step!r} event for {stack}: {events}")


def assert_on(project: RolloutProject, version: str, stacks=STACKS) -> None:
    for stack in stacks:
        cluster = f"{stack}-cluster"
        template, pods = project.running_image(cluster)
        assert template == f"{IMAGE}:{version}", f"{cluster}: {template}"
        assert pods == [f"{IMAGE}:{version}"], f"{cluster}: pods run {pods}"
        assert project.version(stack) == version


def head(project: RolloutProject) -> str:
    return project.remote_log()[0].split()[0]


def deploy_commits(project: RolloutProject, version: str, since: str) -> dict[str, int]:
    """Each cluster's deploy commits of `version` pushed after `since` (other tests of the
    session may have pushed that version before)."""
    subjects = [line.split(" ", 1)[1] for line in project.remote_log(since)]
    # Another setting may follow the version (`..., hecate:healthTimeout`): still its deploy.
    return {
        s: sum(
            1
            for subject in subjects
            if subject == (deployed := f"deploy({s}-cluster): hecate-daemon {version}")
            or subject.startswith(f"{deployed}, ")
        )
        for s in STACKS
    }


def concurrent_push(project: RolloutProject, tmp_path: Path) -> str:
    """A commit of someone else's, pushed to the gitops repository from another clone."""
    other = tmp_path / "other"
    project.fleet.clone_gitops(other)
    # Its own text each time: a test may push more than once in a session.
    (other / "NOTES.md").write_text(f"pushed while a rollout ran ({secrets.token_hex(4)})\n")
    git("add", "NOTES.md", cwd=other)
    git("commit", "--quiet", "-m", "docs: a concurrent push", cwd=other, env=git_env())
    git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=other, env=git_env())
    return git("rev-parse", "HEAD", cwd=other)


DEV_ONLY = """\
soak: 0s
timeouts:
  gate: 60s
waves:
  - name: dev
    stacks: [dev]
"""


def dev_only(tmp_path: Path) -> str:
    plan = tmp_path / "dev-only.yaml"
    plan.write_text(DEV_ONLY)
    return str(plan)


def set_config(fleet_project, stack: str, values: dict) -> str:
    """Settings of a stack file, as a pull request would change them; returns the file before."""
    path = fleet_project.root / f"Pulumi.{stack}.yaml"
    before = path.read_text()
    content = yaml.safe_load(before)
    content["config"].update(values)
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return before


def set_dev(fleet_project, key: str, value) -> str:
    """A setting of dev's stack file; returns the file before."""
    return set_config(fleet_project, "dev", {key: value})
