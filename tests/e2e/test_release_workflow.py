"""release.yml as written, run by the workflow harness against a local hecate-infra remote and
a real OCI registry (go-containerregistry's, on loopback): a tag the registry holds becomes
one pull request that changes the version line of each stack file and nothing else, the hourly
run after it does nothing, and every bad version is refused before anything is pushed."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from testbed.github_remotes import infra_remote, show
from testbed.paths import ROOT
from testbed.registry import local_registry, push_tag
from testbed.workflows import Event, Harness

NAME = "hecate-social/hecate-daemon"
STACKS = sorted(p.name for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.yaml")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    with local_registry(tmp_path_factory.mktemp("registry")) as host:
        image = f"{host}/{NAME}"
        for tag in ("0.7.2", "0.7.3", "0.8.0-rc.1", "latest"):
            push_tag(image, tag)
        yield image


@pytest.fixture
def remote(tmp_path, image):
    """hecate-infra with the committed stacks, their image in the local registry."""
    files = {
        name: (ROOT / name)
        .read_text()
        .replace("config:\n", f"config:\n  hecate:image: {image}\n", 1)
        for name in STACKS
    }
    files["rollout-plan.yaml"] = (ROOT / "rollout-plan.yaml").read_text()
    bare = tmp_path / "hecate-infra.git"
    infra_remote(bare, files)
    return bare


def harness(tmp_path, remote, pre_releases="false") -> Harness:
    return Harness(
        tmp_path / "github",
        {"hecate-infra": remote},
        secrets={"RELEASE_TOKEN": "a-bot-token"},
        variables={"HECATE_PRE_RELEASES": pre_releases},
    )


def branches(remote) -> list[str]:
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads"],
        cwd=remote,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def test_a_new_tag_becomes_one_pull_request_and_the_next_hourly_run_does_nothing(tmp_path, remote):
    github = harness(tmp_path, remote)
    run = github.run("release.yml", Event("schedule"))
    assert run.conclusion == "success", run.log
    assert branches(remote) == ["main", "release/0.7.3"]
    [pull] = github.github()["pulls"]
    assert (pull["base"], pull["head"]) == ("main", "release/0.7.3")
    assert pull["title"] == "release: hecate-daemon 0.7.3"
    for name in STACKS:
        before, after = show(remote, name), show(remote, name, "release/0.7.3")
        changed = [
            (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
        ]
        assert changed == [("  hecate:version: 0.7.2", "  hecate:version: 0.7.3")], name
        assert yaml.safe_load(after)["config"]["hecate:version"] == "0.7.3"

    again = github.run("release.yml", Event("schedule"))
    assert again.conclusion == "success", again.log
    assert again.job("release").step("Push it and open the pull request").outcome == "skipped"
    assert "release/0.7.3 is on the remote already" not in again.log  # --json: no prose
    assert len(github.github()["pulls"]) == 1


def test_pre_releases_are_released_only_when_the_variable_says_so(tmp_path, remote):
    github = harness(tmp_path, remote, pre_releases="true")
    run = github.run("release.yml", Event("schedule"))
    assert run.conclusion == "success", run.log
    assert [p["head"] for p in github.github()["pulls"]] == ["release/0.8.0-rc.1"]


def test_the_daemon_repository_s_dispatch_releases_its_version(tmp_path, remote):
    github = harness(tmp_path, remote)
    run = github.run(
        "release.yml",
        Event("repository_dispatch", payload={"client_payload": {"version": "0.7.3"}}),
    )
    assert run.conclusion == "success", run.log
    assert [p["head"] for p in github.github()["pulls"]] == ["release/0.7.3"]
    # The same dispatch again (a retried delivery): refused, the pull request left as it is.
    again = github.run(
        "release.yml",
        Event("repository_dispatch", payload={"client_payload": {"version": "0.7.3"}}),
    )
    assert again.conclusion == "failure"
    assert "the branch release/0.7.3 is on the remote already" in again.log
    assert len(github.github()["pulls"]) == 1


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ({"version": "0.7.4"}, "{image}:0.7.4: no such tag in its registry"),
        ({"version": "latest"}, "'latest' is a mutable tag"),
        ({"version": "0.7.1"}, "0.7.1 is older than 0.7.2"),
        ({"version": "0.7.3 --stacks dev"}, "'0.7.3 --stacks dev' is not a release version"),
        ({"versions": "0.7.3"}, "this one has none"),
    ],
)
def test_a_bad_release_is_refused_naming_it_and_nothing_is_pushed(
    tmp_path, remote, image, payload, said
):
    github = harness(tmp_path, remote)
    main = show(remote, "Pulumi.beam.yaml")
    run = github.run(
        "release.yml", Event("repository_dispatch", payload={"client_payload": payload})
    )
    step = run.job("release").step("The release branch (the stack files, one commit)")
    assert (run.conclusion, step.code) == ("failure", 2), run.log
    assert said.format(image=image) in step.log
    assert run.job("release").step("Push it and open the pull request").outcome == "skipped"
    assert branches(remote) == ["main"] and show(remote, "Pulumi.beam.yaml") == main
    assert github.github()["pulls"] == []


def test_a_release_by_hand_takes_the_version_input(tmp_path, remote):
    github = harness(tmp_path, remote)
    run = github.run("release.yml", Event("workflow_dispatch", inputs={"version": "0.7.3"}))
    assert run.conclusion == "success", run.log
    assert branches(remote) == ["main", "release/0.7.3"]
