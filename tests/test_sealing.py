"""The sealing format: what the sealed-secrets controller decrypts."""

from __future__ import annotations

import base64
import struct

import pytest

from hecate import sealing
from testbed import certs


def test_round_trip_under_each_scope():
    pem, key = certs.controller()
    public = sealing.load_certificate(pem).public_key()
    for scope in sealing.SCOPES:
        label = sealing.label(scope, "hecate", "hecate-secrets")
        sealed = sealing.seal(public, b"sk-canary", label)
        assert sealing.unseal(key, sealed, label) == b"sk-canary"


def test_labels_bind_the_value_to_its_scope():
    assert sealing.label("strict", "hecate", "hecate-secrets") == b"hecate/hecate-secrets"
    assert sealing.label("namespace-wide", "hecate", "hecate-secrets") == b"hecate"
    assert sealing.label("cluster-wide", "hecate", "hecate-secrets") == b""
    pem, key = certs.controller()
    sealed = sealing.seal(
        sealing.load_certificate(pem).public_key(), b"v", b"hecate/hecate-secrets"
    )
    for other in (b"hecate", b"", b"hecate/other"):
        with pytest.raises(ValueError):
            sealing.unseal(key, sealed, other)


def test_layout_is_length_prefixed_rsa_then_aes_gcm():
    pem, _ = certs.controller()
    raw = base64.b64decode(sealing.seal(sealing.load_certificate(pem).public_key(), b"12345", b""))
    (length,) = struct.unpack(">H", raw[:2])
    assert length == 256  # RSA-2048 ciphertext
    assert len(raw) == 2 + 256 + 5 + 16  # the value plus the GCM tag


def test_sealing_is_randomized():
    pem, _ = certs.controller()
    public = sealing.load_certificate(pem).public_key()
    assert sealing.seal(public, b"same", b"") != sealing.seal(public, b"same", b"")


def test_another_clusters_key_cannot_unseal():
    pem, _ = certs.controller(0)
    _, other_key = certs.controller(1)
    sealed = sealing.seal(sealing.load_certificate(pem).public_key(), b"v", b"")
    with pytest.raises(ValueError):
        sealing.unseal(other_key, sealed, b"")


def test_fits_key_checks_the_wrapped_key_size():
    pem, _ = certs.controller()
    public = sealing.load_certificate(pem).public_key()
    sealed = sealing.seal(public, b"v", b"")
    assert sealing.fits_key(sealed, public)
    big = sealing.load_certificate(certs.controller(2, bits=3072)[0]).public_key()
    assert not sealing.fits_key(sealed, big)
    assert not sealing.fits_key("not base64!", public)


@pytest.mark.parametrize(
    "case, message",
    [
        ("not PEM", "is not a PEM certificate"),
        ("EC key", "does not hold an RSA public key"),
        ("expired", "expired on"),
        ("1024-bit", "1024-bit RSA key; at least 2048 bits"),
    ],
)
def test_unusable_certificates_are_refused(case, message):
    with pytest.raises(sealing.CertificateError, match=message):
        sealing.load_certificate(certs.bad_certificates()[case])


def test_scope_annotations():
    assert sealing.scope_annotations("strict") == {}
    assert sealing.scope_annotations("namespace-wide") == {
        "sealedsecrets.bitnami.com/namespace-wide": "true"
    }
    assert sealing.scope_annotations("cluster-wide") == {
        "sealedsecrets.bitnami.com/cluster-wide": "true"
    }
