"""`python -m hecate verify --stack beam`: was each sealed value sealed for this stack?

For each value of hecate-secrets, tells whether it was sealed for the stack's
certificate (hecate:sealingCert) and scope (hecate:sealingScope):
- values the program sealed (hecate:apiKeys): the state records the certificate
  fingerprint and scope each was sealed for, so no private key is needed;
- values sealed beforehand with kubeseal (hecate:sealedSecrets): RSA-OAEP hides
  which key and label were used, so without the private key only the key size
  can be checked; with --private-key each is unsealed under the stack's scope.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import naming, sealing, stack_files

OK, MISMATCH, UNVERIFIED = "ok", "MISMATCH", "unverified"


@dataclass(frozen=True)
class Verdict:
    key: str
    source: str  # "kubeseal" (hecate:sealedSecrets) or "program" (hecate:apiKeys)
    status: str
    detail: str


def _label(scope: str) -> bytes:
    return sealing.label(scope, naming.NAMESPACE, naming.SECRET)


def _unsealed_scope(private_key: rsa.RSAPrivateKey, sealed: str) -> str | None:
    """The scope under which `sealed` opens with this key, if any."""
    for scope in sealing.SCOPES:
        try:
            sealing.unseal(private_key, sealed, _label(scope))
            return scope
        except ValueError:
            continue
    return None


def _with_private_key(key: str, source: str, sealed: str, scope: str, private_key: rsa.RSAPrivateKey) -> Verdict:
    found = _unsealed_scope(private_key, sealed)
    if found == scope:
        return Verdict(key, source, OK, f"unseals with the private key under scope {scope}")
    if found is not None:
        return Verdict(key, source, MISMATCH, f"sealed for scope {found}, but the stack's scope is {scope}")
    return Verdict(key, source, MISMATCH, "does not unseal with this cluster's private key: sealed for another cluster")


def sealed_by_program(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The SealedValue outputs recorded in an exported stack state, by key name."""
    if not state:
        return {}
    found = {}
    for resource in state.get("deployment", {}).get("resources", []) or []:
        urn = resource.get("urn", "")
        if resource.get("type") == "pulumi-python:dynamic:Resource" and "hecate:index:SealedSecrets" in urn:
            found[urn.rsplit("::", 1)[-1]] = resource.get("outputs", {})
    return found


def verify(config: dict[str, Any], state: dict[str, Any] | None = None,
           private_key: rsa.RSAPrivateKey | None = None) -> list[Verdict]:
    """Verdicts for every sealed value of a stack, given its merged config."""
    cert_pem = config.get("hecate:sealingCert")
    scope = config.get("hecate:sealingScope", "strict")
    pre_sealed = config.get("hecate:sealedSecrets") or {}
    api_keys = config.get("hecate:apiKeys") or {}
    if not cert_pem:
        return [Verdict(k, s, UNVERIFIED, "hecate:sealingCert is not set: " + "nothing to verify against")
                for s, keys in (("kubeseal", pre_sealed), ("program", api_keys)) for k in sorted(keys)]
    certificate = sealing.load_certificate(cert_pem)
    public_key = certificate.public_key()
    if private_key is not None and private_key.public_key().public_numbers() != public_key.public_numbers():
        raise ValueError("the private key does not belong to the certificate in hecate:sealingCert")
    fingerprint = sealing.fingerprint(certificate)

    verdicts = []
    for key, sealed in sorted(pre_sealed.items()):
        if not sealing.fits_key(sealed, public_key):
            verdicts.append(Verdict(key, "kubeseal", MISMATCH,
                                    f"not sealed for a {public_key.key_size}-bit key like this certificate's"))
        elif private_key is not None:
            verdicts.append(_with_private_key(key, "kubeseal", sealed, scope, private_key))
        else:
            verdicts.append(Verdict(key, "kubeseal", UNVERIFIED,
                                    "fits this certificate's key size; only --private-key can tell "
                                    "the certificate and the scope"))

    recorded = sealed_by_program(state)
    for key in sorted(api_keys):
        outputs = recorded.get(key)
        if outputs is None:
            verdicts.append(Verdict(key, "program", UNVERIFIED, "not sealed yet: run `pulumi up` for this stack"))
            continue
        differences = [
            f"{what} {outputs.get(what)!r}, the stack's is {expected!r}"
            for what, expected in (("fingerprint", fingerprint), ("scope", scope),
                                   ("namespace", naming.NAMESPACE), ("name", naming.SECRET))
            if outputs.get(what) != expected
        ]
        if differences:
            verdicts.append(Verdict(key, "program", MISMATCH,
                                    "sealed for " + "; ".join(differences) + ": the next `pulumi up` re-seals it"))
        elif private_key is not None:
            verdicts.append(_with_private_key(key, "program", outputs["ciphertext"], scope, private_key))
        else:
            verdicts.append(Verdict(key, "program", OK,
                                    f"sealed for certificate sha256:{fingerprint[:16]}… and scope {scope}"))
    return verdicts


def _export_state(root: Path, stack: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        done = subprocess.run(["pulumi", "stack", "export", "--stack", stack, "--non-interactive"],
                              cwd=root, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    if done.returncode != 0:
        return None, done.stderr.strip() or done.stdout.strip()
    return json.loads(done.stdout), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hecate verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the stack whose sealed values to check, e.g. beam")
    parser.add_argument("--private-key", type=Path,
                        help="the controller's private key (PEM), for what the public certificate cannot tell")
    parser.add_argument("--state", type=Path, help="an exported state (`pulumi stack export`) instead of asking pulumi")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the project directory (default: .)")
    args = parser.parse_args(argv)

    try:
        config = stack_files.stack_config(args.root, args.stack)
        private_key = None
        if args.private_key:
            private_key = serialization.load_pem_private_key(args.private_key.read_bytes(), password=None)
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError(f"{args.private_key} is not an RSA private key")
        state, why = None, None
        if config.get("hecate:apiKeys"):
            if args.state:
                state = json.loads(args.state.read_text())
            else:
                state, why = _export_state(args.root, args.stack)
        verdicts = verify(config, state, private_key)
    except (OSError, ValueError, sealing.CertificateError) as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2

    if why:
        print(f"note: could not read the stack's state ({why}); program-sealed keys are unverified", file=sys.stderr)
    if not verdicts:
        print(f"stack {args.stack}: no sealed values (hecate:sealedSecrets and hecate:apiKeys are unset)")
    width = max((len(v.key) for v in verdicts), default=0)
    for v in verdicts:
        print(f"{v.key:{width}}  {v.source:8}  {v.status:10}  {v.detail}")
    return 1 if any(v.status == MISMATCH for v in verdicts) else 0
