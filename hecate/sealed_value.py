"""One API key, sealed by the program for one cluster's sealed-secrets controller.

Why a dynamic provider: sealing is randomized (a fresh session key and OAEP
padding each time), so sealing inside the program would change the ciphertext
on every preview. This resource seals once and keeps the ciphertext in state;
it seals again only when the value, the certificate or the scope changes.

To tell whether the value changed without keeping it readable in the outputs,
the outputs hold an HMAC-SHA256 of it under a random per-resource key, marked
secret (so the engine encrypts it in state). The plaintext itself is an input,
a Pulumi secret, and appears nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from . import sealing

# Outputs that say which certificate and scope a value was sealed for (read by `verify`).
SEALED_FOR = ("fingerprint", "scope", "namespace", "name")


def _digest(key_hex: str, plaintext: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), plaintext.encode(), hashlib.sha256).hexdigest()


class SealingProvider(ResourceProvider):
    def _seal(self, props: dict[str, Any], digest_key: str | None = None) -> dict[str, Any]:
        certificate = sealing.load_certificate(props["certificate"])
        digest_key = digest_key or os.urandom(32).hex()
        return {
            "ciphertext": sealing.seal(
                sealing.public_key(certificate),
                props["plaintext"].encode(),
                sealing.label(props["scope"], props["namespace"], props["name"]),
            ),
            "fingerprint": sealing.fingerprint(certificate),
            "scope": props["scope"],
            "namespace": props["namespace"],
            "name": props["name"],
            "digestKey": digest_key,
            "digest": _digest(digest_key, props["plaintext"]),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._seal(props)
        return CreateResult(id_=outs["fingerprint"][:16] + "-" + outs["digest"][:16], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = []
        if _digest(olds["digestKey"], news["plaintext"]) != olds["digest"]:
            changed.append("plaintext")
        try:
            if (
                sealing.fingerprint(sealing.load_certificate(news["certificate"]))
                != olds["fingerprint"]
            ):
                changed.append("certificate")
        except sealing.CertificateError:
            changed.append("certificate")
        changed += [key for key in ("scope", "namespace", "name") if news[key] != olds[key]]
        return DiffResult(
            changes=bool(changed), replaces=[], stables=[], delete_before_replace=False
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._seal(news, olds["digestKey"]))


class SealedValue(pulumi.dynamic.Resource):
    """`ciphertext` is the value sealed for the SealedSecret `namespace/name`."""

    ciphertext: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        plaintext: pulumi.Input[str],
        certificate: str,
        scope: str,
        namespace: str,
        name: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "plaintext": pulumi.Output.secret(plaintext),
            "certificate": certificate,
            "scope": scope,
            "namespace": namespace,
            "name": name,
            "ciphertext": None,
            "fingerprint": None,
            "digestKey": None,
            "digest": None,
        }
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=["plaintext", "digest", "digestKey"]),
        )
        super().__init__(SealingProvider(), resource_name, props, opts)
