"""What a rollout makes of the fleet's bad moments, on the test bed's three clusters: Flux's own
heartbeat during a soak (never a failure), pods that really stop being Ready (always one), a
gitops remote that goes away in the middle of a wave, and input that must be refused before
anything moves. Runs with the session's `fleet_project` (tests/local_fleet/conftest.py) and, like
test_waves.py, leaves every cluster on the version its stack file says.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from hecate.fleet.versions import is_older
from testbed.processes import git
from tests.local_fleet.waves import STACKS, assert_on, dev_only, head, set_dev

# Flux's own periodic reconcile, every 8 s, on dev's hecate Kustomization: in a soak of 40 s,
# about four times Ready Unknown (Progressing) with nothing wrong.
HEARTBEAT_PATCH = [
    {
        "target": {"kind": "Kustomization", "name": "hecate"},
        "mergePatch": {"spec": {"interval": "8s"}},
    }
]
# The gate's timeout: more than Flux's health check, which a sync busy with pods that are not
# ready holds for its own timeout before it takes the next commit.
SOAKED_DEV = """\
timeouts:
  gate: 5m
  unknown: 1m
waves:
  - name: dev
    stacks: [dev]
    soak: {soak}
  - name: rest
    stacks: [edge, beam]
"""


def plan(tmp_path: Path, soak: str) -> str:
    path = tmp_path / f"soaked-dev-{soak}.yaml"
    path.write_text(SOAKED_DEV.format(soak=soak))
    return str(path)


def ready_since(fleet_project, cluster: str) -> datetime:
    """When the hecate Kustomization's Ready condition last changed."""
    sync = fleet_project.fleet.get(cluster, "-n", "flux-system", "kustomization", "hecate")
    ready = next(c for c in sync["status"]["conditions"] if c["type"] == "Ready")
    return datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00"))


def test_flux_reconciling_during_a_soak_never_rolls_a_healthy_wave_back(fleet_project, tmp_path):
    committed = (fleet_project.root / "Pulumi.dev.yaml").read_text()
    # A second change of dev's own: a log level it does not have (the committed one is debug).
    level = "warn" if "hecate:logLevel: warn" not in committed else "info"
    try:
        for change, (key, value) in enumerate(
            [("hecate:patches", HEARTBEAT_PATCH), ("hecate:logLevel", level)], 1
        ):
            set_dev(fleet_project, key, value)
            started = datetime.now(UTC)
            report = fleet_project.json("rollout", "--plan", plan(tmp_path, "40s"), "--plain")
            assert report["result"] == "rolled out", (change, report["failure"])
            assert not any(e["step"] == "rollback" for e in report["events"]), change
            soaks = [e for e in report["events"] if e["step"] == "soak" and not e["stack"]]
            assert soaks and soaks[0]["detail"].startswith("40 s"), soaks
            # Flux did reconcile dev's sync while the soak watched it: its Ready condition went
            # Unknown and back well after the soak began (the last time, within the last 8 s
            # of the soak or so).
            soak_began = started + timedelta(seconds=soaks[0]["seconds"])
            assert ready_since(fleet_project, "dev-cluster") > soak_began + timedelta(seconds=16), (
                change
            )
    finally:
        (fleet_project.root / "Pulumi.dev.yaml").write_text(committed)
        report = fleet_project.json("rollout", "--plan", dev_only(tmp_path), "--plain")
        assert report["result"] == "rolled out", report["failure"]


def test_pods_that_stop_being_ready_during_the_soak_roll_the_wave_back(fleet_project, tmp_path):
    before = {s: fleet_project.version(s) for s in STACKS}
    log = tmp_path / "rollout.log"
    process = fleet_project.start(
        "rollout", "0.7.20", "--plan", plan(tmp_path, "5m"), "--plain", "--json", log=log
    )
    try:
        fleet_project.wait_for_line(process, log, "dev: soak")
        # What a failing readiness probe does: the kubelet marks the pod not Ready.
        pods = fleet_project.fleet.get(
            "dev-cluster", "-n", "hecate", "pods", "-l", "app=hecate-daemon"
        )["items"]
        unready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        victim = pods[0]["metadata"]["name"]
        fleet_project.fleet.kubectl(
            "dev-cluster", "-n", "hecate", "patch", "pod", victim, "--subresource=status",
            "--type=strategic", "-p", json.dumps(unready),
        )  # fmt: skip
        assert process.wait(timeout=600) == 1, log.read_text()
    finally:
        fleet_project.stop_started()
    report = json.loads(log.with_suffix(".out").read_text())
    assert report["result"] == "rolled back", report
    assert report["failed_wave"] == "dev"
    assert "dev, soak: the gate stopped holding (" in report["failure"], report["failure"]
    assert "ready" in report["failure"], report["failure"]
    assert_on(fleet_project, before["dev"], ("dev",))
    assert report["stacks"]["edge"]["result"] != "rolled out"
    for stack in ("edge", "beam"):
        assert fleet_project.version(stack) == before[stack]


