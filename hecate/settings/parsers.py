"""The parsers of setting values, one per shape: each checks a raw config value, reports what
is wrong to `Problems` (naming the key, the value and what is allowed, never a secret's value)
and returns the typed value, or None. `setting(...)` declares a field of the table with its
parser."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from .. import grammars, sealing
from ..grammars import (
    is_dns_subdomain,
    is_flux_duration,
)
from .values import (
    MAX_API_KEY_BYTES,
    MAX_SEALED_BYTES,
    MUTABLE_TAGS,
    NAMESPACE,
    GitSource,
    SecretText,
)

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)


class Problems:
    """What is wrong so far; values of secret keys are never shown."""

    def __init__(self, secret_names: frozenset[str]) -> None:
        self.items: list[str] = []
        self.secret_names = secret_names

    def add(self, name: str, value: Any, allowed: str) -> None:
        self.items.append(f"{name}: {self.show(name, value)} {allowed}")

    def note(self, name: str, text: str) -> None:
        self.items.append(f"{name}: {text}")

    def show(self, name: str, value: Any) -> str:
        if re.split(r"[.\[]", name, maxsplit=1)[0] in self.secret_names:  # the setting's own key
            return "(a secret value)"
        if isinstance(value, str):
            return repr(value)
        return json.dumps(value, sort_keys=True)


def member(name: str, key: str) -> str:
    """How a problem names an object's member: `hecate:env.NAME`, or `hecate:env['\\n']` for a key
    that would not read back as itself (blank, padded, unprintable)."""
    plain = key and key.isprintable() and key.strip() == key
    return f"{name}.{key}" if plain else f"{name}[{key!r}]"


# A parser turns a config value into the setting's value, or records why not (and returns None).
Parser = Callable[[Any, str, Problems], Any]
REQUIRED = object()


@dataclass(frozen=True)
class Setting:
    namespace: str
    key: str
    type: str  # as Pulumi.yaml's `config:` block types it; "object" and "any" stay untyped there
    description: str
    parse: Parser
    default: Any  # the raw config value used when the key is unset, as a stack file would write it

    @property
    def name(self) -> str:
        return f"{self.namespace}:{self.key}"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def setting(
    key: str,
    type: str,
    description: str,
    parse: Parser,
    default: Any = REQUIRED,
    namespace: str = NAMESPACE,
) -> Any:
    """A field of Settings and the config key it is read from, declared together."""
    return field(metadata={"setting": Setting(namespace, key, type, description, parse, default)})


# --- Parsers -----------------------------------------------------------------------------


def decode(value: Any, name: str, problems: Problems, shape: str) -> Any:
    """Structured config arrives as JSON text from the engine; accept either."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        problems.add(name, value, f"is not {shape}")
        return None


def object_of(
    value: Any,
    name: str,
    problems: Problems,
    shape: str,
    allowed_keys: tuple[str, ...] | None = None,
):
    value = decode(value, name, problems, shape)
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(name, value, f"is not {shape}")
        return None
    allowed = ", ".join(allowed_keys or ())
    for extra in sorted(set(value) - set(allowed_keys)) if allowed_keys else ():
        problems.add(f"{name}.{extra}", value[extra], f"is not a known field (allowed: {allowed})")
    return value


def list_of(value: Any, name: str, problems: Problems, shape: str) -> list[Any]:
    """A list setting's items ([] when it is not a list, which is reported)."""
    value = decode(value, name, problems, shape)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(name, value, f"is not {shape}")
        return []
    return value


def text(check: Callable[[str], bool], allowed: str) -> Parser:
    def parse(value: Any, name: str, problems: Problems) -> str | None:
        if not isinstance(value, str) or not check(value):
            problems.add(name, value, allowed)
            return None
        return value

    return parse


_flux_duration = text(is_flux_duration, "is not a Flux duration such as 30s, 1m or 1h30m")


def one_of(choices: tuple[str, ...]) -> Parser:
    return text(lambda s: s in choices, f"is not one of {', '.join(choices)}")


def optional_text(value: Any, name: str, problems: Problems) -> str | None:
    if value in (None, ""):
        return None
    return text(grammars.is_plain_text, "is not a non-empty, printable string")(
        value, name, problems
    )


def credential_free(parse: Parser, where: str) -> Parser:
    """A URL setting that refuses a credential in the URL, which would be rendered in clear:
    any password, and any user but ssh's (`ssh://git@host/...`, Flux's usual form). The
    message names where the credential belongs and never shows it."""

    def check(value: Any, name: str, problems: Problems) -> Any:
        found = grammars.userinfo(value) if isinstance(value, str) else None
        if found and (found[1] or not value.lower().startswith("ssh://")):
            scheme, _, rest = value.partition("://")
            masked = f"{scheme}://***@{rest.rpartition('@')[2]}"
            problems.note(
                name,
                f"{masked!r} holds a credential (a user or password), which would be rendered "
                f"in clear; {where}",
            )
            return None
        return parse(value, name, problems)

    return check


def parse_version(value: Any, name: str, problems: Problems) -> str | None:
    if isinstance(value, str) and value.lower() in MUTABLE_TAGS:
        problems.add(name, value, "is a mutable tag; pin a release version such as 0.7.2")
        return None
    return text(
        grammars.is_release_version,
        "is not a release version such as 0.7.2 (or 0.8.0-rc.1) of at most 63 characters, "
        "ending in a letter or digit (it is an image tag and a label value)",
    )(value, name, problems)


