"""The team decides when each wave goes, on the test bed's three clusters: a wave's own checks
(`verify:`) run against each of its clusters and fail the wave like a gate, a wave with
`approval: required` is not started until it is approved, and `--abort` ends a rollout that
was stopped, rolling back what it deployed; and `fleet status` says when Flux puts back what
was changed by hand. Runs with the session's
`fleet_project` (tests/local_fleet/conftest.py) and leaves every cluster on the version its stack
file says (versions 0.7.14 to 0.7.19: after test_waves.py's, before test_waves_outages.py's).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from testbed.paths import BIN
from tests.local_fleet.waves import IMAGE, STACKS, assert_on, head

# What a team's smoke test looks like: it asks the cluster it is given (its context, with the
# rollout's kubeconfig) what the daemon runs, logs what it saw, and on edge finds a latency it
# does not accept.
SMOKE = """\
import json, os, subprocess, sys
image = subprocess.run(
    [{kubectl!r}, "--context", os.environ["HECATE_CONTEXT"], "-n", "hecate", "get", "daemonset",
     "hecate-daemon", "-o", "jsonpath={{.spec.template.spec.containers[0].image}}"],
    capture_output=True, text=True, check=True,
).stdout
seen = {{k: os.environ[k] for k in ("HECATE_STACK", "HECATE_CLUSTER", "HECATE_VERSION",
                                   "HECATE_WAVE", "HECATE_CHECK_AFTER")}}
with open({log!r}, "a") as log:
    log.write(json.dumps({{**seen, "image": image}}) + "\\n")
print(f"{{seen['HECATE_CLUSTER']}} runs {{image}}")
if seen["HECATE_STACK"] == "edge":
    print("p95 latency of /api/chat: 870 ms, over the 500 ms budget")
    sys.exit(1)
"""

CHECKED_PLAN = """\
soak: 0s
timeouts:
  gate: 2m
waves:
  - name: dev
    stacks: [dev]
    soak: 3s
    verify: &smoke
      - name: smoke
        command: [{python}, {script}]
        timeout: 1m
  - name: edge
    stacks: [edge]
    verify: *smoke
  - name: beam
    stacks: [beam]
    verify: *smoke
"""

APPROVED_PLAN = """\
soak: 0s
timeouts:
  gate: 2m
waves:
  - name: dev
    stacks: [dev]
  - name: edge
    stacks: [edge]
  - name: beam
    stacks: [beam]
    approval: required
"""


def test_a_check_that_fails_on_edge_rolls_edge_back_and_beam_is_never_touched(
    fleet_project, tmp_path
):
    log = tmp_path / "smoke.log"
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE.format(kubectl=str(BIN / "kubectl"), log=str(log)))
    plan = tmp_path / "checked.yaml"
    plan.write_text(CHECKED_PLAN.format(python=json.dumps(sys.executable), script=script))
    before = {s: fleet_project.version(s) for s in STACKS}
    start = head(fleet_project)

    report = fleet_project.json("rollout", "0.7.14", "--plan", str(plan), "--plain", expect=1)

    assert (report["result"], report["failed_wave"]) == ("rolled back", "edge"), report
    # The cause is the check's, in its own last lines.
    failure = report["failure"]
    assert failure.startswith("stack edge, verify: check 'smoke' ("), failure
    assert "exit 1; its last lines:" in failure
    assert "edge-cluster runs ghcr.io/hecate-social/hecate-daemon:0.7.14" in failure
    assert failure.endswith("p95 latency of /api/chat: 870 ms, over the 500 ms budget")
    # Each check saw its own cluster, on the new version: dev after its gate and its soak,
    # edge once (it failed), beam never.
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(s["HECATE_STACK"], s["HECATE_CHECK_AFTER"]) for s in seen] == [
        ("dev", "gate"),
        ("dev", "soak"),
        ("edge", "gate"),
    ]
    for s in seen:
        assert s["HECATE_CLUSTER"] == f"{s['HECATE_STACK']}-cluster"
        assert s["HECATE_VERSION"] == "0.7.14" and s["image"].endswith(":0.7.14")
    assert (report["stacks"]["dev"]["result"], report["stacks"]["edge"]["result"]) == (
        "rolled out",
        "rolled back",
    )
    assert report["stacks"]["beam"]["result"] == "untouched"
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert subjects == [
        f"rollback(edge-cluster): hecate-daemon {before['edge']} (from 0.7.14)",
        "deploy(edge-cluster): hecate-daemon 0.7.14",
        "deploy(dev-cluster): hecate-daemon 0.7.14",
    ], subjects
    assert_on(fleet_project, "0.7.14", ("dev",))
    assert_on(fleet_project, before["edge"], ("edge",))
    assert_on(fleet_project, before["beam"], ("beam",))


def test_a_wave_that_needs_an_approval_waits_for_it_and_then_goes_on(fleet_project, tmp_path):
    plan = tmp_path / "approved.yaml"
    plan.write_text(APPROVED_PLAN)
    before = fleet_project.version("beam")
    start = head(fleet_project)

    waiting = fleet_project.fleet_cmd("rollout", "0.7.15", "--plan", str(plan), "--plain")
    assert waiting.code == 4, waiting.text
    assert "Wave beam waits for approval" in waiting.out
    assert "`hecate fleet rollout 0.7.15 --approve beam`" in waiting.out
    assert_on(fleet_project, "0.7.15", ("dev", "edge"))
    # Nothing of beam's wave changed: its stack file, its cluster, no commit of it.
    assert_on(fleet_project, before, ("beam",))
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert not [s for s in subjects if "beam-cluster" in s], subjects
    # Until it is approved (or given up), no other rollout moves the fleet.
    other = fleet_project.fleet_cmd("rollout", "0.7.16", "--plan", str(plan), "--plain")
    assert other.code == 2, other.text
    assert "a rollout of 0.7.15 waits for the approval of wave beam" in other.err
    assert "`hecate fleet rollout 0.7.15 --approve beam`" in other.err
    # A wave that needs no approval cannot be approved.
    wrong = fleet_project.fleet_cmd(
        "rollout", "0.7.15", "--plan", str(plan), "--approve", "edge", "--plain"
    )
    assert wrong.code == 2 and "edge: not a wave that needs an approval (beam)" in wrong.err

    report = fleet_project.json(
        "rollout", "0.7.15", "--plan", str(plan), "--approve", "beam", "--plain"
    )
    assert report["result"] == "rolled out", report["failure"]
    steps = [(e["wave"], e["step"]) for e in report["events"]]
    assert ("dev", "skip") in steps and ("edge", "skip") in steps
    assert ("beam", "approved") in steps
    assert_on(fleet_project, "0.7.15")
    # The journal is gone: the next rollout is not held back by this one.
    assert not (Path(fleet_project.root) / ".rollout" / "journal.json").exists()


SOAKED_PLAN = """\
timeouts:
  gate: 2m