def test_a_gitops_remote_that_goes_away_stops_the_rollout_and_the_same_command_finishes_it(
    fleet_project, tmp_path
):
    stack_file = fleet_project.root / "Pulumi.dev.yaml"
    committed, start = stack_file.read_text(), head(fleet_project)
    checkout = fleet_project.checkout
    log, command = tmp_path / "rollout.log", ("rollout", "0.7.21", "--plan", dev_only(tmp_path))
    process = fleet_project.start(*command, "--plain", "--json", log=log)
    stopped = False
    try:
        fleet_project.wait_for_line(process, log, "dev/dev: config")
        fleet_project.fleet.stop_git_server()
        stopped = True
        assert process.wait(timeout=300) == 1, log.read_text()
    finally:
        fleet_project.stop_started()
        if stopped:
            fleet_project.fleet.start_git_server()
    report = json.loads(log.with_suffix(".out").read_text())
    assert report["result"] == "stopped", report
    failure = report["failure"]
    assert f"the gitops remote {fleet_project.fleet.git_url} cannot be reached" in failure, failure
    assert "run the same command again once the remote answers" in failure, failure
    assert "journal" not in failure, failure
    # Everything here as it was before the wave: no unpushed commit, nothing rendered
    # and left over, the stack file on the old version.
    assert git("rev-parse", "HEAD", cwd=checkout) == start
    assert git("status", "--porcelain", cwd=checkout) == ""
    assert stack_file.read_text() == committed
    assert head(fleet_project) == start, "nothing reached the remote"

    report = fleet_project.json(*command, "--plain")
    assert report["result"] == "rolled out", report["failure"]
    assert any(e["step"] == "resume" for e in report["events"])
    # (The plan's dev wave, then the stacks it does not name: `unlisted: last`.)
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert sorted(subjects) == sorted(f"deploy({s}-cluster): hecate-daemon 0.7.21" for s in STACKS)
    assert subjects[-1] == "deploy(dev-cluster): hecate-daemon 0.7.21", "dev first"
    assert_on(fleet_project, "0.7.21")


def test_a_kubeconfig_without_beams_context_is_refused_before_the_first_commit(
    fleet_project, tmp_path
):
    kubeconfig = yaml.safe_load(Path(fleet_project.env["KUBECONFIG"]).read_text())
    kubeconfig["contexts"] = [c for c in kubeconfig["contexts"] if c["name"] != "beam-cluster"]
    partial = tmp_path / "no-beam.kubeconfig"
    partial.write_text(yaml.safe_dump(kubeconfig))
    start = head(fleet_project)
    result = fleet_project.fleet_cmd("--kubeconfig", str(partial), "rollout", "0.7.22", "--plain")
    assert result.code == 2, result.text
    assert f"stack beam: the kubeconfig {partial} has no context 'beam-cluster'" in result.err
    assert "Traceback" not in result.err
    assert head(fleet_project) == start
    assert git("ls-remote", "origin", "refs/hecate/*", cwd=fleet_project.checkout) == ""
    assert all(fleet_project.version(s) != "0.7.22" for s in STACKS)
    # And a token that would outlive its purpose is not even asked for.
    long = fleet_project.fleet_cmd(
        "--kubeconfig", str(fleet_project.fleet.kubeconfig), "kubeconfig", "--output",
        str(tmp_path / "k"), "--duration", "100000h",
    )  # fmt: skip
    assert long.code == 2 and "is over 30d" in long.err, long.text
    assert not (tmp_path / "k").exists()


def test_an_identity_without_the_gate_s_rights_is_refused_before_the_first_commit(
    fleet_project, tmp_path
):
    """beam's user is a service account bound to nothing: it may not read what the gate reads."""
    cluster = "beam-cluster"
    fleet = fleet_project.fleet
    fleet.kubectl(cluster, "-n", "flux-system", "create", "serviceaccount", "hecate-nobody")
    try:
        token = fleet.kubectl(
            cluster, "-n", "flux-system", "create", "token", "hecate-nobody", "--duration", "1h"
        ).stdout.strip()
        kubeconfig = yaml.safe_load(Path(fleet_project.env["KUBECONFIG"]).read_text())
        user = next(c for c in kubeconfig["contexts"] if c["name"] == cluster)["context"]["user"]
        next(u for u in kubeconfig["users"] if u["name"] == user)["user"] = {"token": token}
        nobody = tmp_path / "nobody.kubeconfig"
        nobody.write_text(yaml.safe_dump(kubeconfig))
        start = head(fleet_project)
        result = fleet_project.fleet_cmd(
            "--kubeconfig", str(nobody), "rollout", "0.7.22", "--plain"
        )
    finally:
        fleet.kubectl(cluster, "-n", "flux-system", "delete", "serviceaccount", "hecate-nobody")
    assert result.code == 2, result.text
    said = "stack beam (beam-cluster): the identity of context 'beam-cluster' may not"
    assert f"{said} get daemonsets/hecate-daemon in hecate" in result.err, result.err
    assert f"{said} patch kustomizations/hecate in flux-system" in result.err
    assert "stack dev" not in result.err and "stack edge" not in result.err
    assert head(fleet_project) == start
    assert all(fleet_project.version(s) != "0.7.22" for s in STACKS)


