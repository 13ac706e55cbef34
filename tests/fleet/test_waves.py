"""`python -m hecate fleet` on the test bed's three clusters: a version through dev, edge and
beam, each wave gated; a version that never becomes ready stopped at dev and rolled back; a
killed rollout carried on; a concurrent push rebased over; drift in `fleet status`; dry runs
and previews that change nothing.

One project (every committed stack, one state backend, one gitops checkout) for the module;
each test leaves the fleet in step, on the version the project's stack files say. (This module
runs after the others of tests/fleet, which deploy the same clusters from projects of their
own.)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hecate import naming
from tests.fleet.deployment import git_env
from tests.fleet.rollout_project import RolloutProject
from tests.fleet.testbed import BRANCH, UNREADY_SUFFIX, fetch_cert, git, wait_for
from tests.fleet.watch import REVISION_HASH, current_revision, live_pods, template_checksum

STACKS = ("dev", "edge", "beam")
STEPS = ("config", "preview", "up", "commit", "push", "reconcile", "gate passed")
IMAGE = "ghcr.io/hecate-social/hecate-daemon"
SOAK = "4s"  # after the dev wave, when it changed something
THROWAWAY_KEY = f"sk-waves-{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def fleet_project(fleet, tmp_path_factory) -> Iterator[RolloutProject]:
    project = RolloutProject.create(fleet, tmp_path_factory.mktemp("waves"), dev_soak=SOAK)
    # beam seals a throwaway key, so that its gate waits for the SealedSecret too.
    for args in (
        ["hecate:sealingCert", "--", fetch_cert(fleet, "beam-cluster")],
        ["--secret", "--path", "hecate:apiKeys.OPENAI_API_KEY", "--", THROWAWAY_KEY],
    ):
        project.project.pulumi("config", "set", "--stack", "beam", *args)
    # The committed config, rolled out as it is: every cluster on its stack's version.
    try:
        report = project.json("rollout", "--plain")
        assert report["result"] == "rolled out", report
        yield project
    finally:
        project.stop_started()


def at(events: list[dict], stack: str, step: str) -> int:
    """The index of the stack's first event of that step."""
    for index, event in enumerate(events):
        if event["stack"] == stack and event["step"] == step:
            return index
    raise AssertionError(f"no {step!r} event for {stack}: {events}")


def assert_on(project: RolloutProject, version: str, stacks=STACKS) -> None:
    for stack in stacks:
        cluster = f"{stack}-cluster"
        template, pods = project.running_image(cluster)
        assert template == f"{IMAGE}:{version}", f"{cluster}: {template}"
        assert pods == [f"{IMAGE}:{version}"], f"{cluster}: pods run {pods}"
        assert project.version(stack) == version


def head(project: RolloutProject) -> str:
    return project.remote_log()[0].split()[0]


def deploy_commits(project: RolloutProject, version: str, since: str) -> dict[str, int]:
    """Each cluster's deploy commits of `version` pushed after `since` (other tests of the
    session may have pushed that version before)."""
    subjects = [line.split(" ", 1)[1] for line in project.remote_log(since)]
    return {s: subjects.count(f"deploy({s}-cluster): hecate-daemon {version}") for s in STACKS}


def concurrent_push(project: RolloutProject, tmp_path: Path) -> str:
    """A commit of someone else's, pushed to the gitops repository from another clone."""
    other = tmp_path / "other"
    git("clone", "--quiet", project.fleet.git_url, str(other), cwd=tmp_path, env=git_env())
    (other / "NOTES.md").write_text("pushed while a rollout ran\n")
    git("add", "NOTES.md", cwd=other)
    git("commit", "--quiet", "-m", "docs: a concurrent push", cwd=other, env=git_env())
    git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=other, env=git_env())
    return git("rev-parse", "HEAD", cwd=other)


