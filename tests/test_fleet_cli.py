"""`python -m hecate fleet`: bad input is refused with exit 2 before anything runs."""

from __future__ import annotations

import shutil

import pytest

from hecate.fleet import cli
from testbed.mocks import ROOT


@pytest.fixture
def project(tmp_path):
    """The committed stack files and plan, without state, checkout or cluster."""
    for name in ["Pulumi.yaml", "rollout-plan.yaml", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def run(project, capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["--root", str(project), *args])
    captured = capsys.readouterr()
    return code, captured.err


def test_a_mutable_or_malformed_version_is_refused_naming_the_setting(project, capsys):
    code, err = run(project, capsys, "rollout", "latest")
    assert code == 2
    assert "stack dev: hecate:version: 'latest' is a mutable tag" in err
    assert not (project / ".rollout").exists(), "nothing may be written for bad input"


def test_a_bad_plan_is_refused_before_anything_runs(project, capsys):
    (project / "rollout-plan.yaml").write_text("waves: [{stacks: [dev]}, {stacks: [dev]}]\n")
    code, err = run(project, capsys, "rollout", "0.7.3")
    assert code == 2
    assert "waves[1].stacks: 'dev' is already in wave 'wave 1'; a stack belongs to one wave" in err
    assert not (project / ".rollout").exists()


def test_another_rollout_left_unfinished_is_named(project, capsys):
    """Its journal is in the gitops remote, where a fresh clone on another runner finds it."""
    from hecate.fleet.gitops_repo import GitopsCheckout
    from hecate.fleet.remote_state import LOCK_REF, RemoteJournal
    from tests.test_fleet_remote_state import gitops_remote

    checkout = gitops_remote(project.parent / "remote.git", project / "gitops")
    RemoteJournal(GitopsCheckout(checkout, "main")).save(
        {"version": "0.7.3", "bases": {}, "waves_done": ["dev"], "before": {}}, {}
    )
    code, err = run(project, capsys, "rollout", "0.7.4")
    assert code == 2
    assert "a rollout of 0.7.3 was interrupted" in err
    assert "python -m hecate fleet rollout 0.7.3" in err
    # Refused, the run took the lock and gave it back.
    assert GitopsCheckout(checkout, "main").git("ls-remote", "origin", LOCK_REF) == ""


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("１h", "is not a duration"),  # a fullwidth digit: not a number the API server takes
        ("24 h", "is not a duration"),
        ("9m", "is under 10m"),
    ],
)
def test_a_bad_token_duration_is_bad_input_and_asks_no_cluster(project, capsys, duration, message):
    code, err = run(project, capsys, "kubeconfig", "--duration", duration, "--output", "k")
    assert code == 2, err
    assert f"fleet kubeconfig: --duration: {duration!r} {message}" in err
    assert not (project / "k").exists()


def test_an_unreadable_admin_kubeconfig_is_bad_input(project, capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, err = run(project, capsys, "--kubeconfig", str(missing), "kubeconfig", "--output", "k")
    assert code == 2 and f"--kubeconfig: cannot read {missing}" in err
