"""Sealing values the way kubeseal does, for a sealed-secrets controller to open.

The format is the controller's: the value is encrypted with AES-256-GCM under a
fresh session key (zero nonce: the key is used once), the session key with
RSA-OAEP(SHA-256) under the controller's public key, and the two joined as
  uint16 big-endian len(rsa ciphertext) || rsa ciphertext || aes-gcm ciphertext+tag
then base64-encoded. The OAEP label binds the value to where it may be unsealed:
"<namespace>/<name>" (strict), "<namespace>" (namespace-wide) or "" (cluster-wide).
"""

from __future__ import annotations

import base64
import datetime
import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

# cryptography is imported where it is used: most stacks seal nothing, and
# importing it costs more than evaluating the whole program.

SCOPES = ("strict", "namespace-wide", "cluster-wide")
MIN_KEY_BITS = 2048
_ANNOTATION_PREFIX = "sealedsecrets.bitnami.com/"


class CertificateError(ValueError):
    pass


def scope_annotations(scope: str) -> dict[str, str]:
    """The annotations from which the controller learns a SealedSecret's scope."""
    return {f"{_ANNOTATION_PREFIX}{scope}": "true"} if scope != "strict" else {}


def label(scope: str, namespace: str, name: str) -> bytes:
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def load_certificate(pem: str, now: datetime.datetime | None = None) -> x509.Certificate:
    """The controller's certificate, refused unless it is usable for sealing."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CertificateError(
            "is not a PEM certificate (what `kubeseal --fetch-cert` prints)"
        ) from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError("does not hold an RSA public key")
    if key.key_size < MIN_KEY_BITS:
        raise CertificateError(
            f"holds a {key.key_size}-bit RSA key; at least {MIN_KEY_BITS} bits are required"
        )
    now = now or datetime.datetime.now(datetime.UTC)
    if certificate.not_valid_after_utc < now:
        raise CertificateError(
            f"expired on {certificate.not_valid_after_utc:%Y-%m-%d}; "
            "fetch the controller's current one"
        )
    return certificate


def public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    """The RSA key of a certificate that load_certificate accepted."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError("does not hold an RSA public key")
    return key


def fingerprint(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return certificate.fingerprint(hashes.SHA256()).hex()


def _oaep(label_: bytes) -> padding.OAEP:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label_)


def seal(public_key: rsa.RSAPublicKey, plaintext: bytes, label_: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = os.urandom(32)
    wrapped = public_key.encrypt(session_key, _oaep(label_))
    sealed = AESGCM(session_key).encrypt(b"\0" * 12, plaintext, None)
    return base64.b64encode(struct.pack(">H", len(wrapped)) + wrapped + sealed).decode()


def _split(sealed: str) -> tuple[bytes, bytes]:
    raw = base64.b64decode(sealed, validate=True)
    if len(raw) < 2:
        raise ValueError("too short to be a sealed value")
    (length,) = struct.unpack(">H", raw[:2])
    if len(raw) < 2 + length + 16:
        raise ValueError("too short to be a sealed value")
    return raw[2 : 2 + length], raw[2 + length :]


def fits_key(sealed: str, public_key: rsa.RSAPublicKey) -> bool:
    """What can be told without the private key: the value wraps its session key
    for an RSA key of this size. (Which key and which scope, only the private key tells.)"""
    try:
        wrapped, _ = _split(sealed)
    except ValueError:
        return False
    return len(wrapped) == (public_key.key_size + 7) // 8


def unseal(private_key: rsa.RSAPrivateKey, sealed: str, label_: bytes) -> bytes:
    """The plaintext, if `sealed` was sealed for this key under this label; ValueError otherwise."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    wrapped, body = _split(sealed)
    try:
        session_key = private_key.decrypt(wrapped, _oaep(label_))
        return AESGCM(session_key).decrypt(b"\0" * 12, body, None)
    except (ValueError, InvalidTag):
        raise ValueError("does not unseal with this key under this scope") from None
