"""The sealing dynamic provider: seal once, keep the ciphertext until an input changes."""

from __future__ import annotations

from hecate import sealing
from hecate.sealed_value import SealingProvider
from testbed import certs

LABEL = ("hecate", "hecate-secrets")


def props(plaintext="sk-canary-1", cert=None, scope="strict"):
    return {
        "plaintext": plaintext,
        "certificate": cert or certs.controller()[0],
        "scope": scope,
        "namespace": LABEL[0],
        "name": LABEL[1],
    }


def test_create_seals_for_the_controller():
    created = SealingProvider().create(props())
    _, key = certs.controller()
    assert (
        sealing.unseal(key, created.outs["ciphertext"], b"hecate/hecate-secrets") == b"sk-canary-1"
    )
    assert created.outs["fingerprint"] == sealing.fingerprint(
        sealing.load_certificate(certs.controller()[0])
    )
    assert "sk-canary-1" not in repr(created.outs) and "sk-canary-1" not in created.id


def test_unchanged_inputs_are_no_change():
    provider = SealingProvider()
    outs = provider.create(props()).outs
    assert provider.diff("id", outs, props()).changes is False


def test_a_changed_value_certificate_or_scope_reseals():
    provider = SealingProvider()
    outs = provider.create(props()).outs
    assert provider.diff("id", outs, props(plaintext="sk-rotated")).changes is True
    assert provider.diff("id", outs, props(cert=certs.controller(1)[0])).changes is True
    assert provider.diff("id", outs, props(scope="cluster-wide")).changes is True


def test_update_reseals_under_the_new_inputs():
    provider = SealingProvider()
    outs = provider.create(props()).outs
    updated = provider.update(
        "id", outs, props(plaintext="sk-rotated", scope="namespace-wide")
    ).outs
    _, key = certs.controller()
    assert sealing.unseal(key, updated["ciphertext"], b"hecate") == b"sk-rotated"
    assert updated["scope"] == "namespace-wide"
    assert (
        provider.diff("id", updated, props(plaintext="sk-rotated", scope="namespace-wide")).changes
        is False
    )
