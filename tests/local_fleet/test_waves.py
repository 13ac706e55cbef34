"""`python -m hecate fleet` on the test bed's three clusters: a version through dev, edge and
beam, each wave gated; a version that never becomes ready stopped at dev and rolled back; a
killed rollout carried on; a concurrent push rebased over; drift in `fleet status`; dry runs
and previews that change nothing.

One project (every committed stack, one state backend, one gitops checkout) for the session,
shared with test_waves_outages.py (`fleet_project`, tests/local_fleet/conftest.py); each test
leaves the fleet in step, on the version the project's stack files say. (These modules run
after the others of tests/local_fleet, which deploy the same clusters from projects of their own.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hecate import naming
from testbed.components import BRANCH
from testbed.deployment import git_env
from testbed.faults import (
    CRASHING_VERSION,
    IMAGE_MISSING_VERSION,
    PROBE_FAILED,
    UNHEALTHY_VERSION,
    UNREADY_SUFFIX,
)
from testbed.processes import FleetError, git, wait_for
from testbed.rollout_project import RolloutProject
from tests.local_fleet.watch import REVISION_HASH, current_revision, live_pods, template_checksum
from tests.local_fleet.waves import (
    IMAGE,
    STACKS,
    THROWAWAY_KEY,
    assert_on,
    at,
    concurrent_push,
    deploy_commits,
    dev_only,
    head,
    set_dev,
)

STEPS = ("config", "preview", "up", "commit", "push", "reconcile", "gate passed")


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


# dev alone, with a gate timeout short enough for a failure that Flux never reports itself.
def failed_with(report: dict, cause: str) -> None:
    """The wave failed naming `cause`, in the report and in the gate's progress lines."""
    assert report["result"] in ("rolled back", "failed"), report
    assert report["failed_wave"] == "dev"
    assert cause in report["failure"], report["failure"]
    gates = [e["detail"] for e in report["events"] if e["stack"] == "dev" and "gate" in e["step"]]
    assert any(cause in d for d in gates), gates


@pytest.mark.parametrize(
    ("version", "causes"),
    [
        (IMAGE_MISSING_VERSION, ["pods: ImagePullBackOff on node-"]),
        (CRASHING_VERSION, ["pods: CrashLoopBackOff (restarts 5) on node-"]),
        # Running, but the daemon's own health check fails (the readiness probe): named pod by
        # pod, in the probe's words.
        (UNHEALTHY_VERSION, ["pods: Unhealthy on hecate-daemon-", PROBE_FAILED]),
    ],
)
def test_pods_that_cannot_start_fail_the_wave_in_the_kubelets_words(
    fleet_project, tmp_path, version, causes
):
    before = fleet_project.version("dev")
    report = fleet_project.json(
        # (0.0.x: older than what runs; a failing version may be any version.)
        "rollout",
        version,
        "--plan",
        dev_only(tmp_path),
        "--plain",
        "--allow-downgrade",
        expect=1,
    )
    # As soon as Flux's health check gives up (hecate:healthTimeout), not at the gate's timeout.
    failed_with(report, "Kustomization hecate HealthCheckFailed: ")
    for cause in causes:
        failed_with(report, cause)
    assert report["result"] == "rolled back"
    assert_on(fleet_project, before)


@pytest.mark.parametrize(
    ("key", "value", "causes"),
    [
        # Flux cannot fetch: its source's error, though hecate's sync itself stays Ready.
        (
            "hecate:gitops",
            {"url": "http://127.0.0.1:9/refused.git", "secretRef": ""},
            ("GitRepository hecate-gitops Ready False", "connection refused"),
        ),
        # The API server refuses the DaemonSet: the object and the server's own words.
        (
            "hecate:patches",
            [
                {
                    "target": {"kind": "DaemonSet", "name": "hecate-daemon"},
                    "mergePatch": {
                        "spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}}
                    },
                }
            ],
            (
                "Kustomization hecate ReconciliationFailed",
                "DaemonSet/hecate/hecate-daemon",
                "maxUnavailable",
            ),
        ),
    ],
)
def test_a_source_or_an_object_flux_cannot_apply_fails_the_wave_naming_it(
    fleet_project, tmp_path, key, value, causes
):
    before = fleet_project.version("dev")
    committed = set_dev(fleet_project, key, value)
    changed = (fleet_project.root / "Pulumi.dev.yaml").read_text()
    try:
        report = fleet_project.json("rollout", "--plan", dev_only(tmp_path), "--plain", expect=1)
    finally:
        stack_file = (fleet_project.root / "Pulumi.dev.yaml").read_text()
        (fleet_project.root / "Pulumi.dev.yaml").write_text(committed)
    for cause in causes:
        failed_with(report, cause)
    assert report["result"] == "rolled back", report["failure"]
    # Put back as the rollout found it: the change is the project's own, undone in the fleet.
    assert stack_file == changed, "the rollback did not put dev's stack file back"
    assert_on(fleet_project, before)