def test_a_token_that_expires_before_the_plan_could_end_is_refused_before_the_first_commit(
    fleet_project, tmp_path
):
    short = tmp_path / "short.kubeconfig"
    issued = fleet_project.fleet_cmd(
        "--kubeconfig", str(fleet_project.fleet.kubeconfig), "kubeconfig", "--output", str(short),
        "--duration", "10m",
    )  # fmt: skip
    assert issued.code == 0, issued.text
    start = head(fleet_project)
    # Gates of 5 m for two waves, a soak of 1 m, and a rollback's gate: 16 m at worst.
    result = fleet_project.fleet_cmd(
        "--kubeconfig", str(short), "rollout", "0.7.22", "--plan", plan(tmp_path, "1m"), "--plain"
    )
    assert result.code == 2, result.text
    for stack in STACKS:
        assert (
            f"stack {stack} ({stack}-cluster): the token of context '{stack}-cluster' expires"
            in (result.err)
        ), result.err
    assert "before the plan's worst case of 960 s" in result.err
    assert head(fleet_project) == start
    assert all(fleet_project.version(s) != "0.7.22" for s in STACKS)


def test_a_rollout_that_would_take_clusters_back_is_refused_unless_asked_for(
    fleet_project, tmp_path
):
    running = {s: fleet_project.running_image(f"{s}-cluster")[0].rsplit(":", 1)[1] for s in STACKS}
    assert all(is_older("0.7.2", v) for v in running.values()), running
    start = head(fleet_project)
    refused = fleet_project.fleet_cmd("rollout", "0.7.2", "--plain")
    assert refused.code == 2, refused.text
    for stack, version in running.items():
        assert (
            f"stack {stack} ({stack}-cluster): its pods run {version}, the rollout would deploy "
            "0.7.2" in refused.err
        ), refused.err
    assert "--allow-downgrade" in refused.err and "Traceback" not in refused.err
    # A stale branch merged: dev's stack file set back, rolled out as committed (as a push to
    # main runs it). Refused too, and nothing moved.
    set_dev(fleet_project, "hecate:version", "0.7.2")
    stale = fleet_project.fleet_cmd("rollout", "--plan", dev_only(tmp_path), "--plain")
    assert stale.code == 2, stale.text
    assert f"stack dev (dev-cluster): its pods run {running['dev']}" in stale.err
    assert head(fleet_project) == start
    assert fleet_project.running_image("dev-cluster")[0].endswith(f":{running['dev']}")
    # Asked for, it goes back, and the report says what the pods ran before and after.
    report = fleet_project.json(
        "rollout", "--plan", dev_only(tmp_path), "--plain", "--allow-downgrade"
    )
    assert report["result"] == "rolled out", report["failure"]
    dev = report["stacks"]["dev"]
    assert (dev["pods_before"], dev["pods_after"]) == (running["dev"], "0.7.2"), dev
    assert any(e["step"] == "downgrade" for e in report["events"])
    assert_on(fleet_project, "0.7.2", ("dev",))


def test_only_one_stack_is_rolled_out_with_only_and_the_others_are_not_touched(
    fleet_project, tmp_path
):
    before = {s: fleet_project.version(s) for s in STACKS}
    committed = (fleet_project.root / "Pulumi.edge.yaml").read_text()
    start = head(fleet_project)
    try:
        report = fleet_project.json("rollout", "0.7.99", "--only", "edge", "--plain")
        assert report["result"] == "rolled out", report["failure"]
        assert sorted(report["stacks"]) == ["edge"]
        subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
        assert subjects == ["deploy(edge-cluster): hecate-daemon 0.7.99"], subjects
        assert_on(fleet_project, "0.7.99", ("edge",))
        for stack in ("dev", "beam"):
            assert fleet_project.version(stack) == before[stack]
            assert fleet_project.running_image(f"{stack}-cluster")[0].endswith(f":{before[stack]}")
        refused = fleet_project.fleet_cmd("rollout", "0.7.99", "--only", "edgy", "--plain")
        assert refused.code == 2 and "edgy: no such stack in the plan" in refused.err, refused.text
    finally:
        # Back to what edge's stack file said: the fleet in step for the tests after this one.
        (fleet_project.root / "Pulumi.edge.yaml").write_text(committed)
        back = fleet_project.json("rollout", "--only", "edge", "--allow-downgrade", "--plain")
        assert back["result"] == "rolled out", back["failure"]
