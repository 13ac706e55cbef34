"""`python -m hecate verify --stack beam`: was each sealed value sealed for this stack?

For each value of hecate-secrets, tells whether it was sealed for the stack's
certificate (hecate:sealingCert) and scope (hecate:sealingScope):
- values the program sealed (hecate:apiKeys): the state records the certificate
  fingerprint and scope each was sealed for, so no private key is needed;
- values sealed beforehand with kubeseal (hecate:sealedSecrets): RSA-OAEP hides
  which key and label were used, so without the private key only the key size
  can be checked; with --private-key each is unsealed under the stack's scope.

The settings are parsed as the program parses them, and the state is read as `make up`
configures pulumi. Exit status: 0 verified, 1 a mismatch, 2 could not check (no stack file,
invalid settings, an unreadable state or private key, or a key not sealed yet).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import naming, sealing, settings
from .project import Project
from .settings import Settings
from .table import print_table

OK, MISMATCH, UNVERIFIED, NOT_SEALED = "ok", "MISMATCH", "unverified", "not-sealed"


@dataclass(frozen=True)
class Verdict:
    HEADERS: ClassVar[tuple[str, ...]] = ("key", "source", "status", "detail")
    key: str
    source: str  # "kubeseal" (hecate:sealedSecrets) or "program" (hecate:apiKeys)
    status: str
    detail: str

    def cells(self) -> tuple[str, ...]:
        return (self.key, self.source, self.status, self.detail)


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


def _with_private_key(
    key: str, source: str, sealed: str, scope: str, private_key: rsa.RSAPrivateKey
) -> Verdict:
    found = _unsealed_scope(private_key, sealed)
    if found == scope:
        return Verdict(key, source, OK, f"unseals with the private key under scope {scope}")
    if found is not None:
        return Verdict(
            key, source, MISMATCH, f"sealed for scope {found}, but the stack's scope is {scope}"
        )
    return Verdict(
        key,
        source,
        MISMATCH,
        "does not unseal with this cluster's private key: sealed for another cluster",
    )


def sealed_by_program(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The SealedValue outputs recorded in an exported stack state, by key name."""
    if not state:
        return {}
    found = {}
    for resource in state.get("deployment", {}).get("resources", []) or []:
        urn = resource.get("urn", "")
        if (
            resource.get("type") == "pulumi-python:dynamic:Resource"
            and "hecate:index:SealedSecrets" in urn
        ):
            found[urn.rsplit("::", 1)[-1]] = resource.get("outputs", {})
    return found


def verify(
    stack: Settings,
    state: dict[str, Any] | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
) -> list[Verdict]:
    """Verdicts for every sealed value of a stack."""
    scope = stack.sealing_scope
    if not stack.sealing_cert:
        return [
            Verdict(k, s, UNVERIFIED, "hecate:sealingCert is not set: nothing to verify against")
            for s, keys in (("kubeseal", stack.sealed_secrets), ("program", stack.api_keys))
            for k in sorted(keys)
        ]
    certificate = sealing.load_certificate(stack.sealing_cert)
    public_key = sealing.public_key(certificate)
    if (
        private_key is not None
        and private_key.public_key().public_numbers() != public_key.public_numbers()
    ):
        raise ValueError("the private key does not belong to the certificate in hecate:sealingCert")
    fingerprint = sealing.fingerprint(certificate)

    verdicts = []
    for key, sealed in sorted(stack.sealed_secrets.items()):
        if not sealing.fits_key(sealed, public_key):
            verdicts.append(
                Verdict(
                    key,
                    "kubeseal",
                    MISMATCH,
                    f"not sealed for a {public_key.key_size}-bit key like this certificate's",
                )
            )
        elif private_key is not None:
            verdicts.append(_with_private_key(key, "kubeseal", sealed, scope, private_key))
        else:
            verdicts.append(
                Verdict(
                    key,
                    "kubeseal",
                    UNVERIFIED,
                    "fits this certificate's key size; only --private-key can tell "
                    "the certificate and the scope",
                )
            )

    recorded = sealed_by_program(state)
    for key in sorted(stack.api_keys):
        outputs = recorded.get(key)
        if outputs is None:
            verdicts.append(
                Verdict(
                    key,
                    "program",
                    NOT_SEALED,
                    "not in the stack's state: run `make up` for this stack",
                )
            )
            continue
        differences = [
            f"{what} {outputs.get(what)!r}, the stack's is {expected!r}"
            for what, expected in (
                ("fingerprint", fingerprint),
                ("scope", scope),
                ("namespace", naming.NAMESPACE),
                ("name", naming.SECRET),
            )
            if outputs.get(what) != expected
        ]
        if differences:
            verdicts.append(
                Verdict(
                    key,
                    "program",
                    MISMATCH,
                    "sealed for " + "; ".join(differences) + ": the next `pulumi up` re-seals it",
                )
            )
        elif private_key is not None:
            verdicts.append(
                _with_private_key(key, "program", outputs["ciphertext"], scope, private_key)
            )
        else:
            verdicts.append(
                Verdict(
                    key,
                    "program",
                    OK,
                    f"sealed for certificate sha256:{fingerprint[:16]}… and scope {scope}",
                )
            )
    return verdicts


