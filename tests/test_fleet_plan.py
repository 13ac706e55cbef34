"""The rollout plan: the committed one, and each bad input refused with a clear message."""

from __future__ import annotations

import pytest
import yaml

from hecate.fleet.plan import PLAN_FILE, PlanError, load_plan, parse_plan
from testbed.mocks import ROOT, stack_names

STACKS = ["beam", "dev", "edge"]


def plan(text: str, stacks=STACKS):
    return parse_plan(yaml.safe_load(text), stacks)


def problems(text: str, stacks=STACKS) -> list[str]:
    with pytest.raises(PlanError) as caught:
        plan(text, stacks)
    assert "nothing was rolled out" in str(caught.value)
    return caught.value.problems


def test_the_committed_plan_goes_dev_then_edge_then_beam():
    committed = load_plan(ROOT / PLAN_FILE, stack_names())
    assert [wave.stacks for wave in committed.waves] == [("dev",), ("edge",), ("beam",)]
    assert sorted(committed.stacks) == stack_names(), "every committed stack is in a wave"
    assert all(wave.soak_seconds > 0 for wave in committed.waves)
    assert committed.gate_timeout_seconds == 600
    assert committed.unknown_grace_seconds == 60


def test_durations_soak_per_wave_and_defaults():
    parsed = plan(
        "soak: 1m30s\ntimeouts: {gate: 2m, unknown: 20s}\n"
        "waves: [{stacks: [dev], soak: 0s}, {name: rest, stacks: [edge, beam]}]"
    )
    assert [(w.name, w.stacks, w.soak_seconds) for w in parsed.waves] == [
        ("wave 1", ("dev",), 0),
        ("rest", ("edge", "beam"), 90),
    ]
    assert parsed.gate_timeout_seconds == 120
    assert parsed.unknown_grace_seconds == 20
    assert plan("waves: [{stacks: [dev, edge, beam]}]").unknown_grace_seconds == 60


def test_a_stack_the_plan_does_not_name_goes_last_or_is_refused():
    parsed = plan("waves: [{stacks: [dev]}, {stacks: [edge]}]")
    assert [(w.name, w.stacks) for w in parsed.waves][-1] == ("unlisted", ("beam",))
    found = problems("unlisted: refuse\nwaves: [{stacks: [dev]}, {stacks: [edge]}]")
    assert found == [
        "unlisted: refuse, and no wave names beam: add each to a wave (or set `unlisted: last`)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "waves: [{stacks: [dev]}, {stacks: [bream]}]",
            "waves[1].stacks: 'bream' is not a stack of this project (no Pulumi.bream.yaml); "
            "the stacks are beam, dev, edge",
        ),
        (
            "waves: [{name: canary, stacks: []}, {stacks: [dev, edge, beam]}]",
            "waves[0].stacks: wave 'canary' is empty; list at least one stack",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], soak: -5m}]",
            "waves[0].soak: '-5m' is negative; it must be 0s or more "
            "(a duration such as 0s, 30s, 10m or 1h30m)",
        ),
        (
            "soak: -30\nwaves: [{stacks: [dev, edge, beam]}]",
            "soak: -30 is negative; it must be 0s or more "
            "(a duration such as 0s, 30s, 10m or 1h30m)",
        ),
        (
            "waves: [{name: first, stacks: [dev, edge]}, {stacks: [edge, beam]}]",
            "waves[1].stacks: 'edge' is already in wave 'first'; a stack belongs to one wave",
        ),
        (
            "soak: ten minutes\nwaves: [{stacks: [dev, edge, beam]}]",
            "soak: 'ten minutes' is not a duration such as 0s, 30s, 10m or 1h30m",
        ),
        ("waves: []", "waves: must be a non-empty list of waves, each `{stacks: [<stack>, …]}`"),
        (
            "timeouts: {gate: 0s}\nwaves: [{stacks: [dev, edge, beam]}]",
            "timeouts.gate: must be more than 0s: a gate needs time to pass",
        ),
        (
            "timeouts: {unknown: 5s, soak: 1m}\nwaves: [{stacks: [dev, edge, beam]}]",
            "timeouts.soak: unknown key; the keys are gate, unknown",
        ),
        (
            "timeouts: {unknown: a while}\nwaves: [{stacks: [dev, edge, beam]}]",
            "timeouts.unknown: 'a while' is not a duration such as 0s, 30s, 10m or 1h30m",
        ),
        (
            "wave: [{stacks: [dev]}]\nwaves: [{stacks: [dev, edge, beam]}]",
            "wave: unknown key; the keys are soak, timeouts, unlisted, waves",
        ),
        (
            "unlisted: first\nwaves: [{stacks: [dev, edge, beam]}]",
            "unlisted: 'first' is not one of last, refuse",
        ),
        (
            "waves: [{name: a, stacks: [dev]}, {name: a, stacks: [edge, beam]}]",
            "waves: the name 'a' is given to more than one wave",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], gate: 5m}]",
            "waves[0].gate: unknown key; the keys are approval, name, soak, stacks, verify",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], approval: maybe}]",
            "waves[0].approval: 'maybe' is not one of required, none",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], verify: scripts/smoke.sh}]",
            "waves[0].verify: 'scripts/smoke.sh' is not a list of checks such as "
            "[{name: smoke, command: [scripts/smoke.sh], timeout: 2m}]",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], verify: [{command: scripts/smoke.sh --quick}]}]",
            "waves[0].verify[0].command: 'scripts/smoke.sh --quick' is not a list of strings "
            "(the program and its arguments, e.g. [scripts/smoke.sh, --quick]; no shell)",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], verify: [{command: [curl, 3]}]}]",
            "waves[0].verify[0].command: ['curl', 3] is not a list of strings "
            "(the program and its arguments, e.g. [scripts/smoke.sh, --quick]; no shell)",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], verify: [{command: [/bin/true], timeout: 0s}]}]",
            "waves[0].verify[0].timeout: must be more than 0s: a check needs time to run",
        ),
        (
            "waves: [{stacks: [dev, edge, beam], verify: [{command: [/bin/true], retries: 3}]}]",
            "waves[0].verify[0].retries: unknown key; the keys are command, name, timeout",
        ),
    ],
)
def test_bad_plans_are_refused_with_the_setting_the_value_and_what_is_allowed(text, expected):
    assert problems(text) == [expected]


