"""The rendered tree under the real engine: drift seen and mended, refresh without a cluster,
ownership, and no file lost to a respelled directory, a refused one or a killed run.

Each test reproduces one finding of the issue that introduced hecate/rendered_manifest.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from testbed.mocks import stack_config
from testbed.processes import descendants, reap
from testbed.scratch import Project, new_project

STACK = "beam"
CLUSTER = stack_config(STACK)["hecate:cluster"]
VERSION = str(stack_config(STACK)["hecate:version"])
WORKLOADS = f"gitops/infrastructure/hecate/{CLUSTER}"
FLUX = f"gitops/clusters/{CLUSTER}"


@pytest.fixture
def project(tmp_path) -> Project:
    """The beam stack, brought up once."""
    project = new_project(tmp_path, STACK)
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    return project


def contents(project: Project) -> dict[str, bytes]:
    return {
        str(p.relative_to(project.path)): p.read_bytes()
        for p in sorted((project.path / "gitops").rglob("*"))
        if p.is_file()
    }


def no_changes(project: Project, *extra: str) -> bool:
    return (
        project.pulumi("preview", "--stack", STACK, "--expect-no-changes", *extra, check=False).code
        == 0
    )


def test_deleted_and_edited_files_show_in_preview_and_up_mends_them(project):
    rendered = contents(project)
    (project.path / WORKLOADS / "configmap.yaml").unlink()
    daemon = project.path / WORKLOADS / "daemonset.yaml"
    daemon.write_text(daemon.read_text().replace(f"hecate-daemon:{VERSION}", "hecate-daemon:6.6.6"))

    assert not no_changes(project)
    steps = {s["urn"].split("::")[-1]: s for s in project.preview_steps(STACK) if s["op"] != "same"}
    assert {name: step["op"] for name, step in steps.items()} == {
        "hecate-config": "update",
        "hecate-daemon": "update",
    }
    preview = project.pulumi("preview", "--stack", STACK, "--diff").out
    assert "configmap.yaml is missing" in preview
    assert "daemonset.yaml differs from what the stack renders" in preview

    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    assert contents(project) == rendered  # byte for byte
    assert no_changes(project)


def test_refresh_needs_no_cluster_and_reports_the_drift(project):
    project.env["KUBECONFIG"] = str(project.path / "no-such-kubeconfig")
    assert project.pulumi("refresh", "--stack", STACK, "--yes").code == 0  # nothing drifted
    rendered = contents(project)

    daemon = project.path / WORKLOADS / "daemonset.yaml"
    daemon.write_text(daemon.read_text().replace(f"hecate-daemon:{VERSION}", "hecate-daemon:6.6.6"))
    (project.path / FLUX / "hecate-gitrepository.yaml").unlink()
    refreshed = project.pulumi("refresh", "--stack", STACK, "--yes", "--diff")
    assert "hecate-daemon:6.6.6" in refreshed.out and "hecate-gitops" in refreshed.out
    # The state now holds what the disk holds, so the preview shows the image going back.
    preview = project.pulumi("preview", "--stack", STACK, "--diff").out
    assert "hecate-daemon:6.6.6" in preview and f"hecate-daemon:{VERSION}" in preview
    assert not no_changes(project, "--refresh")
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview", "--refresh")
    assert contents(project) == rendered
    assert no_changes(project, "--refresh")


def test_files_the_stack_does_not_own_survive_up_and_destroy(project):
    others = {
        f"{FLUX}/flux-system/gotk-sync.yaml": "# written by flux bootstrap\nkind: Kustomization\n",
        "gitops/README.md": "# hecate-gitops\n",
        "gitops/clusters/other-cluster/hecate-kustomization.yaml": "kind: Kustomization\n",
        "gitops/infrastructure/hecate/other-cluster/daemonset.yaml": "kind: DaemonSet\n",
    }
    for path, text in others.items():
        (project.path / path).parent.mkdir(parents=True, exist_ok=True)
        (project.path / path).write_text(text)
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    project.pulumi("destroy", "--stack", STACK, "--yes", "--skip-preview")
    assert {p: t.decode() for p, t in contents(project).items()} == others


def test_a_second_stack_for_the_same_cluster_is_refused(project):
    rendered = contents(project)
    (project.path / "Pulumi.beam2.yaml").write_text(
        (project.path / f"Pulumi.{STACK}.yaml").read_text()
    )
    project.pulumi("stack", "init", "beam2")
    project.pulumi("config", "set", "hecate:version", "0.6.0", "--stack", "beam2")
    result = project.pulumi("up", "--stack", "beam2", "--yes", check=False)
    assert result.code != 0
    assert f"{CLUSTER!r} is rendered by stack 'beam'" in result.text
    assert "stack 'beam2' will not render over it" in result.text and "Traceback" not in result.text
    project.pulumi("destroy", "--stack", "beam2", "--yes")
    assert contents(project) == rendered and no_changes(project)


def test_respelling_or_moving_the_gitops_dir_loses_no_file(project):
    rendered = contents(project)
    project.pulumi(
        "config", "set", "hecate:gitopsDir", str(project.path / "gitops"), "--stack", STACK
    )
    steps = project.preview_steps(STACK)
    assert {s["op"] for s in steps} == {"same"}, [
        (s["urn"], s["op"]) for s in steps if s["op"] != "same"
    ]
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    assert contents(project) == rendered and no_changes(project)

    # A real move: the files go to the new place, and come back whole.
    project.pulumi("config", "set", "hecate:gitopsDir", "moved", "--stack", STACK)
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    assert not (project.path / "gitops" / "infrastructure").exists()
    assert {
        p.replace("moved/", "gitops/", 1)
        for p in (
            str(f.relative_to(project.path))
            for f in (project.path / "moved").rglob("*")
            if f.is_file()
        )
    } == set(rendered)
    project.pulumi("config", "set", "hecate:gitopsDir", "./gitops", "--stack", STACK)
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    assert contents(project) == rendered and no_changes(project)


def test_a_gitops_dir_naming_a_file_is_refused_and_the_revert_loses_nothing(project):
    rendered = contents(project)
    state = project.pulumi("stack", "export", "--stack", STACK).out
    project.pulumi("config", "set", "hecate:gitopsDir", "Pulumi.yaml", "--stack", STACK)
    result = project.pulumi("up", "--stack", STACK, "--yes", check=False)
    assert (
        result.code != 0
        and "hecate:gitopsDir: 'Pulumi.yaml' is a file, not a directory" in result.text
    )
    assert contents(project) == rendered
    assert project.pulumi("stack", "export", "--stack", STACK).out == state
    project.pulumi("config", "rm", "hecate:gitopsDir", "--stack", STACK)
    assert no_changes(project) and contents(project) == rendered


def test_a_killed_rollout_is_mended_by_the_next_up(project):
    rendered = contents(project)
    daemon = project.path / WORKLOADS / "daemonset.yaml"
    major, minor, patch = VERSION.split(".")
    bumped = f"{major}.{minor}.{int(patch) + 1}"
    project.pulumi("config", "set", "hecate:version", bumped, "--stack", STACK)
    run = project.start("up", "--stack", STACK, "--yes", "--skip-preview")
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while (
            f":{bumped}" not in daemon.read_text()
            and run.poll() is None
            and time.monotonic() < deadline
        ):
            started |= descendants(run.pid)
            time.sleep(0.005)
    finally:
        started |= descendants(run.pid)
        os.kill(run.pid, signal.SIGKILL)  # the CLI alone, as a killed CI runner would be
        run.wait()
    # Its language host and providers go with it rather than live on.
    assert reap(started) == []
    assert f":{bumped}" in daemon.read_text()
    # Under load the kill can land on the local backend's write of the checkpoint's metadata,
    # leaving an empty sidecar ("failed to load checkpoint: EOF"); then the stack is locked.
    # The README's troubleshooting says what to do, and so does this test.
    state = Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    for attrs in state.rglob("*.attrs"):
        if attrs.stat().st_size == 0:
            attrs.unlink()
    project.pulumi("cancel", "--stack", STACK, "--yes", check=False)  # no lock if it finished first
    project.pulumi("config", "set", "hecate:version", VERSION, "--stack", STACK)
    project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview")
    assert contents(project) == rendered and no_changes(project)


def test_a_rollout_preview_reads_as_kubernetes(project):
    project.pulumi("config", "set", "hecate:version", "9.9.9", "--stack", STACK)
    preview = project.pulumi("preview", "--stack", STACK).out
    changed = [line.split() for line in preview.splitlines() if line.startswith(" ~ ")]
    assert changed == [
        [
            "~",
            "pulumi-python:dynamic/gitops/apps/v1:DaemonSet",
            "hecate-daemon",
            "update",
            "[diff:",
            "~metadata,spec]",
        ]
    ]
    detailed = project.pulumi("preview", "--stack", STACK, "--diff").out
    image = "ghcr.io/hecate-social/hecate-daemon"
    assert f'~ image          : "{image}:{VERSION}" => "{image}:9.9.9"' in detailed
