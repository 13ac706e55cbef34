"""hecate-secrets: present only when sealed values are configured, and only ciphertext."""

from __future__ import annotations

import json

import pytest

from hecate import sealing
from testbed import certs
from testbed.mocks import evaluate, is_secret, unsealed, unwrap_secret
from tests import schemas

SEALED_SECRET = "kubernetes:bitnami.com/v1alpha1:SealedSecret"
SEALED = {"OPENAI_API_KEY": "Ag" + "B" * 500, "ANTHROPIC_API_KEY": "Ag" + "C" * 500}


def test_no_sealed_secret_without_sealed_values(stack):
    evaluation = unsealed(stack)
    assert [r for r in evaluation.resources if r.type == SEALED_SECRET] == []
    # The daemon still starts: its secretRef is optional, as in the guide.
    container = evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon").manifest["spec"][
        "template"
    ]["spec"]["containers"][0]
    assert {"secretRef": {"name": "hecate-secrets", "optional": True}} in container["envFrom"]


def test_sealed_values_become_the_sealed_secret(stack):
    evaluation = evaluate(stack, {"sealedSecrets": SEALED}, remove=["apiKeys"])
    assert evaluation.error is None, evaluation.error
    declared = evaluation.get(SEALED_SECRET, "hecate-secrets").manifest
    assert (
        declared["metadata"]["name"] == "hecate-secrets"
        and declared["metadata"]["namespace"] == "hecate"
    )
    assert declared["spec"]["encryptedData"] == SEALED
    template = declared["spec"]["template"]
    assert (
        template["metadata"]["name"] == "hecate-secrets"
        and template["metadata"]["namespace"] == "hecate"
    )
    assert template["type"] == "Opaque"
    # It goes where the daemon goes.
    sealed = evaluation.get(SEALED_SECRET, "hecate-secrets").file
    assert sealed == evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon").file.replace(
        "daemonset.yaml", "sealed-secret.yaml"
    )


CANARIES = {"OPENAI_API_KEY": "sk-canary-openai-7f3a", "ANTHROPIC_API_KEY": "sk-ant-canary-91c2"}


def with_api_keys(stack: str, scope: str | None = None, **extra):
    pem, key = certs.controller()
    overrides = {"apiKeys": CANARIES, "sealingCert": pem, **extra}
    if scope:
        overrides["sealingScope"] = scope
    evaluation = evaluate(stack, overrides, secrets=["apiKeys"])
    assert evaluation.error is None, evaluation.error
    return evaluation, key


@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_api_keys_are_sealed_for_the_controller_under_the_scope(stack, scope):
    evaluation, key = with_api_keys(stack, scope)
    declared = evaluation.get(SEALED_SECRET, "hecate-secrets").manifest
    encrypted = declared["spec"]["encryptedData"]
    assert set(encrypted) == set(CANARIES)
    label = sealing.label(scope, "hecate", "hecate-secrets")
    for name, value in CANARIES.items():
        assert sealing.unseal(key, encrypted[name], label).decode() == value
    expected = sealing.scope_annotations(scope)
    assert declared["metadata"].get("annotations", {}) == expected
    assert declared["spec"]["template"]["metadata"].get("annotations", {}) == expected
    assert schemas.problems(declared) == []


def test_pre_sealed_values_keep_working_beside_api_keys(stack):
    evaluation, _ = with_api_keys(
        stack, sealedSecrets={"MISTRAL_API_KEY": SEALED["OPENAI_API_KEY"]}
    )
    encrypted = evaluation.get(SEALED_SECRET, "hecate-secrets").manifest["spec"]["encryptedData"]
    assert set(encrypted) == {*CANARIES, "MISTRAL_API_KEY"}
    assert encrypted["MISTRAL_API_KEY"] == SEALED["OPENAI_API_KEY"]


def test_plaintext_is_nowhere_but_in_pulumi_secrets(stack):
    """Canary values: only ever inside a Pulumi secret; never in the clear in an input, an output
    or a log."""
    evaluation, _ = with_api_keys(stack)
    sealed_values = [r for r in evaluation.resources if r.type == "pulumi-python:dynamic:Resource"]
    assert {r.name for r in sealed_values} == set(CANARIES)
    for declared in sealed_values:
        assert is_secret(declared.inputs["plaintext"])
        assert unwrap_secret(declared.inputs["plaintext"]) == CANARIES[declared.name]
    for declared in evaluation.resources:
        clear = {k: v for k, v in declared.inputs.items() if not is_secret(v)}
        assert not any(c in json.dumps(clear, default=str) for c in CANARIES.values()), (
            declared.name
        )
    assert not any(c in json.dumps(evaluation.outputs) for c in CANARIES.values())
    assert not any(c in line for line in evaluation.logs for c in CANARIES.values())