def test_a_version_moves_through_the_waves_gated_in_order(fleet_project, tmp_path):
    log = tmp_path / "rollout.log"
    start = head(fleet_project)
    process = fleet_project.start("rollout", "0.7.3", "--plain", "--json", log=log)
    # While dev's gate is awaited, someone else pushes: edge's push must rebase over it.
    fleet_project.wait_for_line(process, log, "dev/dev: gate")
    theirs = concurrent_push(fleet_project, tmp_path)
    assert process.wait(timeout=600) == 0, log.read_text()
    report = json.loads(log.with_suffix(".out").read_text())

    assert report["result"] == "rolled out"
    events = report["events"]
    for stack in STACKS:
        positions = [at(events, stack, step) for step in STEPS]
        assert positions == sorted(positions), f"{stack}: steps out of order"
    # Each wave starts only once the previous wave's gate has passed (and, after dev, held for
    # the soak, watched all along).
    soak = next(i for i, e in enumerate(events) if e["wave"] == "dev" and e["step"] == "soak")
    assert at(events, "dev", "gate passed") < soak < at(events, "edge", "config")
    assert events[at(events, "edge", "config")]["seconds"] - events[soak]["seconds"] >= 4
    assert not [e for e in events if e["wave"] != "dev" and e["step"] == "soak"]
    assert at(events, "dev", "gate passed") < at(events, "edge", "config")
    assert at(events, "edge", "gate passed") < at(events, "beam", "config")
    edge_push = events[at(events, "edge", "push")]["detail"]
    assert "rebased over 1 push" in edge_push, edge_push

    assert_on(fleet_project, "0.7.3")
    log_lines = fleet_project.remote_log()
    assert any(line.startswith(theirs) for line in log_lines), "the concurrent push was lost"
    assert deploy_commits(fleet_project, "0.7.3", start) == dict.fromkeys(STACKS, 1)
    assert (fleet_project.checkout / "NOTES.md").is_file()

    rows = fleet_project.json("status")
    for row in rows:
        assert row["config_version"] == row["rendered_version"] == "0.7.3", row
        assert row["tree"] == "in step" and row["cluster_state"] == "healthy", row
        assert row["images"] == [f"{IMAGE}:0.7.3"], row
        assert row["applied"] and row["wanted"], row  # "healthy": the one includes the other
        assert row["sealed"] == ("synced" if row["stack"] == "beam" else "—"), row


def test_a_version_that_never_becomes_ready_stops_at_dev_and_is_rolled_back(fleet_project):
    before = fleet_project.version("dev")
    untouched = {s: (fleet_project.root / f"Pulumi.{s}.yaml").read_text() for s in ("edge", "beam")}
    bad = f"0.7.4{UNREADY_SUFFIX}"
    report = fleet_project.json("rollout", bad, "--plain", expect=1)

    assert report["result"] == "rolled back", report
    assert report["failed_wave"] == "dev"
    assert "HealthCheckFailed" in report["failure"], report["failure"]
    dev = report["stacks"]["dev"]
    assert (dev["result"], dev["after"]) == ("rolled back", before)
    for stack in ("edge", "beam"):
        assert report["stacks"][stack]["result"] == "untouched"
        assert not [e for e in report["events"] if e["stack"] == stack], "a later wave ran"
        path = fleet_project.root / f"Pulumi.{stack}.yaml"
        assert path.read_text() == untouched[stack]
    # Only dev was ever given the bad version, and it was reverted.
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log()]
    assert subjects[0] == f"rollback(dev-cluster): hecate-daemon {before} (from {bad})"
    assert subjects[1] == f"deploy(dev-cluster): hecate-daemon {bad}"
    assert not any(bad in s for s in subjects[2:])
    assert_on(fleet_project, before)
    # The stack's config and state are back: the program renders exactly the reverted tree.
    fleet_project.json("status")
    assert not (fleet_project.root / ".rollout" / "journal.json").exists()


