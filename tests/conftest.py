"""Fixtures: every committed stack (one per Pulumi.<stack>.yaml) gets the whole battery."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import configuration, settings

from testbed.mocks import Evaluation, committed, stack_names

# No example database, and hypothesis' own cache outside the checkout: a test run writes
# nothing into it.
configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hecate-hypothesis")
settings.register_profile("hecate", database=None, deadline=None)
settings.load_profile("hecate")

STACKS = stack_names()


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


@pytest.fixture
def evaluation(stack) -> Evaluation:
    """The stack as committed."""
    result = committed(stack)
    assert result.error is None, f"stack {stack} failed: {result.error}"
    return result
