"""Fixtures: every committed stack (one per Pulumi.<stack>.yaml) gets the whole battery."""

from __future__ import annotations

import pytest

from tests.harness import Evaluation, committed, stack_names

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
