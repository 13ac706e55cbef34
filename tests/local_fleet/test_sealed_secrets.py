"""The fleet's sealed-secrets controller opens what the program sealed, only where it was sealed
for, and the key never shows in plain text anywhere but the cluster's own Secret."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

from testbed import flux
from testbed.deployment import on_each
from testbed.fleet import fetch_cert
from testbed.processes import wait_for
from tests.local_fleet.watch import RolloutWatch, current_revision, live_pods

NAMESPACE = "hecate"
SECRET = "hecate-secrets"
KEY = "OPENAI_API_KEY"


def canary() -> str:
    return f"sk-canary-{secrets.token_hex(16)}"


def secret_value(fleet, cluster: str, namespace: str, name: str) -> str | None:
    done = fleet.kubectl(cluster, "get", "-n", namespace, "secret", name, "-o", "json", check=False)
    if done.returncode != 0:
        return None
    data = json.loads(done.stdout).get("data", {})
    return base64.b64decode(data[KEY]).decode() if KEY in data else None


def synced(fleet, cluster: str, namespace: str, name: str) -> dict:
    """The SealedSecret's Synced condition ({} until the controller has looked at it)."""
    obj = fleet.get(cluster, "-n", namespace, "sealedsecret", name)
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == "Synced":
            return condition
    return {}


def refusal(fleet, cluster: str, namespace: str, name: str) -> dict | None:
    """The Synced condition once the controller has refused to open the SealedSecret."""
    found = synced(fleet, cluster, namespace, name)
    return found if found.get("status") == "False" else None


def readable_files(*roots: Path, skip: tuple[str, ...] = ()) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and not any(s in path.parts for s in skip):
                yield path


def seal(deployment, action: str) -> str:
    """A new canary key in the stack, deployed; returns it once the controller has opened it
    into the Secret."""
    fleet, cluster, key = deployment.fleet, deployment.cluster, canary()
    deployment.config(f"hecate:apiKeys.{KEY}", key, secret=True)
    deployment.deploy(f"deploy({cluster}): {action} {KEY}")
    wait_for(
        f"{cluster}: Secret {SECRET} holding the canary of '{action}'",
        lambda: secret_value(fleet, cluster, NAMESPACE, SECRET) == key,
        timeout=flux.LOADED_BOUND,
    )
    return key


def opens_what_the_program_sealed_and_nothing_else(deployment) -> None:
    fleet, cluster = deployment.fleet, deployment.cluster
    cert = fetch_cert(fleet, cluster)
    assert cert.startswith("-----BEGIN CERTIFICATE-----")
    deployment.config("hecate:sealingCert", cert)
    first = seal(deployment, "seal")
    assert synced(fleet, cluster, NAMESPACE, SECRET).get("status") == "True"

    # Rotation: a new key, sealed and pushed, replaces the Secret's value, and every daemon pod
    # (they read it only when they start), never more than maxUnavailable at once.
    pods, revision = live_pods(fleet, cluster), current_revision(fleet, cluster)
    watch = RolloutWatch(fleet, cluster)
    try:
        second = seal(deployment, "rotate")
    finally:
        statuses = watch.stop()
    rotated = live_pods(fleet, cluster)
    assert len(rotated) == fleet.nodes and not set(rotated) & set(pods)
    assert current_revision(fleet, cluster) != revision
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= deployment.max_unavailable
    # Unchanged, the key is not sealed anew, and no pod restarts.
    deployment.up()
    assert deployment.in_step()
    assert set(live_pods(fleet, cluster)) == set(rotated)

    # Strict scope: the same sealed value under another name, or in another namespace, stays shut.
    sealed = fleet.get(cluster, "-n", NAMESPACE, "sealedsecret", SECRET)
    fleet.kubectl(cluster, "create", "namespace", "elsewhere")
    copies = [("hecate", "hecate-secrets-copy"), ("elsewhere", SECRET)]
    try:
        for namespace, name in copies:
            copy = {
                "apiVersion": sealed["apiVersion"],
                "kind": "SealedSecret",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    **sealed["spec"],
                    "template": {
                        **sealed["spec"]["template"],
                        "metadata": {"name": name, "namespace": namespace},
                    },
                },
            }
            fleet.kubectl(cluster, "apply", "-f", "-", input=json.dumps(copy))
        for namespace, name in copies:
            refused = wait_for(
                f"{cluster}: the controller refusing {namespace}/{name}",
                lambda ns=namespace, n=name: refusal(fleet, cluster, ns, n),
                timeout=flux.LOADED_BOUND,
            )
            assert "decrypt" in refused.get("message", "").lower(), refused
            assert secret_value(fleet, cluster, namespace, name) is None
    finally:
        for namespace, name in copies:
            fleet.kubectl(
                cluster,
                "delete",
                "-n",
                namespace,
                "sealedsecret",
                name,
                "--ignore-not-found",
                check=False,
            )
        fleet.kubectl(cluster, "delete", "namespace", "elsewhere", "--wait=false", check=False)

    # Neither key is in the rendered tree, the stack, the state, a pulumi output or any log
    # of the fleet (only in etcd, the cluster's secret store, where it belongs).
    outputs = "\n".join(deployment.outputs)
    assert first not in outputs and second not in outputs
    # (Not the controllers' build directories: they come and go while the files are read.)
    for path in readable_files(
        deployment.project.path.parent, fleet.workdir, skip=(".venv", "etcd", "controller-tmp")
    ):
        content = path.read_bytes()
        assert first.encode() not in content and second.encode() not in content, path


def prunes_the_secret_once_no_value_is_sealed(deployment) -> None:
    fleet, cluster = deployment.fleet, deployment.cluster
    if not deployment.rendered_path("sealed-secret.yaml").exists():  # run alone
        deployment.config("hecate:sealingCert", fetch_cert(fleet, cluster))
        seal(deployment, "seal")
    assert secret_value(fleet, cluster, NAMESPACE, SECRET) is not None

    deployment.config_rm("hecate:apiKeys")
    deployment.deploy(f"deploy({cluster}): no sealed values")
    assert not deployment.rendered_path("sealed-secret.yaml").exists()

    def gone() -> bool:
        sealed = fleet.kubectl(cluster, "get", "-n", NAMESPACE, "sealedsecret", SECRET, check=False)
        return sealed.returncode != 0 and secret_value(fleet, cluster, NAMESPACE, SECRET) is None

    wait_for(f"{cluster}: SealedSecret and Secret {SECRET} pruned", gone, timeout=flux.LOADED_BOUND)
    assert deployment.in_step()


def test_the_controller_opens_what_the_program_sealed_and_nothing_else(every_deployment):
    on_each(every_deployment, opens_what_the_program_sealed_and_nothing_else)


def test_removing_the_sealed_values_prunes_the_secret_from_the_cluster(every_deployment):
    on_each(every_deployment, prunes_the_secret_once_no_value_is_sealed)
