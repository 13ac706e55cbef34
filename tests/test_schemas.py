"""Every declared object is valid against the real schemas."""

from __future__ import annotations

import copy

from testbed.mocks import evaluate
from tests import schemas
from tests.test_sealed_secrets import SEALED


def test_every_declared_object_validates(evaluation):
    for declared in evaluation.kubernetes_objects():
        assert schemas.problems(declared.manifest) == [], declared.name


def test_every_object_validates_with_sealed_secrets_and_in_direct_delivery(stack):
    for overrides in ({"sealedSecrets": SEALED}, {"delivery": "direct"}):
        evaluation = evaluate(
            stack, overrides, remove=["apiKeys"] if "sealedSecrets" in overrides else []
        )
        assert evaluation.error is None, evaluation.error
        for declared in evaluation.kubernetes_objects():
            assert schemas.problems(declared.manifest) == [], (overrides, declared.name)


def test_the_validators_catch_what_they_should(evaluation):
    """Guard against a validator that accepts anything."""
    daemon = copy.deepcopy(evaluation.get("kubernetes:apps/v1:DaemonSet", "hecate-daemon").manifest)
    daemon["spec"]["template"]["spec"]["hostNetwrk"] = True
    assert schemas.problems(daemon) != []
    kustomization = copy.deepcopy(
        evaluation.get("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization", "hecate").manifest
    )
    kustomization["spec"]["prune"] = "yes"
    assert schemas.problems(kustomization) != []
    del kustomization["spec"]["sourceRef"]
    assert any("sourceRef" in p for p in schemas.problems(kustomization))