def test_a_killed_rollout_carries_on_when_run_again(fleet_project, tmp_path):
    log = tmp_path / "killed.log"
    start = head(fleet_project)
    process = fleet_project.start("rollout", "0.7.5", "--plain", log=log)
    # Killed in the middle of beam's wave, while its `pulumi up` runs.
    fleet_project.wait_for_line(process, log, "beam/beam: preview")
    fleet_project.kill(process)
    left = fleet_project.wait_until_idle()
    assert not left, f"the killed rollout left processes: {left}"
    # No half-written commit: the repository is whole, no git lock was left behind.
    git("fsck", "--no-dangling", "--no-progress", cwd=fleet_project.checkout)
    assert not (fleet_project.checkout / ".git" / "index.lock").exists()
    last = git("log", "-1", "--format=%s", cwd=fleet_project.checkout)
    assert last.startswith(("deploy(", "rollback(", "docs:")), last
    # What the rollout kept to carry on (beam's stack file and state among it) holds beam's API
    # key encrypted only.
    kept = list((fleet_project.root / ".rollout").iterdir())
    assert any(p.name == "beam.state.json" for p in kept), kept
    for path in kept:
        assert THROWAWAY_KEY.encode() not in path.read_bytes(), path

    report = fleet_project.json("rollout", "0.7.5", "--plain")
    assert report["result"] == "rolled out", report
    events = report["events"]
    assert any(e["step"] == "resume" for e in events)
    for wave in ("dev", "edge"):
        skipped = [e for e in events if e["wave"] == wave and e["step"] == "skip"]
        assert skipped, f"the finished {wave} wave was done again"
        assert not [e for e in events if e["stack"] == wave], f"{wave} was redone"
    assert deploy_commits(fleet_project, "0.7.5", start) == dict.fromkeys(STACKS, 1)
    assert_on(fleet_project, "0.7.5")


def test_a_hand_edited_rendered_file_shows_as_drift(fleet_project):
    configmap = fleet_project.checkout / "infrastructure/hecate/beam-cluster/configmap.yaml"
    original = configmap.read_text()
    configmap.write_text(original.replace("data:\n", "data:\n  HAND_EDITED: 'yes'\n", 1))
    try:
        rows = fleet_project.json("status", expect=1)
        by_stack = {row["stack"]: row for row in rows}
        assert by_stack["beam"]["tree"] == "drift", by_stack["beam"]
        assert any("not what the program renders" in p for p in by_stack["beam"]["problems"])
        assert by_stack["dev"]["tree"] == by_stack["edge"]["tree"] == "in step"
        table = fleet_project.fleet_cmd("status")
        assert table.code == 1
        assert "drift" in table.out and "beam" in table.out
    finally:
        configmap.write_text(original)
    assert fleet_project.fleet_cmd("status", "--no-clusters").code == 0


def test_a_cluster_that_cannot_be_reached_is_unknown_never_fine(fleet_project, tmp_path):
    kubeconfig = yaml.safe_load(fleet_project.fleet.kubeconfig.read_text())
    for entry in kubeconfig["clusters"]:
        if entry["name"] == "edge-cluster":
            entry["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens there
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(kubeconfig))
    rows = fleet_project.json("--kubeconfig", str(broken), "status", expect=1)
    by_stack = {row["stack"]: row for row in rows}
    assert by_stack["edge"]["cluster_state"] == "unknown", by_stack["edge"]
    assert by_stack["edge"]["tree"] == "in step"  # the tree side needs no cluster
    assert any("context edge-cluster: unreachable" in p for p in by_stack["edge"]["problems"])
    assert by_stack["dev"]["cluster_state"] == by_stack["beam"]["cluster_state"] == "healthy"


def test_a_dry_run_prints_the_plan_and_previews_and_changes_nothing(fleet_project):
    files = {p: p.read_bytes() for p in fleet_project.root.glob("Pulumi.*.yaml")}
    before = head(fleet_project)
    result = fleet_project.fleet_cmd("rollout", "0.8.0", "--dry-run", "--plain")
    assert result.code == 0, result.text
    for stack in STACKS:
        assert f"{stack}: {stack}-cluster (context {stack}-cluster)" in result.out
    assert result.out.index("wave 1 (dev") < result.out.index("wave 2 (edge")
    for stack in STACKS:
        assert f"--- {stack}: would change (1 to update)" in result.out, result.out
    assert f"{IMAGE}:0.8.0" in result.out  # each preview shows the new image
    assert {p: p.read_bytes() for p in files} == files
    assert head(fleet_project) == before
    # The state did not move either: nothing to preview for the committed config.
    fleet_project.json("preview", "--expect-no-changes")


