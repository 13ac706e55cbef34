"""What a rollout's commits say: the version, or the settings a configuration change touched."""

from __future__ import annotations

from hecate.fleet.rollout import (
    changed_settings,
    deploy_message,
    rollback_message,
)

BEFORE = {"hecate:version": "v1", "hecate:logLevel": "l1", "hecate:env.A": "a1"}


def test_the_settings_whose_digests_differ_are_named():
    after = {**BEFORE, "hecate:logLevel": "l2", "hecate:env.B": "b1"}
    del after["hecate:env.A"]
    assert changed_settings(BEFORE, after) == ["hecate:env.A", "hecate:env.B", "hecate:logLevel"]
    assert changed_settings(BEFORE, dict(BEFORE)) == []
    # Nothing deployed before (or deployed before the digests existed): nothing to compare.
    assert changed_settings({}, after) == []


def test_a_version_commit_reads_as_it_always_did():
    assert deploy_message("dev-cluster", "0.7.3") == "deploy(dev-cluster): hecate-daemon 0.7.3"
    assert (
        deploy_message("dev-cluster", "0.7.3", ["hecate:version"])
        == "deploy(dev-cluster): hecate-daemon 0.7.3"
    )
    assert (
        deploy_message("dev-cluster", "0.7.3", ["hecate:logLevel", "hecate:version"])
        == "deploy(dev-cluster): hecate-daemon 0.7.3, hecate:logLevel"
    )


def test_a_configuration_change_is_never_committed_as_a_bare_version():
    assert (
        deploy_message("dev-cluster", "0.7.2", ["hecate:logLevel"])
        == "deploy(dev-cluster): hecate:logLevel (hecate-daemon 0.7.2)"
    )
    many = [f"hecate:env.V{i}" for i in range(6)]
    message = deploy_message("dev-cluster", "0.7.2", many)
    subject, _, body = message.partition("\n\n")
    assert subject == (
        "deploy(dev-cluster): hecate:env.V0, hecate:env.V1, hecate:env.V2, hecate:env.V3 "
        "and 2 more (hecate-daemon 0.7.2)"
    )
    assert body.splitlines() == ["Settings changed:", *(f"- {s}" for s in many)]


def test_a_rollback_says_what_it_undoes():
    assert (
        rollback_message("dev-cluster", "0.7.3", "0.7.4")
        == "rollback(dev-cluster): hecate-daemon 0.7.3 (from 0.7.4)"
    )
    assert (
        rollback_message("dev-cluster", "0.7.2", "0.7.2", ["hecate:logLevel"])
        == "rollback(dev-cluster): hecate-daemon 0.7.2, hecate:logLevel undone"
    )
    assert (
        rollback_message("dev-cluster", "0.7.2", "0.7.2")
        == "rollback(dev-cluster): hecate-daemon 0.7.2, its configuration undone"
    )
