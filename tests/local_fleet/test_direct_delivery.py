"""`direct` delivery against a live API server of the fleet, for every committed stack: create,
no-change preview, out-of-band drift found and put back, destroy, and an API server that goes
away in the middle of an `up`."""

from __future__ import annotations

import json
import subprocess

import pytest

from testbed.admission import HeldAdmission
from testbed.processes import wait_for
from testbed.scratch import Project, new_project

# The dev stack's cluster, before any test deploys it through Flux (this module runs first of
# tests/local_fleet, and destroys what it created): so the objects there are all the program's.
CLUSTER = "dev-cluster"
NAMESPACE = "hecate"
DAEMON = "hecate-daemon"


@pytest.fixture
def direct(fleet, stack, tmp_path) -> Project:
    synced = fleet.kubectl(
        CLUSTER, "get", "-n", "flux-system", "kustomization", "hecate", check=False
    )
    assert synced.returncode != 0, f"Flux already syncs hecate on {CLUSTER}: run this module first"
    project = new_project(tmp_path, stack, KUBECONFIG=str(fleet.kubeconfig))
    for key, value in (("hecate:delivery", "direct"), ("kubernetes:context", CLUSTER)):
        project.pulumi("config", "set", "--stack", stack, key, value)
    return project


def image(fleet) -> str:
    ds = fleet.get(CLUSTER, "-n", NAMESPACE, "daemonset", DAEMON)
    return ds["spec"]["template"]["spec"]["containers"][0]["image"]


def objects(fleet) -> list[str]:
    found = []
    for kind, namespaced in (("namespace", False), ("configmap", True), ("daemonset", True)):
        args = ["-n", NAMESPACE] if namespaced else []
        done = fleet.kubectl(CLUSTER, "get", kind, *args, "-o", "json", check=False)
        if done.returncode == 0:
            names = [i["metadata"]["name"] for i in json.loads(done.stdout)["items"]]
            found += [f"{kind}/{n}" for n in names if n.startswith("hecate")]
    return sorted(found)


EXPECTED = ["configmap/hecate-config", "daemonset/hecate-daemon", "namespace/hecate"]


def test_direct_delivery_creates_finds_drift_puts_it_back_and_destroys(direct, fleet, stack):
    up = ["up", "--stack", stack, "--yes", "--policy-pack", "policy"]
    direct.pulumi(*up)
    assert objects(fleet) == EXPECTED
    declared = image(fleet)
    ds = fleet.get(CLUSTER, "-n", NAMESPACE, "daemonset", DAEMON)["status"]
    assert ds["numberReady"] == ds["desiredNumberScheduled"] == fleet.nodes

    direct.pulumi("preview", "--stack", stack, "--expect-no-changes")

    # An edit out of band (what `kubectl edit` does, scripted).
    fleet.kubectl(
        CLUSTER,
        "-n",
        NAMESPACE,
        "set",
        "image",
        f"daemonset/{DAEMON}",
        "daemon=ghcr.io/hecate-social/hecate-daemon:6.6.6",
    )
    drift = direct.pulumi(
        "preview", "--stack", stack, "--refresh", "--expect-no-changes", "--diff", check=False
    )
    assert drift.code != 0 and "6.6.6" in drift.text and DAEMON in drift.text, drift.text
    direct.pulumi(*up, "--refresh")
    assert image(fleet) == declared

    direct.pulumi("destroy", "--stack", stack, "--yes")
    wait_for("the namespace to be gone", lambda: objects(fleet) == [], timeout=120)


def test_an_api_server_gone_mid_up_is_a_clear_error_and_the_next_up_completes(
    direct, fleet, stack, tmp_path
):
    log = tmp_path / "up.log"
    # A webhook holds the DaemonSet's create in the API server: the up is mid-operation, with a
    # request in flight, when the API server dies (SIGKILL, as a crash).
    with HeldAdmission(fleet, CLUSTER, "apps", "daemonsets", NAMESPACE, hold=30) as admission:
        with open(log, "w") as out:
            running = subprocess.Popen(
                ["pulumi", "--non-interactive", "up", "--stack", stack, "--yes"],
                cwd=direct.path,
                env=direct.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            assert admission.held.wait(120), f"the up never sent the DaemonSet:\n{log.read_text()}"
            assert objects(fleet) == ["configmap/hecate-config", "namespace/hecate"]
            fleet.kill_api_server(CLUSTER)
            code = running.wait(timeout=300)
        finally:
            if running.poll() is None:
                running.kill()
            fleet.start_control_plane(CLUSTER)
    text = log.read_text()
    assert code != 0, text
    # Clear: it names the object and the server it lost, and is no Python traceback.
    port = fleet.cluster(CLUSTER).api_port
    assert "hecate-daemon" in text and f"127.0.0.1:{port}" in text, text
    assert "Traceback" not in text

    # With the server back, the next up completes: every object there, in the state, in step.
    direct.pulumi("up", "--stack", stack, "--yes")
    assert objects(fleet) == EXPECTED
    direct.pulumi("preview", "--stack", stack, "--refresh", "--expect-no-changes")
    direct.pulumi("destroy", "--stack", stack, "--yes")
    wait_for("the namespace to be gone", lambda: objects(fleet) == [], timeout=120)