def test_a_tree_flux_cannot_build_fails_the_wave_with_kustomizes_error(fleet_project, tmp_path):
    """Someone pushed a file Flux's bootstrap sync cannot build into dev's directory: the wave
    that changes it fails on the bootstrap sync's error; the rollback cannot mend what it did
    not break, and says so; once the file is gone, the same command finishes."""
    env, checkout = git_env(), fleet_project.checkout
    git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=checkout, env=env)
    stray = checkout / "clusters" / "dev-cluster" / "notes.yaml"
    stray.write_text("not: a kubernetes object\n")
    git("add", str(stray), cwd=checkout, env=env)
    git("commit", "--quiet", "-m", "docs: dev notes", cwd=checkout, env=env)
    git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=checkout, env=env)
    committed = set_dev(fleet_project, "hecate:healthTimeout", "45s")
    changed = (fleet_project.root / "Pulumi.dev.yaml").read_text()
    try:
        report = fleet_project.json("rollout", "--plan", dev_only(tmp_path), "--plain", expect=1)
        failed_with(report, "Kustomization flux-system BuildFailed")
        failed_with(report, "notes.yaml")
        assert report["result"] == "failed" and "the rollback failed too" in report["failure"]
    finally:
        git("pull", "--quiet", "--rebase", "origin", BRANCH, cwd=checkout, env=env)
        git("rm", "--quiet", str(stray), cwd=checkout, env=env)
        git("commit", "--quiet", "-m", "docs: no dev notes", cwd=checkout, env=env)
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=checkout, env=env)
    # The same command finishes what was left: the rollback, now that Flux can build again.
    report = fleet_project.json("rollout", "--plan", dev_only(tmp_path), "--plain", expect=1)
    assert report["result"] == "rolled back", report["failure"]
    assert (fleet_project.root / "Pulumi.dev.yaml").read_text() == changed
    (fleet_project.root / "Pulumi.dev.yaml").write_text(committed)
    rows = {row["stack"]: row for row in fleet_project.json("status")}
    assert rows["dev"]["cluster_state"] == "healthy", rows["dev"]


@pytest.mark.parametrize(
    ("version", "kill_at", "phase"),
    [
        ("0.7.5", "beam/beam: preview", "during beam's up"),
        ("0.7.6", "edge/edge: push", "after edge's push, before its gate"),
        ("0.7.7", "dev: soak", "during dev's soak"),
    ],
)
def test_a_rollout_killed_and_run_again_on_a_fresh_runner_ends_where_it_would_have(
    fleet_project, tmp_path, version, kill_at, phase
):
    """Killed (SIGKILL, as a cancelled CI job's runner) at one phase; run again from a fresh
    clone of the project on the same backend and gitops remote, with no `.rollout/`."""
    committed = fleet_project.stack_files()
    log, start = tmp_path / "killed.log", head(fleet_project)
    process = fleet_project.start("rollout", version, "--plain", log=log)
    fleet_project.wait_for_line(process, log, kill_at)
    fleet_project.kill(process)
    left = fleet_project.wait_until_idle()
    assert not left, f"the killed rollout left processes: {left}"
    # No half-written commit: the repository is whole, no git lock was left behind.
    git("fsck", "--no-dangling", "--no-progress", cwd=fleet_project.checkout)
    assert not (fleet_project.checkout / ".git" / "index.lock").exists()
    # What it kept to carry on holds beam's API key encrypted only, here and in the remote.
    for path in (fleet_project.root / ".rollout").iterdir():
        assert THROWAWAY_KEY.encode() not in path.read_bytes(), path

    # The next runner's gitops checkout is CI's: actions/checkout's depth 1.
    runner = fleet_project.clone(tmp_path / "runner", committed, depth=1)
    report = runner.json("rollout", version, "--plain")
    fleet_project.take_over_from(runner)
    assert report["result"] == "rolled out", (phase, report)
    events = report["events"]
    assert any(e["step"] == "resume" for e in events), phase
    # Its base (the branch's head when the rollout began) lay below the shallow clone's one
    # commit: fetched, and said.
    assert any(e["step"] == "deepen" for e in events), (phase, events)
    # No commit lost or duplicated, every cluster on the version, the state as git says.
    assert deploy_commits(fleet_project, version, start) == dict.fromkeys(STACKS, 1), phase
    assert_on(fleet_project, version)
    if phase == "during dev's soak":
        # The resumed wave soaked for its whole soak time again before edge's started.
        assert at(events, "", "soak") < at(events, "edge", "config")
    rows = runner.json("status")
    assert all(r["tree"] == "in step" and r["cluster_state"] == "healthy" for r in rows), rows