def _export_state(project: Project, stack: str) -> dict[str, Any]:
    env = project.env()
    try:
        done = subprocess.run(
            ["pulumi", "stack", "export", "--stack", stack, "--non-interactive"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CannotCheck(f"could not run pulumi: {error}") from None
    if done.returncode != 0:
        raise CannotCheck(
            f"could not read the state of stack {stack!r} from {env['PULUMI_BACKEND_URL']}: "
            f"{(done.stderr or done.stdout).strip()}\nverify reads it as `make up` does: "
            "set PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE as for `make up`, "
            "or pass --state with a `pulumi stack export`"
        )
    return json.loads(done.stdout)


class CannotCheck(Exception):
    """Something verify needs is missing or unreadable: exit 2, never a verdict."""


def _private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except TypeError:
        raise CannotCheck(
            f"{path} is encrypted; decrypt it first "
            "(`openssl pkey -in KEY -out plain.key`), and delete the copy afterwards"
        ) from None
    except ValueError as error:
        raise CannotCheck(f"{path} is not a PEM private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CannotCheck(f"{path} is not an RSA private key")
    return key


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="hecate verify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 verified, 1 a mismatch, 2 could not check",
    )
    command.add_argument(
        "--stack", required=True, help="the stack whose sealed values to check, e.g. beam"
    )
    command.add_argument(
        "--private-key",
        type=Path,
        help="the controller's private key (PEM), for what the public certificate cannot tell",
    )
    command.add_argument(
        "--state",
        type=Path,
        help="an exported state (`pulumi stack export`) instead of asking pulumi",
    )
    command.add_argument(
        "--root", type=Path, default=Path.cwd(), help="the project directory (default: .)"
    )
    return command


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)

    try:
        try:
            project = Project(args.root)
            stack = project.settings(args.stack)
        except settings.ConfigError as error:
            raise CannotCheck(str(error)) from None
        except yaml.YAMLError as error:
            raise CannotCheck(f"Pulumi.{args.stack}.yaml is not valid YAML: {error}") from None
        private_key = _private_key(args.private_key) if args.private_key else None
        state = None
        if stack.api_keys:
            state = (
                json.loads(args.state.read_text())
                if args.state
                else _export_state(project, args.stack)
            )
        verdicts = verify(stack, state, private_key)
    except (CannotCheck, OSError, ValueError, sealing.CertificateError) as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2

    if not verdicts:
        print(
            f"stack {args.stack}: no sealed values "
            "(hecate:sealedSecrets and hecate:apiKeys are unset)"
        )
    else:
        print_table(f"hecate verify {args.stack}", verdicts, sys.stdout)
    if any(v.status == MISMATCH for v in verdicts):
        return 1
    return 2 if any(v.status == NOT_SEALED for v in verdicts) else 0
