"""The program's sealing against the real kubeseal, under the real engine.

A throwaway controller key pair stands in for a cluster's sealed-secrets
controller: kubeseal opens what the program sealed, the program accepts what
kubeseal sealed, and the canary API keys appear nowhere but in Pulumi secrets.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import yaml

from hecate import naming
from testbed import certs
from testbed.mocks import stack_config
from testbed.paths import BIN
from testbed.scratch import new_project

STACK = "beam"
CANARY = "sk-canary-e2e-5d41402abc4b2a76"
ROTATED = "sk-canary-e2e-rotated-7215ee9c"
KUBESEAL_VALUE = "mistral-canary-e2e-9e107d9d"
SEALED_SECRET_FILE = "gitops/infrastructure/hecate/{cluster}/sealed-secret.yaml"


def kubeseal(*args: str, stdin: str = "", env: dict) -> str:
    done = subprocess.run(
        [str(BIN / "kubeseal"), *args], input=stdin, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def unseal(sealed_file, private_key, env: dict) -> dict:
    """The Secret kubeseal makes of a rendered SealedSecret, offline, with the controller's key."""
    return yaml.safe_load(
        kubeseal(
            "--recovery-unseal",
            "--recovery-private-key",
            str(private_key),
            "--format",
            "yaml",
            stdin=sealed_file.read_text(),
            env=env,
        )
    )


@pytest.fixture
def sealed_stack(tmp_path):
    """The beam stack with a throwaway controller certificate, one API key as a secret and one
    kubeseal value."""
    cert_pem, key = certs.controller(7)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "key.pem").write_text(certs.private_pem(key))
    # kubeseal wants a kubeconfig to exist even when it never talks to a cluster.
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
    )
    project = new_project(tmp_path, STACK, KUBECONFIG=str(tmp_path / "kubeconfig"))
    env = project.env
    project.pulumi("config", "set", "hecate:sealingCert", "--stack", STACK, "--", cert_pem)
    project.pulumi(
        "config",
        "set",
        "--secret",
        "--path",
        "hecate:apiKeys.OPENAI_API_KEY",
        CANARY,
        "--stack",
        STACK,
    )
    pre_sealed = kubeseal(
        "--raw",
        "--cert",
        str(tmp_path / "cert.pem"),
        "--scope",
        "strict",
        "--namespace",
        "hecate",
        "--name",
        "hecate-secrets",
        stdin=KUBESEAL_VALUE,
        env=env,
    ).strip()
    project.pulumi(
        "config",
        "set",
        "--plaintext",
        "--path",
        "hecate:sealedSecrets.MISTRAL_API_KEY",
        pre_sealed,
        "--stack",
        STACK,
    )
    return project, tmp_path


def verdicts(table: str) -> dict[str, str]:
    """`verify`'s table as a pipe gets it (a header row, as `kubectl get` prints): key -> status."""
    header, *rows = table.splitlines()
    assert header.split() == ["KEY", "SOURCE", "STATUS", "DETAIL"], header
    return {row.split()[0]: row.split()[2] for row in rows}


def test_kubeseal_and_the_program_read_each_others_sealing(sealed_stack):
    project, tmp_path = sealed_stack
    logs = [project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview").text]
    cluster = stack_config(STACK)["hecate:cluster"]
    sealed_file = project.path / SEALED_SECRET_FILE.format(cluster=cluster)

    # kubeseal, offline with the controller's private key, opens both values.
    unsealed = unseal(sealed_file, tmp_path / "key.pem", project.env)
    assert unsealed["kind"] == "Secret" and unsealed["metadata"]["name"] == "hecate-secrets"
    assert unsealed["metadata"]["namespace"] == "hecate"
    data = {k: base64.b64decode(v).decode() for k, v in unsealed["data"].items()}
    assert data == {"OPENAI_API_KEY": CANARY, "MISTRAL_API_KEY": KUBESEAL_VALUE}

    # Unchanged inputs: no change, and the ciphertext stays as it was, and so does the checksum
    # on the daemon's pods: an unchanged key never restarts a pod.
    daemon_file = sealed_file.with_name("daemonset.yaml")
    before, daemon_before = sealed_file.read_bytes(), daemon_file.read_bytes()
    logs.append(project.pulumi("preview", "--stack", STACK, "--expect-no-changes").text)
    logs.append(project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview").text)
    assert sealed_file.read_bytes() == before and daemon_file.read_bytes() == daemon_before

    # verify: the program's key from the state, the kubeseal one only with the private key.
    verify = [sys.executable, "-m", "hecate", "verify", "--stack", STACK]
    done = subprocess.run(verify, cwd=project.path, env=project.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done.stdout) == {"OPENAI_API_KEY": "ok", "MISTRAL_API_KEY": "unverified"}
    done = subprocess.run(
        [*verify, "--private-key", str(tmp_path / "key.pem")],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done.stdout) == {
        "OPENAI_API_KEY": "ok",
        "MISTRAL_API_KEY": "ok",
    }
    logs.append(done.stdout + done.stderr)

    # Rotating a key re-seals that key alone.
    project.pulumi(
        "config",
        "set",
        "--secret",
        "--path",
        "hecate:apiKeys.OPENAI_API_KEY",
        ROTATED,
        "--stack",
        STACK,
    )
    steps = project.preview_steps(STACK)
    changed = sorted((s["urn"].split("::")[-1], s["op"]) for s in steps if s["op"] != "same")
    # ... and the daemon, whose pods roll for the new key (their template's checksum).
    assert changed == [
        ("OPENAI_API_KEY", "update"),
        ("hecate-daemon", "update"),
        ("hecate-secrets", "update"),
    ]
    digests_before = json.loads(
        project.pulumi("stack", "output", "settingsDigest", "--stack", STACK, "--json").out
    )
    logs.append(project.pulumi("up", "--stack", STACK, "--yes", "--skip-preview").text)
    unsealed = unseal(sealed_file, tmp_path / "key.pem", project.env)
    assert base64.b64decode(unsealed["data"]["OPENAI_API_KEY"]).decode() == ROTATED
    rendered_daemon = yaml.safe_load(daemon_file.read_text())
    annotations = rendered_daemon["spec"]["template"]["metadata"]["annotations"]
    old_daemon = yaml.safe_load(daemon_before.decode())["spec"]["template"]["metadata"]
    assert annotations[naming.CONFIG_CHECKSUM] != old_daemon["annotations"][naming.CONFIG_CHECKSUM]
    # The deployed settings' digests name the rotated key (not a secret: of its sealed value).
    digests = json.loads(
        project.pulumi("stack", "output", "settingsDigest", "--stack", STACK, "--json").out
    )
    assert [k for k in digests if digests[k] != digests_before.get(k)] == [
        "hecate:apiKeys.OPENAI_API_KEY"
    ]

    # No leak: the plaintext is in no rendered file, no state in the clear, no command's output.
    state = project.pulumi("stack", "export", "--stack", STACK).out
    rendered = "".join(p.read_text() for p in (project.path / "gitops").rglob("*.yaml"))
    outputs = project.pulumi("stack", "output", "--stack", STACK, "--json").out
    for canary in (CANARY, ROTATED, KUBESEAL_VALUE):
        assert canary not in state
        assert canary not in rendered
        assert canary not in outputs
        assert not any(canary in text for text in logs)
    # The config holds it only encrypted, as a Pulumi secret.
    stack_file = (project.path / f"Pulumi.{STACK}.yaml").read_text()
    assert ROTATED not in stack_file and "secure:" in stack_file
