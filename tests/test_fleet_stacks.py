"""What the fleet tool reads of a stack through the engine (hecate/fleet/stacks.py)."""

from __future__ import annotations

import json

import pytest

from hecate.fleet.stacks import EngineEvents, deployed_version


@pytest.mark.parametrize(
    ("outputs", "version"),
    [
        ({"image": "ghcr.io/hecate-social/hecate-daemon:0.7.2"}, "0.7.2"),
        ({"image": "127.0.0.1:5000/hecate-daemon:0.9.3-unready"}, "0.9.3-unready"),
        ({"image": "127.0.0.1:5000/hecate-daemon"}, None),  # a registry port is not a tag
        ({}, None),  # never updated
        ({"image": None}, None),
    ],
)
def test_the_version_a_stack_deployed_is_its_image_output_s_tag(outputs, version):
    assert deployed_version(outputs) == version


def stack_step(kind: str, outputs: dict) -> dict:
    """An engine event of the stack resource: its state before (a step) or after (outputs)."""
    urn = "urn:pulumi:dev::hecate-infra::pulumi:pulumi:Stack::hecate-infra-dev"
    state = {"urn": urn, "type": "pulumi:pulumi:Stack", "outputs": outputs}
    metadata = {"op": "same", "urn": urn, "type": "pulumi:pulumi:Stack", "provider": ""}
    if kind == "resourcePreEvent":
        metadata["old"] = state
    else:
        metadata["new"] = state
    return {kind: {"metadata": metadata}}


def test_a_preview_s_events_give_the_changes_and_the_outputs_before_it(tmp_path):
    before = {"image": "ghcr.io/hecate-social/hecate-daemon:0.7.2", "settingsDigest": {"a": "1"}}
    planned = {**before, "image": "ghcr.io/hecate-social/hecate-daemon:0.7.3"}
    summary = {"resourceChanges": {"same": 19, "update": 1}, "maybeCorrupt": False}
    log = tmp_path / "events.jsonl"
    events = [
        {"preludeEvent": {"config": {}}},
        stack_step("resourcePreEvent", before),
        stack_step("resOutputsEvent", planned),
        {"summaryEvent": {**summary, "durationSeconds": 1, "policyPacks": {}}},
    ]
    log.write_text("".join(json.dumps({"sequence": n, **e}) + "\n" for n, e in enumerate(events)))
    read = EngineEvents.read(log)
    assert read.changes == {"update": 1}  # `same` is no change
    assert read.before == before
    assert read.after == planned


def test_a_stack_never_deployed_has_no_outputs_before(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(
        json.dumps(
            {
                "sequence": 0,
                "summaryEvent": {
                    "resourceChanges": {"create": 20},
                    "maybeCorrupt": False,
                    "durationSeconds": 1,
                    "policyPacks": {},
                },
            }
        )
        + "\n"
    )
    assert EngineEvents.read(log) == EngineEvents({"create": 20}, {}, {})
