"""Fixtures: every committed stack (one per Pulumi.<stack>.yaml) gets the whole battery."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import configuration, settings

from hecate.signals import let_children_hear_sigint
from testbed.mocks import ROOT, Evaluation, committed, stack_names

# No example database, and hypothesis' own cache outside the checkout: a test run writes
# nothing into it.
configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hecate-hypothesis")
settings.register_profile("hecate", database=None, deadline=None)
settings.load_profile("hecate")

STACKS = stack_names()


def pytest_configure(config) -> None:
    # A run started as a background job has SIGINT ignored: each pulumi it starts would then
    # wait seconds for plugins that ignore SIGINT to stop (hecate/signals.py).
    let_children_hear_sigint()


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


@pytest.fixture
def evaluation(stack) -> Evaluation:
    """The stack as committed."""
    result = committed(stack)
    assert result.error is None, f"stack {stack} failed: {result.error}"
    return result


@pytest.fixture
def committed_copy(tmp_path) -> Path:
    """The committed stack files and plan, without state, checkout or cluster: what the fleet
    command reads before it runs anything."""
    for name in ["Pulumi.yaml", "rollout-plan.yaml", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def repository(committed_copy):
    """The committed project as a git repository on main."""
    from hecate.fleet.gitops_repo import IDENTITY

    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", **IDENTITY}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "the project"]):
        subprocess.run(["git", *args], cwd=committed_copy, check=True, env=env)
    return committed_copy