def test_a_rollout_killed_during_its_rollback_is_rolled_back_by_the_next_runner(
    fleet_project, tmp_path
):
    committed, before = fleet_project.stack_files(), fleet_project.version("dev")
    bad, log, start = f"0.7.8{UNREADY_SUFFIX}", tmp_path / "killed.log", head(fleet_project)
    process = fleet_project.start("rollout", bad, "--plain", log=log)
    fleet_project.wait_for_line(process, log, "dev/dev: rollback")
    fleet_project.kill(process)
    assert not fleet_project.wait_until_idle()

    runner = fleet_project.clone(tmp_path / "runner", committed)
    report = runner.json("rollout", bad, "--plain", expect=1)
    fleet_project.take_over_from(runner)
    assert report["result"] == "rolled back", report
    assert report["stacks"]["dev"]["after"] == before
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert subjects.count(f"deploy(dev-cluster): hecate-daemon {bad}") == 1, subjects
    assert subjects[0] == f"rollback(dev-cluster): hecate-daemon {before} (from {bad})", subjects
    assert_on(fleet_project, before)
    assert runner.stack_files() == committed


def test_two_runners_started_together_roll_out_one_version(fleet_project, tmp_path):
    committed = fleet_project.stack_files()
    runners = {v: fleet_project.clone(tmp_path / v, committed) for v in ("0.7.9", "0.7.10")}
    started = {
        v: r.start("rollout", v, "--plain", log=tmp_path / f"{v}.log") for v, r in runners.items()
    }
    codes = {v: p.wait(timeout=900) for v, p in started.items()}
    assert sorted(codes.values()) == [0, 3], codes
    won = next(v for v, c in codes.items() if c == 0)
    lost = next(v for v, c in codes.items() if c == 3)
    refusal = (tmp_path / f"{lost}.log").read_text()
    assert (
        f"another rollout holds the fleet: a rollout of {won} by pid {started[won].pid}" in refusal
    )
    for version in runners:
        text = (tmp_path / f"{version}.log").read_text()
        assert "Traceback" not in text, text
        checkout = runners[version].checkout / ".git"
        assert not (checkout / "rebase-merge").exists() and not (checkout / "rebase-apply").exists()
    # The refused runner touched nothing; the fleet, git and every state agree on the winner.
    assert runners[lost].stack_files() == committed
    fleet_project.take_over_from(runners[won])
    assert_on(fleet_project, won)
    rows = runners[won].json("status")
    assert all(r["tree"] == "in step" and r["cluster_state"] == "healthy" for r in rows), rows


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
    readings: list[dict] = []

    def others_healthy() -> bool:
        rows = fleet_project.json("--kubeconfig", str(broken), "status", expect=1)
        readings.append(by_stack := {row["stack"]: row for row in rows})
        return all(by_stack[s]["cluster_state"] == "healthy" for s in ("dev", "beam"))

    # dev and beam are judged on their own: healthy, once a source fetch that a loaded machine
    # may fail now and then (which status rightly reports) has come round again.
    try:
        wait_for("dev and beam healthy beside an unreachable edge", others_healthy, timeout=90)
    except FleetError:
        raise AssertionError(f"dev or beam never healthy: {readings[-1]}") from None
    by_stack = readings[-1]
    assert by_stack["edge"]["cluster_state"] == "unknown", by_stack["edge"]
    assert by_stack["edge"]["tree"] == "in step"  # the tree side needs no cluster
    assert any("context edge-cluster: unreachable" in p for p in by_stack["edge"]["problems"])


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


# --- a wave of several clusters, deployed in parallel -------------------------------------

ONE_WAVE = """\
soak: 0s
timeouts:
  gate: 150s
waves:
  - name: all
    stacks: [dev, edge, beam]
"""


