"""Fixtures: every committed stack (one per Pulumi.<stack>.yaml) gets the whole battery."""

from __future__ import annotations

import pytest

from tests.harness import Evaluation, evaluate, stack_names

STACKS = stack_names()
_evaluations: dict[str, Evaluation] = {}


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


@pytest.fixture
def evaluation(stack) -> Evaluation:
    """The stack as committed, evaluated once per session (the program is deterministic)."""
    if stack not in _evaluations:
        _evaluations[stack] = evaluate(stack)
    result = _evaluations[stack]
    assert result.error is None, f"stack {stack} failed: {result.error}"
    return result
