"""hecate-secrets: present only when sealed values are configured, and only ciphertext."""

from __future__ import annotations

from tests.harness import evaluate

SEALED_SECRET = "kubernetes:bitnami.com/v1alpha1:SealedSecret"
SEALED = {"OPENAI_API_KEY": "Ag" + "B" * 500, "ANTHROPIC_API_KEY": "Ag" + "C" * 500}


def test_no_sealed_secret_without_sealed_values(evaluation):
    assert [r for r in evaluation.resources if r.type == SEALED_SECRET] == []
    # The daemon still starts: its secretRef is optional, as in the guide.
    container = evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon").manifest["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "hecate-secrets", "optional": True}} in container["envFrom"]


def test_sealed_values_become_the_sealed_secret(stack):
    evaluation = evaluate(stack, {"sealedSecrets": SEALED})
    assert evaluation.error is None, evaluation.error
    declared = evaluation.get(SEALED_SECRET, "hecate-secrets").manifest
    assert declared["metadata"]["name"] == "hecate-secrets" and declared["metadata"]["namespace"] == "hecate"
    assert declared["spec"]["encryptedData"] == SEALED
    template = declared["spec"]["template"]
    assert template["metadata"]["name"] == "hecate-secrets" and template["metadata"]["namespace"] == "hecate"
    assert template["type"] == "Opaque"
    # It goes where the daemon goes.
    assert evaluation.provider_of(evaluation.get(SEALED_SECRET, "hecate-secrets")).name == \
        evaluation.provider_of(evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon")).name