def one_wave(tmp_path: Path) -> str:
    plan = tmp_path / "one-wave.yaml"
    plan.write_text(ONE_WAVE)
    return str(plan)


def test_a_wave_of_three_deploys_them_at_once_pushes_once_and_gates_them_all(
    fleet_project, tmp_path
):
    log, start = tmp_path / "rollout.log", head(fleet_project)
    process = fleet_project.start(
        "rollout", "0.7.11", "--plan", one_wave(tmp_path), "--parallel", "3", "--plain",
        "--json", log=log,
    )  # fmt: skip
    try:
        # While the wave's stacks render, someone else pushes: the wave's push rebases over it.
        fleet_project.wait_for_line(process, log, ": config hecate:version 0.7.11")
        theirs = concurrent_push(fleet_project, tmp_path)
        assert process.wait(timeout=600) == 0, log.read_text()
    finally:
        fleet_project.stop_started()  # a failure here must not leave a rollout holding the fleet
    report = json.loads(log.with_suffix(".out").read_text())
    assert report["result"] == "rolled out", report
    events = report["events"]
    # At once: every stack started before any finished its up.
    assert max(at(events, s, "config") for s in STACKS) < min(at(events, s, "up") for s in STACKS)
    # One push for the wave, after every commit, over the other clone's push.
    assert max(at(events, s, "commit") for s in STACKS) < min(at(events, s, "push") for s in STACKS)
    assert all("rebased over 1 push" in events[at(events, s, "push")]["detail"] for s in STACKS)
    assert any(line.startswith(theirs) for line in fleet_project.remote_log())
    assert deploy_commits(fleet_project, "0.7.11", start) == dict.fromkeys(STACKS, 1)
    assert_on(fleet_project, "0.7.11")
    assert all(at(events, s, "gate passed") > at(events, s, "push") for s in STACKS)


def test_a_failure_in_one_stack_of_a_parallel_wave_rolls_back_every_stack_it_touched(
    fleet_project, tmp_path
):
    before = {s: fleet_project.version(s) for s in STACKS}
    start = head(fleet_project)
    # dev's DaemonSet is refused by the API server; edge and beam deploy fine.
    committed = set_dev(
        fleet_project,
        "hecate:patches",
        [
            {
                "target": {"kind": "DaemonSet", "name": "hecate-daemon"},
                "mergePatch": {
                    "spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}}
                },
            }
        ],
    )
    try:
        report = fleet_project.json(
            "rollout", "0.7.12", "--plan", one_wave(tmp_path), "--parallel", "3", "--plain",
            expect=1,
        )  # fmt: skip
    finally:
        (fleet_project.root / "Pulumi.dev.yaml").write_text(committed)
    assert report["result"] == "rolled back", report["failure"]
    assert "stack dev" in report["failure"] and "ReconciliationFailed" in report["failure"]
    for stack in STACKS:
        assert report["stacks"][stack]["after"] == before[stack], report["stacks"][stack]
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    for stack in STACKS:
        cluster = f"{stack}-cluster"
        assert any(s.startswith(f"rollback({cluster}): ") for s in subjects), subjects
    for stack in STACKS:
        assert_on(fleet_project, before[stack], stacks=(stack,))


def test_a_rollout_killed_in_the_middle_of_a_parallel_wave_carries_on(fleet_project, tmp_path):
    committed, start = fleet_project.stack_files(), head(fleet_project)
    log = tmp_path / "killed.log"
    plan = one_wave(tmp_path)
    process = fleet_project.start(
        "rollout", "0.7.13", "--plan", plan, "--parallel", "2", "--plain", log=log
    )
    # One stack has rendered: the third starts only now (two at a time), so the wave's one
    # push is seconds away at least.
    try:
        fleet_project.wait_for_line(process, log, ": up ")
    finally:
        fleet_project.kill(process)
    assert not fleet_project.wait_until_idle()
    assert "push" not in log.read_text()

    runner = fleet_project.clone(tmp_path / "runner", committed)
    (runner.root / "one-wave.yaml").write_text(ONE_WAVE)
    report = runner.json("rollout", "0.7.13", "--plan", str(runner.root / "one-wave.yaml"))
    fleet_project.take_over_from(runner)
    assert report["result"] == "rolled out", report
    assert any(e["step"] == "resume" for e in report["events"])
    assert deploy_commits(fleet_project, "0.7.13", start) == dict.fromkeys(STACKS, 1)
    assert_on(fleet_project, "0.7.13")