waves:
  - name: dev
    stacks: [dev]
    soak: 10m
  - name: rest
    stacks: [edge, beam]
"""


def test_abort_after_a_runner_died_in_a_soak_rolls_back_what_was_deployed_and_frees_the_fleet(
    fleet_project, tmp_path
):
    plan = tmp_path / "soaked.yaml"
    plan.write_text(SOAKED_PLAN)
    versions = {s: fleet_project.version(s) for s in STACKS}
    before = versions["dev"]
    start = head(fleet_project)
    log = tmp_path / "rollout.log"
    process = fleet_project.start("rollout", "0.7.16", "--plan", str(plan), "--plain", log=log)
    fleet_project.wait_for_line(process, log, "dev: soak")
    fleet_project.kill(process)  # a runner lost in the middle of the soak
    assert_on(fleet_project, "0.7.16", ("dev",))

    report = fleet_project.json("rollout", "--abort", "--plan", str(plan), "--plain")
    assert (report["result"], report["version"]) == ("aborted", "0.7.16"), report
    assert report["stacks"]["dev"]["result"] == "rolled back"
    assert report["stacks"]["edge"]["result"] == report["stacks"]["beam"]["result"] == "untouched"
    subjects = [line.split(" ", 1)[1] for line in fleet_project.remote_log(start)]
    assert subjects == [
        f"rollback(dev-cluster): hecate-daemon {before} (from 0.7.16)",
        "deploy(dev-cluster): hecate-daemon 0.7.16",
    ], subjects
    for stack, version in versions.items():
        assert_on(fleet_project, version, (stack,))
    # The fleet is free: nothing left to abort, and another version is not held back.
    again = fleet_project.fleet_cmd("rollout", "--abort", "--plan", str(plan), "--plain")
    assert again.code == 2 and "no unfinished rollout" in again.err, again.text
    mixed = fleet_project.fleet_cmd("rollout", "0.7.17", "--abort", "--plain")
    assert mixed.code == 2 and "--abort ends the unfinished rollout" in mixed.err, mixed.text


def drift_on_edge(fleet_project, by_hand: str) -> str:
    """`fleet status --json`'s live-drift line for edge (exit 1, edge unhealthy), once edge's
    DaemonSet was set to `by_hand`. Flux applies the tree again every interval (1m here), and
    may put the image back before status reads the cluster: then the image is set again (at
    most three times)."""
    for _ in range(3):
        fleet_project.fleet.kubectl(
            "edge-cluster", "-n", "hecate", "set", "image", "daemonset/hecate-daemon",
            f"daemon={by_hand}",
        )  # fmt: skip
        status = fleet_project.fleet_cmd("status", "--json")
        edge = next(row for row in json.loads(status.out) if row["stack"] == "edge")
        drift = [p for p in edge["problems"] if p.startswith("live drift")]
        if drift:
            assert status.code == 1 and edge["cluster_state"] == "unhealthy", status.text
            return drift[0]
        template, _ = fleet_project.running_image("edge-cluster")
        assert template != by_hand, f"the DaemonSet runs {by_hand}, status says: {edge}"
    raise AssertionError("Flux put edge's image back before every status, three times")


def test_status_says_flux_puts_a_daemon_set_changed_by_hand_back_and_when(fleet_project):
    from testbed import flux

    version = fleet_project.version("edge")
    by_hand = f"{IMAGE}:0.9.9-debug"
    try:
        drift = drift_on_edge(fleet_project, by_hand)
        assert f"({by_hand}, not the rendered {IMAGE}:{version})" in drift
        interval = fleet_project.fleet.get(
            "edge-cluster", "-n", "flux-system", "kustomization", "hecate"
        )["spec"]["interval"]
        assert (
            f"Flux puts it back at its next reconcile of Kustomization hecate (every {interval})"
            in drift
        )
        assert "flux reconcile kustomization hecate -n flux-system" in drift
    finally:
        # What Flux does at its interval, asked for now; then the fleet is as it was.
        flux.request(fleet_project.fleet, "edge-cluster", "kustomization", "hecate")
        deadline = time.monotonic() + 120
        while fleet_project.running_image("edge-cluster") != (
            f"{IMAGE}:{version}",
            [f"{IMAGE}:{version}"],
        ):
            assert time.monotonic() < deadline, fleet_project.running_image("edge-cluster")
            time.sleep(1)
    assert_on(fleet_project, version, ("edge",))
