"""`hecate doctor` on the test bed's three clusters, as the fleet tool's own identity (with the
rollout tests' project, hence the name: after the other fleet modules): every
item holds on a healthy fleet, and a stopped sealed-secrets controller, a kubeconfig without a
cluster's context and an expired token are each named with what to do. Runs with the session's
`fleet_project` and changes nothing of it (the controller is started again)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.local_fleet.waves import STACKS

CLUSTER_CHECKS = (
    "context",
    "token",
    "API server",
    "kind validatingadmissionpolicies",
    "kind kustomizations",
    "kind gitrepositories",
    "kind sealedsecrets",
    "identity",
    "Flux controllers",
    "sealed-secrets controller",
)


def doctor(fleet_project, *args: str) -> tuple[int, list[dict], str]:
    # The test bed's controllers run beside their clusters: no service proxy reaches them, so
    # their certificates come from where they publish them (as `kubeseal --cert URL` reads).
    urls = [
        f"--sealing-cert-url={s}={fleet_project.fleet.cluster(f'{s}-cluster').sealing_cert_url}"
        for s in STACKS
    ]
    done = subprocess.run(
        [sys.executable, "-m", "hecate", "doctor", "--root", str(fleet_project.root), *urls,
         "--json", *args],
        cwd=fleet_project.root,
        env=fleet_project.env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except json.JSONDecodeError:
        raise AssertionError(f"doctor printed no JSON:\n{done.stdout}{done.stderr}") from None


def test_a_healthy_fleet_passes_every_check(fleet_project):
    code, findings, err = doctor(fleet_project)
    assert code == 0, [f for f in findings if not f["ok"]]
    assert "doctor: asking 3 clusters" in err
    checks = {(f["stack"], f["check"]) for f in findings}
    assert {("", "engine"), ("", "policy pack"), ("", "gitops checkout gitops")} <= checks
    for stack in STACKS:
        assert {(stack, c) for c in CLUSTER_CHECKS} <= checks, stack
    said = {(f["stack"], f["check"]): f["detail"] for f in findings}
    # beam seals in the program: the certificate it seals with is the controller's own.
    assert said[("beam", "sealed-secrets controller")].endswith("and is hecate:sealingCert")
    assert said[("dev", "identity")] == "may do what a rollout's gate does"
    assert said[("edge", "token")].startswith("expires at ")


def expired(token: str) -> str:
    """The token with its `exp` an hour gone (so signed no longer: the API server refuses it
    too, as it refuses an expired one)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(time.time()) - 3600
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{encoded}.{signature}"


def test_a_stopped_controller_a_missing_context_and_an_expired_token_are_each_named(
    fleet_project, tmp_path
):
    config = yaml.safe_load(Path(fleet_project.env["KUBECONFIG"]).read_text())
    config["contexts"] = [c for c in config["contexts"] if c["name"] != "beam-cluster"]
    edge_user = next(
        c["context"]["user"] for c in config["contexts"] if c["name"] == "edge-cluster"
    )
    for user in config["users"]:
        if user["name"] == edge_user:
            user["user"]["token"] = expired(user["user"]["token"])
    kubeconfig = tmp_path / "broken.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    fleet = fleet_project.fleet
    fleet.stop_sealed_secrets("dev-cluster")
    try:
        code, findings, _ = doctor(fleet_project, "--kubeconfig", str(kubeconfig))
    finally:
        fleet.start_sealed_secrets("dev-cluster")
    assert code == 1
    failed = {(f["stack"], f["check"]): f for f in findings if not f["ok"]}
    assert set(failed) == {
        ("dev", "sealed-secrets controller"),
        ("beam", "context"),
        ("edge", "token"),
        ("edge", "API server"),  # the expired token is refused
    }, failed
    assert (
        "its certificate cannot be fetched from http://127.0.0.1:"
        in (failed[("dev", "sealed-secrets controller")]["detail"])
    )
    assert "has no context 'beam-cluster'" in failed[("beam", "context")]["detail"]
    token = failed[("edge", "token")]
    assert token["detail"].startswith("expired at ") and "hecate fleet kubeconfig" in token["fix"]
    assert "401" in failed[("edge", "API server")]["detail"]
    # dev answers otherwise: only its controller is named.
    assert ("dev", "Flux controllers") not in failed
