"""Throwaway sealed-secrets controller key pairs, made fresh by the tests (never committed)."""

from __future__ import annotations

import datetime
import ipaddress
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def certificate_pem(key, days: int = 3650, expired: bool = False, ip: str | None = None) -> str:
    """A self-signed certificate for `key`; with `ip`, valid for serving TLS on that address."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if expired
        else (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days))
    )
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealed-secret")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ip is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def controller(index: int = 0, bits: int = 2048) -> tuple[str, rsa.RSAPrivateKey]:
    """A controller's (certificate PEM, private key); `index` tells apart several clusters."""
    return _controller(index, bits)


@cache  # keyed on positional arguments alone, so every spelling of a call gets the same pair
def _controller(index: int, bits: int) -> tuple[str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return certificate_pem(key), key


@cache
def bad_certificates() -> dict[str, str]:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return {
        "not PEM": "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
        "EC key": certificate_pem(ec.generate_private_key(ec.SECP256R1())),
        "expired": certificate_pem(controller()[1], expired=True),
        "1024-bit": certificate_pem(small),
    }
