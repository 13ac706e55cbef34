"""`fleet release`: a version into the stack files, alone, on a branch; refused before anything
is written when it would go backwards, is not a release, or is not in the registry (the
registry itself: tests/e2e/test_registry.py)."""

from __future__ import annotations

import json
import subprocess

import pytest

from hecate.fleet import cli
from hecate.fleet.release import newest_release
from hecate.project import StackFileError, with_version

STACK_FILE = """\
# beam-cluster: the guide's cluster.
config:
  hecate:cluster: beam-cluster
  hecate:version: 0.7.2   # the daemon
  hecate:env:
    A: "1"
"""


def test_the_version_line_alone_changes_and_the_comments_stay():
    changed = with_version(STACK_FILE, "0.7.3", "Pulumi.beam.yaml")
    assert changed == STACK_FILE.replace("0.7.2   # the daemon", "0.7.3   # the daemon")
    bare = "config:\n  hecate:cluster: lab\n"
    assert (
        with_version(bare, "1.0.0", "f")
        == "config:\n  hecate:version: 1.0.0\n  hecate:cluster: lab\n"
    )
    assert with_version("encryptionsalt: x\n", "1.0.0", "f").endswith(
        "config:\n  hecate:version: 1.0.0\n"
    )


def test_a_stack_file_it_cannot_change_alone_is_not_changed():
    with pytest.raises(StackFileError, match="could not set hecate:version without changing more"):
        # The version's line is the second of a block scalar: rewriting it would change the text.
        with_version("config:\n  hecate:note: |\n    hecate:version: x\n", "1.0.0", "f")


@pytest.mark.parametrize(
    ("tags", "above", "pre", "newest"),
    [
        (["0.7.2", "0.7.10", "0.7.9", "latest"], "0.7.2", False, "0.7.10"),
        (["0.7.2", "0.8.0-rc.1"], "0.7.2", False, None),
        (["0.7.2", "0.8.0-rc.1"], "0.7.2", True, "0.8.0-rc.1"),
        (["0.7.1", "0.7.2"], "0.7.2", False, None),
        (["sha-abc", "main"], "0.7.2", False, None),
    ],
)
def test_the_newest_release_is_semver_order_and_pre_releases_only_when_asked(
    tags, above, pre, newest
):
    assert newest_release(tags, above, pre) == newest


def git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()


def release(root, capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--root", str(root), "release", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_release_is_one_commit_of_the_stack_files_on_its_branch(repository, capsys):
    before = {p.name: p.read_text() for p in repository.glob("Pulumi.*.yaml")}
    code, out, err = release(repository, capsys, "0.7.3", "--skip-registry-check", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["branch"] == "release/0.7.3" and made["version"] == "0.7.3"
    assert sorted(s["stack"] for s in made["stacks"]) == ["beam", "dev", "edge"]
    assert git(repository, "branch", "--show-current") == "release/0.7.3"
    assert git(repository, "log", "-1", "--format=%s") == "release: hecate-daemon 0.7.3"
    assert git(repository, "diff", "--name-only", "main..HEAD").split() == sorted(before)
    for name, text in before.items():
        assert (repository / name).read_text() == text.replace(
            "hecate:version: 0.7.2", "hecate:version: 0.7.3"
        )
    assert git(repository, "status", "--porcelain") == ""


def test_only_the_stacks_named(repository, capsys):
    code, _, err = release(repository, capsys, "0.7.3", "--stacks", "edge", "--skip-registry-check")
    assert code == 0, err
    assert git(repository, "diff", "--name-only", "main..HEAD") == "Pulumi.edge.yaml"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["latest"], "hecate:version: 'latest' is a mutable tag"),
        (["0.7.1"], "0.7.1 is older than 0.7.2, which Pulumi."),
        (["v0.8"], "is not a release version"),
        (["0.7.3", "--stacks", "bream"], "--stacks: bream: no such stack"),
        ([], "give a VERSION or --newest"),
        (["0.7.3", "--newest"], "give a VERSION or --newest"),
    ],
)
def test_bad_releases_are_refused_and_nothing_is_written(repository, capsys, args, message):
    head = git(repository, "rev-parse", "HEAD")
    code, _, err = release(repository, capsys, *args, "--skip-registry-check")
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err
    assert git(repository, "rev-parse", "HEAD") == head
    assert git(repository, "branch", "--show-current") == "main"
    assert git(repository, "status", "--porcelain") == ""


def test_what_main_holds_already_is_nothing_to_release(repository, capsys):
    code, out, _ = release(repository, capsys, "0.7.2", "--skip-registry-check")
    assert code == 0 and "nothing to release: the stack files hold 0.7.2 already" in out
    assert git(repository, "branch", "--list", "release/*") == ""


def test_a_branch_that_exists_or_a_stack_file_being_edited_is_refused(repository, capsys):
    git(repository, "branch", "release/0.7.3")
    code, _, err = release(repository, capsys, "0.7.3", "--skip-registry-check")
    assert code == 2 and "the branch release/0.7.3 exists already" in err
    (repository / "Pulumi.dev.yaml").write_text(
        (repository / "Pulumi.dev.yaml").read_text() + "# editing\n"
    )
    code, _, err = release(repository, capsys, "0.7.4", "--skip-registry-check")
    assert code == 2 and "uncommitted changes in Pulumi." in err
    assert git(repository, "branch", "--show-current") == "main"


def test_a_registry_that_cannot_be_reached_is_refused_with_the_way_round(repository, capsys):
    # The committed image's registry, asked from a machine with no way out: refused, naming it.
    code, _, err = release(repository, capsys, "0.7.3")
    assert code == 2, err
    assert "ghcr.io/hecate-social/hecate-daemon:0.7.3" in err
    assert "--skip-registry-check" in err
    assert git(repository, "branch", "--show-current") == "main"
