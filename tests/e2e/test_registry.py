"""`fleet release` against a real OCI registry (go-containerregistry's, on loopback, tags
pushed with crane): a tag that exists is released, one that does not is refused naming the
image, and `--newest` finds the newest release newer than the stack files hold."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from hecate.fleet import cli
from hecate.fleet.registry import Registry
from testbed.registry import local_registry, push_tag

NAME = "hecate-social/hecate-daemon"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with local_registry(tmp_path_factory.mktemp("registry")) as host:
        image = f"{host}/{NAME}"
        for tag in ("0.7.2", "0.7.3", "0.7.10", "0.8.0-rc.1", "latest"):
            push_tag(image, tag)
        yield image


@pytest.fixture
def project(repository, registry):
    """The committed project, its stacks' image in the local registry, committed on main."""
    for path in repository.glob("Pulumi.*.yaml"):
        if path.name != "Pulumi.yaml":
            path.write_text(
                path.read_text().replace("config:\n", f"config:\n  hecate:image: {registry}\n", 1)
            )
    from hecate.fleet.gitops_repo import IDENTITY

    subprocess.run(
        ["git", "commit", "-qam", "the local registry"],
        cwd=repository,
        check=True,
        env={**os.environ, **IDENTITY},
    )
    return repository


def test_the_registry_client_reads_tags_and_manifests(registry):
    client = Registry(registry)
    assert sorted(client.tags()) == ["0.7.10", "0.7.2", "0.7.3", "0.8.0-rc.1", "latest"]
    assert client.has_tag("0.7.3") and not client.has_tag("0.7.4")
    assert Registry(registry.replace(NAME, "nobody/nothing")).tags() == []


def git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()


def release(root, capsys, *args):
    code = cli.main(["--root", str(root), "release", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_tag_the_registry_holds_is_released(project, capsys):
    code, out, err = release(project, capsys, "0.7.3", "--json")
    assert code == 0, err
    assert json.loads(out)["branch"] == "release/0.7.3"


def test_a_tag_the_registry_does_not_hold_is_refused_naming_the_image(project, registry, capsys):
    code, _, err = release(project, capsys, "0.7.4")
    assert code == 2
    assert f"{registry}:0.7.4: no such tag in its registry" in err
    assert git(project, "branch", "--show-current") == "main"


def test_the_newest_release_newer_than_the_stack_files_is_found(project, capsys):
    code, out, err = release(project, capsys, "--newest", "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == "0.7.10"  # not 0.8.0-rc.1, not latest
    assert git(project, "branch", "--show-current") == "release/0.7.10"


def test_pre_releases_only_when_asked_for(project, capsys):
    code, out, _ = release(project, capsys, "--newest", "--pre-releases", "--json")
    assert code == 0 and json.loads(out)["version"] == "0.8.0-rc.1"