def parse_max_unavailable(value: Any, name: str, problems: Problems) -> int | str | None:
    allowed = "is not a positive number of nodes or a percentage 1%-100%"
    if isinstance(value, int) and not isinstance(value, bool):
        value_text = str(value)
    elif isinstance(value, str):
        value_text = value  # as written: the DaemonSet gets exactly this
    else:
        problems.add(name, value, allowed)
        return None
    # No leading zero, no sign, no blank: `01` would be read as another text than was written.
    if re.fullmatch(r"[1-9][0-9]{0,8}", value_text, re.ASCII):
        return int(value_text)
    if re.fullmatch(r"[1-9][0-9]?%|100%", value_text, re.ASCII):
        return value_text
    problems.add(name, value, allowed)
    return None


def parse_boolean(value: Any, name: str, problems: Problems) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.add(name, value, "is not true or false")
    return None


def parse_gitops(value: Any, name: str, problems: Problems) -> GitSource | None:
    if value in (None, {}, "{}"):
        return None  # required for gitops delivery: checked with the delivery
    value = object_of(
        value,
        name,
        problems,
        "an object {url, branch, interval, secretRef}",
        ("url", "branch", "interval", "secretRef"),
    )
    if value is None:
        return None
    url = credential_free(
        text(
            grammars.is_repository_url,
            "is not an ssh:// or https:// repository URL with a path and no query or fragment "
            "(http:// only on a loopback host)",
        ),
        "give Flux its credentials in a Secret of flux-system named by hecate:gitops.secretRef",
    )(value.get("url"), f"{name}.url", problems)
    branch = text(grammars.is_branch, "is not a valid git branch name (git check-ref-format)")(
        value.get("branch", "main"), f"{name}.branch", problems
    )
    interval = _flux_duration(value.get("interval", "1m"), f"{name}.interval", problems)
    secret_ref = value.get("secretRef") or None  # "" in a stack file: no secret
    if secret_ref is not None:
        secret_ref = text(
            is_dns_subdomain,
            "is not a Secret name (a DNS-1123 subdomain)",
        )(secret_ref, f"{name}.secretRef", problems)
    if url is None or branch is None or interval is None:
        return None
    return GitSource(url=url, branch=branch, interval=interval, secret_ref=secret_ref)


def env_map(value: Any, name: str, problems: Problems, shape: str) -> dict[str, Any]:
    """An object keyed by environment-variable names; its values are never shown."""
    value = object_of(
        value, name, problems, f"an object mapping environment-variable names to {shape}"
    )
    valid = {}
    for key, item in sorted((value or {}).items()):
        if not grammars.is_env_name(key):
            problems.note(
                member(name, key),
                "is not a valid environment-variable name ([A-Za-z_][A-Za-z0-9_]*)",
            )
        else:
            valid[key] = item
    return valid


def parse_sealed_secrets(value: Any, name: str, problems: Problems) -> Mapping[str, str]:
    sealed = {}
    for key, ciphertext in env_map(value, name, problems, "values sealed with kubeseal").items():
        # RSA-2048 alone is 256 bytes, 344 base64 characters: anything shorter was not sealed.
        if (
            not isinstance(ciphertext, str)
            or not _BASE64.fullmatch(ciphertext)
            or len(ciphertext) < 344
        ):
            problems.note(
                member(name, key),
                "is not a kubeseal-sealed value (base64 of at least 256 bytes); "
                "seal it with `kubeseal --raw` or set it in hecate:apiKeys",
            )
        elif len(ciphertext) > MAX_SEALED_BYTES:
            problems.note(
                member(name, key),
                f"is {len(ciphertext)} bytes; a sealed value is at most {MAX_SEALED_BYTES}",
            )
        else:
            sealed[key] = ciphertext
    return MappingProxyType(sealed)


def parse_api_keys(value: Any, name: str, problems: Problems) -> Mapping[str, SecretText]:
    keys = {}
    for key, plaintext in env_map(value, name, problems, "API keys").items():
        if not isinstance(plaintext, str) or not plaintext:
            problems.note(member(name, key), "is not a non-empty string")
        elif not grammars.is_environment_value(plaintext):
            problems.note(
                member(name, key), "holds a NUL character, which no environment can carry"
            )
        elif len(plaintext.encode()) > MAX_API_KEY_BYTES:
            problems.note(
                member(name, key),
                f"is {len(plaintext.encode())} bytes; an API key is at most "
                f"{MAX_API_KEY_BYTES} (is this the key, or a file?)",
            )
        else:
            keys[key] = SecretText(plaintext)
    return MappingProxyType(keys)


def parse_optional_duration(value: Any, name: str, problems: Problems) -> str | None:
    return None if value in (None, "") else _flux_duration(value, name, problems)


def parse_certificate(value: Any, name: str, problems: Problems) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        problems.add(name, value, "is not a PEM certificate (what `kubeseal --fetch-cert` prints)")
        return None
    try:
        sealing.load_certificate(value)
    except sealing.CertificateError as error:
        problems.add(name, value[:40] + "...", str(error))
        return None
    return value


def parse_gitops_dir(value: Any, name: str, problems: Problems) -> str | None:
    return text(
        lambda s: (
            grammars.is_plain_text(s)
            and ".." not in PurePosixPath(s).parts
            and PurePosixPath(s) != PurePosixPath("/")
        ),
        "is not a directory path (printable, relative to the project or absolute, without "
        "'..', not the filesystem root)",
    )(value, name, problems)


def parse_optional_dns_subdomain(value: Any, name: str, problems: Problems) -> str | None:
    if value in (None, ""):
        return None
    return text(
        is_dns_subdomain,
        "is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)",
    )(value, name, problems)