def test_every_problem_is_reported_at_once():
    found = problems("soak: -1m\nwaves: [{stacks: []}, {stacks: [nope, dev]}, {stacks: [dev]}]")
    assert len(found) == 4, found


def test_a_plan_that_is_not_yaml_or_not_there_names_the_file(tmp_path):
    broken = tmp_path / "plan.yaml"
    broken.write_text("waves: [")
    with pytest.raises(PlanError, match=r"(?s)plan.yaml.*not valid YAML"):
        load_plan(broken, STACKS)
    with pytest.raises(PlanError, match="cannot read it"):
        load_plan(tmp_path / "missing.yaml", STACKS)
    with pytest.raises(PlanError, match="must be a mapping"):
        plan("- dev\n- edge")


def test_only_keeps_the_waves_order_for_the_chosen_stacks_and_drops_empty_waves():
    whole = plan(
        "waves:\n  - {name: canary, stacks: [dev]}\n"
        "  - {name: rest, stacks: [edge, beam], soak: 5m}\n"
    )
    edge = whole.only(["edge"])
    assert [(w.name, w.stacks, w.soak_seconds) for w in edge.waves] == [("rest", ("edge",), 300)]
    assert edge.gate_timeout_seconds == whole.gate_timeout_seconds
    both = whole.only(["beam", "dev", "beam"])
    assert [(w.name, w.stacks) for w in both.waves] == [("canary", ("dev",)), ("rest", ("beam",))]


def test_only_a_stack_the_plan_does_not_hold_is_refused_naming_it():
    with pytest.raises(PlanError) as refused:
        plan("waves:\n  - {stacks: [dev]}\n").only(
            ["edgy", "dev"], "rollout-plan.yaml with --only edgy,dev"
        )
    assert str(refused.value) == (
        "invalid rollout plan rollout-plan.yaml with --only edgy,dev (nothing was rolled out):\n"
        "  - edgy: no such stack in the plan; the plan's stacks are dev, beam, edge"
    )


def test_checks_and_approvals_per_wave():
    parsed = plan(
        "waves:\n"
        "  - name: dev\n    stacks: [dev]\n    soak: 1m\n    verify:\n"
        "      - {name: smoke, command: [scripts/smoke.sh, --quick], timeout: 30s}\n"
        "      - {command: [/usr/bin/true]}\n"
        "  - {name: prod, stacks: [edge, beam], approval: required}\n"
    )
    dev, prod = parsed.waves
    assert [(c.name, c.command, c.timeout_seconds) for c in dev.verify] == [
        ("smoke", ("scripts/smoke.sh", "--quick"), 30),
        ("true", ("/usr/bin/true",), 300),  # named after its program; five minutes
    ]
    assert (dev.approval_required, prod.approval_required) == (False, True)
    # Each check on each cluster, after the gate and after the soak: in the token's budget.
    assert dev.checks_seconds == 2 * 330
    assert parsed.worst_case_seconds == 600 + 60 + 660 + 600 + 600
    # --only keeps a wave's checks and its approval.
    assert parsed.only(["beam"]).waves[0].approval_required
    assert parsed.only(["dev"]).waves[0].verify == dev.verify


def test_only_waves_that_need_an_approval_can_be_approved():
    parsed = plan(
        "waves: [{name: dev, stacks: [dev]},"
        " {name: prod, stacks: [edge, beam], approval: required}]"
    )
    parsed.check_approvals(["prod"])
    with pytest.raises(PlanError) as refused:
        parsed.check_approvals(["dev", "prod"], "rollout-plan.yaml with --approve dev,prod")
    assert refused.value.problems == ["dev: not a wave that needs an approval (prod)"]
    with pytest.raises(PlanError, match="none: no wave has `approval: required`"):
        plan("waves: [{stacks: [dev, edge, beam]}]").check_approvals(["wave 1"])