def test_fleet_preview_reports_every_stack_and_refuses_unexpected_changes(fleet_project, tmp_path):
    report = tmp_path / "preview.md"
    done = fleet_project.fleet_cmd("preview", "--report", str(report))
    assert done.code == 0, done.text
    for stack in STACKS:
        assert f"| {stack} | ok | no changes |" in report.read_text()
    edge = fleet_project.root / "Pulumi.edge.yaml"
    original = edge.read_text()
    edge.write_text(original.replace("hecate:logLevel: warn", "hecate:logLevel: info"))
    try:
        summaries = fleet_project.json("preview", "--expect-no-changes", expect=1)
    finally:
        edge.write_text(original)
    changed = {s["stack"]: s["changes"] for s in summaries}
    # hecate-config, and the daemon whose pods read it (its template's checksum).
    assert changed == {"dev": {}, "edge": {"update": 2}, "beam": {}}, changed


def rendered_checksum(project: RolloutProject, cluster: str) -> str:
    path = project.checkout / "infrastructure" / "hecate" / cluster / "daemonset.yaml"
    return template_checksum(yaml.safe_load(path.read_text()))


def test_a_configuration_change_rolls_out_without_a_version_gated_on_the_new_template(
    fleet_project, tmp_path
):
    """What the main workflow runs after a merge that changed settings only. (Last in the
    module: it leaves dev on its new settings.)"""
    fleet, cluster = fleet_project.fleet, "dev-cluster"
    version, start = fleet_project.version("dev"), head(fleet_project)

    # A setting of the Flux sync only: a commit that names it, and no pod replaced.
    pods = live_pods(fleet, cluster)
    fleet_project.project.pulumi("config", "set", "--stack", "dev", "hecate:healthTimeout", "3m")
    report = fleet_project.json("rollout", "--plain")
    assert report["result"] == "rolled out", report
    assert report["stacks"]["dev"]["changed"] == ["hecate:healthTimeout"]
    assert [report["stacks"][s]["result"] for s in ("edge", "beam")] == ["unchanged"] * 2
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert subjects == [f"deploy({cluster}): hecate:healthTimeout (hecate-daemon {version})"]
    assert set(live_pods(fleet, cluster)) == set(pods)

    # A setting the daemon reads, with the DaemonSet controller stopped: Flux applies the new
    # template, no pod is replaced, and neither the gate nor `fleet status` calls it done.
    start = head(fleet_project)
    fleet_project.project.pulumi("config", "set", "--stack", "dev", "hecate:logLevel", "error")
    fleet.kill_control_plane(cluster, "kube-controller-manager")
    log = tmp_path / "config.log"
    try:
        process = fleet_project.start("rollout", "--plain", "--json", log=log)
        fleet_project.wait_for_line(process, log, "dev/dev: reconcile")
        checksum = rendered_checksum(fleet_project, cluster)

        def applied():
            ds = fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
            return template_checksum(ds) == checksum

        wait_for(f"{cluster}: Flux applying the new template", applied, timeout=120)
        rows = {row["stack"]: row for row in fleet_project.json("status", expect=1)}
        dev = rows["dev"]
        assert dev["template"] == f"{fleet.nodes} older", dev
        assert dev["cluster_state"] == "unhealthy", dev
        assert any("on an older template" in p for p in dev["problems"]), dev
        assert rows["edge"]["cluster_state"] == rows["beam"]["cluster_state"] == "healthy"
        assert process.poll() is None, log.read_text()
        assert "dev/dev: gate passed" not in log.read_text()
        assert set(live_pods(fleet, cluster)) == set(pods)
    finally:
        fleet.start_control_plane(cluster)
    assert process.wait(timeout=600) == 0, log.read_text()

    report = json.loads(log.with_suffix(".out").read_text())
    assert report["result"] == "rolled out", report
    assert report["stacks"]["dev"]["changed"] == ["hecate:logLevel"]
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert subjects == [f"deploy({cluster}): hecate:logLevel (hecate-daemon {version})"]
    # Rolled out means every pod replaced, from the new template.
    after, revision = live_pods(fleet, cluster), current_revision(fleet, cluster)
    assert len(after) == fleet.nodes and not set(after) & set(pods)
    for pod in after.values():
        assert pod["metadata"]["labels"][REVISION_HASH] == revision
        assert pod["metadata"]["annotations"][naming.CONFIG_CHECKSUM] == checksum
    rows = {row["stack"]: row for row in fleet_project.json("status")}
    assert rows["dev"]["template"] == "current" and rows["dev"]["cluster_state"] == "healthy"
