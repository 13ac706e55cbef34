"""Stack settings: the config of one cluster stack, parsed once.

Every setting is declared once, as a field of `Settings`: its config key, type, default,
check and description (`setting(...)`). Everything else derives from that one table: the
parser, the list of known keys (an unknown key is refused as a typo), and, through `make
generate` (hecate/reference.py), Pulumi.yaml's `config:` block and docs/settings.md's table.
A bad stack never gets as far as
declaring a resource: `parse` reports every problem at once, each naming the key, the value
and what is allowed, and never shows any part of a value that is a Pulumi secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from . import grammars, sealing
from .grammars import (
    duration_seconds,
    is_dns_subdomain,
    is_flux_duration,
    is_label_key,
    is_label_value,
    parse_quantity,
)

NAMESPACE = "hecate"  # the project's config namespace, as in `hecate:version`
KUBERNETES = "kubernetes"  # the provider's, read for `direct` delivery

DEFAULT_IMAGE = "ghcr.io/hecate-social/hecate-daemon"
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
LOG_LEVELS = ("debug", "info", "warn", "error")
DELIVERIES = ("gitops", "direct")
MUTABLE_TAGS = ("latest", "stable", "main", "master", "edge", "nightly", "dev")
# Far above any real key, far below what a process's arguments or a Secret can carry.
MAX_API_KEY_BYTES = 16 * 1024
MAX_SEALED_BYTES = 64 * 1024

READINESS_CHECKS = ("health", "socket")
# The guide's delay and period; a health check that answers within 3 s, three misses in a row.
DEFAULT_READINESS = {
    "check": "health",
    "initialDelaySeconds": 5,
    "periodSeconds": 10,
    "timeoutSeconds": 3,
    "failureThreshold": 3,
}
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# What the program itself puts in hecate-config: hecate:env may not shadow it.
CONFIG_MAP_KEYS = {"OLLAMA_HOST": "hecate:ollamaHost", "HECATE_LOG_LEVEL": "hecate:logLevel"}
PATCH_FIELDS = ("target", "jsonPatch", "mergePatch")
# The one setting that takes Pulumi secrets: the program seals them, and only ciphertext is ever
# rendered. Every other setting is rendered in clear (a file of the gitops tree, hecate-config, a
# stack output), so a secret there would be a secret no longer.
TAKES_SECRETS = ("hecate:apiKeys",)
JSON_PATCH_OPS = ("add", "remove", "replace", "move", "copy", "test")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)


class ConfigError(ValueError):
    """Every problem found in a stack's configuration, reported together."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid hecate stack configuration (nothing was declared):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


class SecretText:
    """A plaintext secret (an API key) that never shows itself in a repr, log or message."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText(***)"


@dataclass(frozen=True)
class ComputeResources:
    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str


@dataclass(frozen=True)
class ReadinessProbe:
    """When a daemon pod counts as Ready: what the probe asks, and how often and how patiently."""

    check: str  # `health`: the daemon's /api/health answers; `socket`: the socket file exists
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class Toleration:
    """A pod toleration, as Kubernetes validates one (core/v1 Toleration)."""

    key: str  # "" with Exists: every taint
    operator: str  # Exists or Equal
    value: str
    effect: str  # "" matches every effect
    toleration_seconds: int | None  # NoExecute only

    def manifest(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"operator": self.operator}
        for name, value in (("key", self.key), ("value", self.value), ("effect", self.effect)):
            if value:
                fields[name] = value
        if self.toleration_seconds is not None:
            fields["tolerationSeconds"] = self.toleration_seconds
        return fields


@dataclass(frozen=True)
class Patch:
    """One of hecate:patches: an RFC 6902 JSON Patch or an RFC 7386 merge patch of one rendered
    object, named by kind and name. Applied by hecate/patches.py."""

    index: int
    kind: str
    name: str
    json_patch: tuple[Mapping[str, Any], ...] | None
    merge_patch: Mapping[str, Any] | None

    @property
    def setting(self) -> str:
        return f"{NAMESPACE}:patches[{self.index}]"


@dataclass(frozen=True)
class GitSource:
    """Where Flux pulls the rendered gitops tree from."""

    url: str
    branch: str
    interval: str
    secret_ref: str | None


class _Problems:
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
Parser = Callable[[Any, str, _Problems], Any]
_REQUIRED = object()


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
        return self.default is _REQUIRED


def setting(
    key: str,
    type: str,
    description: str,
    parse: Parser,
    default: Any = _REQUIRED,
    namespace: str = NAMESPACE,
) -> Any:
    """A field of Settings and the config key it is read from, declared together."""
    return field(metadata={"setting": Setting(namespace, key, type, description, parse, default)})


# --- Parsers -----------------------------------------------------------------------------


def _decode(value: Any, name: str, problems: _Problems, shape: str) -> Any:
    """Structured config arrives as JSON text from the engine; accept either."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        problems.add(name, value, f"is not {shape}")
        return None


def _object(
    value: Any,
    name: str,
    problems: _Problems,
    shape: str,
    allowed_keys: tuple[str, ...] | None = None,
):
    value = _decode(value, name, problems, shape)
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(name, value, f"is not {shape}")
        return None
    allowed = ", ".join(allowed_keys or ())
    for extra in sorted(set(value) - set(allowed_keys)) if allowed_keys else ():
        problems.add(f"{name}.{extra}", value[extra], f"is not a known field (allowed: {allowed})")
    return value


def text(check: Callable[[str], bool], allowed: str) -> Parser:
    def parse(value: Any, name: str, problems: _Problems) -> str | None:
        if not isinstance(value, str) or not check(value):
            problems.add(name, value, allowed)
            return None
        return value

    return parse


_flux_duration = text(is_flux_duration, "is not a Flux duration such as 30s, 1m or 1h30m")


def one_of(choices: tuple[str, ...]) -> Parser:
    return text(lambda s: s in choices, f"is not one of {', '.join(choices)}")


def optional_text(value: Any, name: str, problems: _Problems) -> str | None:
    if value in (None, ""):
        return None
    return text(grammars.is_plain_text, "is not a non-empty, printable string")(
        value, name, problems
    )


def credential_free(parse: Parser, where: str) -> Parser:
    """A URL setting that refuses a credential in the URL, which would be rendered in clear:
    any password, and any user but ssh's (`ssh://git@host/...`, Flux's usual form). The
    message names where the credential belongs and never shows it."""

    def check(value: Any, name: str, problems: _Problems) -> Any:
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


def _version(value: Any, name: str, problems: _Problems) -> str | None:
    if isinstance(value, str) and value.lower() in MUTABLE_TAGS:
        problems.add(name, value, "is a mutable tag; pin a release version such as 0.7.2")
        return None
    return text(
        grammars.is_release_version,
        "is not a release version such as 0.7.2 (or 0.8.0-rc.1) of at most 63 characters, "
        "ending in a letter or digit (it is an image tag and a label value)",
    )(value, name, problems)


DEFAULT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1000m", "memory": "1Gi"},
}


def _resources(value: Any, name: str, problems: _Problems) -> ComputeResources | None:
    shape = "an object {requests: {cpu, memory}, limits: {cpu, memory}}"
    value = _object(value, name, problems, shape, ("requests", "limits"))
    if value is None:
        return None
    parsed: dict[str, str] = {}
    for section, prefix in (("requests", "request"), ("limits", "limit")):
        part = value.get(section, {})
        if not isinstance(part, dict):
            problems.add(f"{name}.{section}", part, "is not an object {cpu, memory}")
            part = {}
        for extra in sorted(set(part) - {"cpu", "memory"}):
            problems.add(
                f"{name}.{section}.{extra}",
                part[extra],
                "is not a known field (allowed: cpu, memory)",
            )
        for kind in ("cpu", "memory"):
            quantity = part.get(kind, DEFAULT_RESOURCES[section][kind])
            if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
                quantity = str(quantity)
            if not isinstance(quantity, str) or parse_quantity(quantity) is None:
                problems.add(
                    f"{name}.{section}.{kind}",
                    quantity,
                    "is not a Kubernetes quantity "
                    "(e.g. 100m or 1 for cpu, 256Mi or 1Gi for memory)",
                )
                continue
            parsed[f"{prefix}_{kind}"] = quantity
    for kind in ("cpu", "memory"):
        request, limit = parsed.get(f"request_{kind}"), parsed.get(f"limit_{kind}")
        if request and limit and parse_quantity(limit) < parse_quantity(request):  # type: ignore[operator]
            problems.add(
                f"{name}.limits.{kind}",
                limit,
                f"is below its request {request!r}; a limit must be >= its request",
            )
    return ComputeResources(**parsed) if len(parsed) == 4 else None


def _readiness_probe(value: Any, name: str, problems: _Problems) -> ReadinessProbe | None:
    shape = "an object {check, initialDelaySeconds, periodSeconds, timeoutSeconds, …}"
    value = _object(value, name, problems, shape, tuple(DEFAULT_READINESS))
    if value is None:
        return None
    given = {**DEFAULT_READINESS, **value}
    check = given["check"]
    if check not in READINESS_CHECKS:
        problems.add(f"{name}.check", check, f"is not one of {', '.join(READINESS_CHECKS)}")
    # Kubernetes' own bounds (a delay may be 0), and an hour as a sanity ceiling.
    numbers: dict[str, int] = {}
    for key, least in (
        ("initialDelaySeconds", 0),
        ("periodSeconds", 1),
        ("timeoutSeconds", 1),
        ("failureThreshold", 1),
    ):
        number = given[key]
        if isinstance(number, bool) or not isinstance(number, int) or not least <= number <= 3600:
            problems.add(f"{name}.{key}", number, f"is not a whole number from {least} to 3600")
        else:
            numbers[key] = number
    period, timeout = numbers.get("periodSeconds"), numbers.get("timeoutSeconds")
    if period and timeout and timeout > period:
        # A probe still running when the next is due is a probe the kubelet skips.
        problems.add(f"{name}.timeoutSeconds", timeout, f"is over periodSeconds ({period})")
        return None
    if check not in READINESS_CHECKS or len(numbers) < 4:
        return None
    return ReadinessProbe(
        check,
        numbers["initialDelaySeconds"],
        numbers["periodSeconds"],
        numbers["timeoutSeconds"],
        numbers["failureThreshold"],
    )


def _max_unavailable(value: Any, name: str, problems: _Problems) -> int | str | None:
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


def _boolean(value: Any, name: str, problems: _Problems) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.add(name, value, "is not true or false")
    return None


def _gitops(value: Any, name: str, problems: _Problems) -> GitSource | None:
    if value in (None, {}, "{}"):
        return None  # required for gitops delivery: checked with the delivery
    value = _object(
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


def _env_map(value: Any, name: str, problems: _Problems, shape: str) -> dict[str, Any]:
    """An object keyed by environment-variable names; its values are never shown."""
    value = _object(
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


def _sealed_secrets(value: Any, name: str, problems: _Problems) -> Mapping[str, str]:
    sealed = {}
    for key, ciphertext in _env_map(value, name, problems, "values sealed with kubeseal").items():
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


def _api_keys(value: Any, name: str, problems: _Problems) -> Mapping[str, SecretText]:
    keys = {}
    for key, plaintext in _env_map(value, name, problems, "API keys").items():
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


def _optional_duration(value: Any, name: str, problems: _Problems) -> str | None:
    return None if value in (None, "") else _flux_duration(value, name, problems)


def _certificate(value: Any, name: str, problems: _Problems) -> str | None:
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


def _gitops_dir(value: Any, name: str, problems: _Problems) -> str | None:
    return text(
        lambda s: (
            grammars.is_plain_text(s)
            and ".." not in PurePosixPath(s).parts
            and PurePosixPath(s) != PurePosixPath("/")
        ),
        "is not a directory path (printable, relative to the project or absolute, without "
        "'..', not the filesystem root)",
    )(value, name, problems)


def _list(value: Any, name: str, problems: _Problems, shape: str) -> list[Any]:
    value = _decode(value, name, problems, shape)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(name, value, f"is not {shape}")
        return []
    return value


_LABEL_KEY = (
    "is not a label key (an optional DNS-1123 prefix and '/', then at most 63 of "
    "A-Z a-z 0-9 - _ . with a letter or digit at both ends)"
)
_LABEL_VALUE = (
    "is not a label value (empty, or at most 63 of A-Z a-z 0-9 - _ . with a letter or "
    "digit at both ends)"
)


def _tolerations(value: Any, name: str, problems: _Problems) -> tuple[Toleration, ...]:
    shape = "a list of tolerations {key, operator, value, effect, tolerationSeconds}"
    fields = ("key", "operator", "value", "effect", "tolerationSeconds")
    parsed = []
    for index, item in enumerate(_list(value, name, problems, shape)):
        at = f"{name}[{index}]"
        item = _object(item, at, problems, "an object {" + ", ".join(fields) + "}", fields)
        if item is None:
            continue
        before = len(problems.items)
        key = item.get("key", "")
        operator = item.get("operator", "Equal")
        toleration_value = item.get("value", "")
        effect = item.get("effect", "")
        seconds = item.get("tolerationSeconds")
        if isinstance(seconds, str) and seconds.isascii() and seconds.isdigit():
            seconds = int(seconds)  # as `pulumi config set --path` may store it
        if not isinstance(key, str) or (key and not is_label_key(key)):
            problems.add(f"{at}.key", key, _LABEL_KEY)
        if operator not in TOLERATION_OPERATORS:
            problems.add(f"{at}.operator", operator, "is not one of Exists, Equal")
        elif operator == "Exists" and toleration_value != "":
            problems.add(f"{at}.value", toleration_value, "must be empty with operator Exists")
        elif operator == "Equal" and not key:
            problems.note(
                f"{at}.key", "is required with operator Equal (an empty key needs Exists)"
            )
        if operator == "Equal" and not (
            isinstance(toleration_value, str) and is_label_value(toleration_value)
        ):
            problems.add(f"{at}.value", toleration_value, _LABEL_VALUE)
        if effect not in ("", *TAINT_EFFECTS):
            problems.add(
                f"{at}.effect", effect, f"is not one of {', '.join(TAINT_EFFECTS)} (or empty: all)"
            )
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
                problems.add(
                    f"{at}.tolerationSeconds",
                    seconds,
                    "is not a whole number of seconds, 0 or more",
                )
            elif effect != "NoExecute":
                problems.add(
                    f"{at}.tolerationSeconds", seconds, "is allowed only with effect NoExecute"
                )
        if len(problems.items) == before:
            parsed.append(Toleration(key, operator, toleration_value, effect, seconds))
    return tuple(parsed)


def _as_text(value: Any) -> str | None:
    """A string, or a number or boolean as JSON writes it (`pulumi config set --path` stores
    `true` and `4` typed); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return None


def _node_selector(value: Any, name: str, problems: _Problems) -> Mapping[str, str]:
    value = _object(value, name, problems, "an object mapping node label keys to values")
    selector = {}
    for key, raw in sorted((value or {}).items()):
        label = _as_text(raw)
        if not is_label_key(key):
            problems.note(member(name, key), _LABEL_KEY)
        elif label is None:
            problems.add(member(name, key), raw, "is not a label value (a string)")
        elif not is_label_value(label):
            problems.add(member(name, key), label, _LABEL_VALUE)
        else:
            selector[key] = label
    return MappingProxyType(selector)


def _optional_dns_subdomain(value: Any, name: str, problems: _Problems) -> str | None:
    if value in (None, ""):
        return None
    return text(
        is_dns_subdomain,
        "is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)",
    )(value, name, problems)


def _secret_names(value: Any, name: str, problems: _Problems) -> tuple[str, ...]:
    names: list[str] = []
    for index, item in enumerate(_list(value, name, problems, "a list of Secret names")):
        if not isinstance(item, str) or not is_dns_subdomain(item):
            problems.add(f"{name}[{index}]", item, "is not a Secret name (a DNS-1123 subdomain)")
        elif item in names:
            problems.add(f"{name}[{index}]", item, "is listed twice")
        else:
            names.append(item)
    return tuple(names)


def _env(value: Any, name: str, problems: _Problems) -> Mapping[str, str]:
    env = {}
    for key, item in _env_map(value, name, problems, "string values").items():
        text_value = _as_text(item)
        if key in CONFIG_MAP_KEYS:
            problems.note(member(name, key), f"is set by {CONFIG_MAP_KEYS[key]}; set that instead")
        elif text_value is None:
            problems.add(member(name, key), item, "is not a string, a number or a boolean")
        elif not grammars.is_environment_value(text_value):
            problems.note(
                member(name, key), "holds a NUL character, which no environment can carry"
            )
        else:
            env[key] = text_value
    return MappingProxyType(env)


def _patches(value: Any, name: str, problems: _Problems) -> tuple[Patch, ...]:
    import jsonpatch  # only where a stack has patches to read

    shape = "a list of patches {target: {kind, name}, jsonPatch: [...] or mergePatch: {...}}"
    parsed = []
    for index, item in enumerate(_list(value, name, problems, shape)):
        at = f"{name}[{index}]"
        item = _object(
            item, at, problems, "an object {target, jsonPatch or mergePatch}", PATCH_FIELDS
        )
        if item is None:
            continue
        target = item.get("target")
        kind = target.get("kind") if isinstance(target, dict) else None
        target_name = target.get("name") if isinstance(target, dict) else None
        if not (
            isinstance(kind, str) and kind and isinstance(target_name, str) and target_name
        ) or set(target) - {"kind", "name"}:
            problems.add(
                f"{at}.target", target, "is not an object {kind, name} naming a rendered object"
            )
            continue
        if kind == "SealedSecret":
            problems.add(
                f"{at}.target",
                target,
                "is the SealedSecret: secrets never enter a patch; sealed values go in "
                "hecate:apiKeys or hecate:sealedSecrets",
            )
            continue
        json_patch, merge_patch = item.get("jsonPatch"), item.get("mergePatch")
        if (json_patch is None) == (merge_patch is None):
            problems.note(at, "needs exactly one of jsonPatch (RFC 6902) or mergePatch (RFC 7386)")
            continue
        if merge_patch is not None and not isinstance(merge_patch, dict):
            problems.add(
                f"{at}.mergePatch", merge_patch, "is not an object (an RFC 7386 merge patch)"
            )
            continue
        if json_patch is not None:
            if not isinstance(json_patch, list) or not all(
                isinstance(op, dict)
                and op.get("op") in JSON_PATCH_OPS
                and isinstance(op.get("path"), str)
                for op in json_patch
            ):
                problems.add(
                    f"{at}.jsonPatch",
                    json_patch,
                    f"is not an RFC 6902 JSON Patch (a list of {{op, path, ...}}, op one of "
                    f"{', '.join(JSON_PATCH_OPS)})",
                )
                continue
            try:
                jsonpatch.JsonPatch(json_patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                problems.add(f"{at}.jsonPatch", json_patch, f"is not a valid JSON Patch: {error}")
                continue
        parsed.append(
            Patch(
                index,
                kind,
                target_name,
                tuple(json_patch) if json_patch is not None else None,
                merge_patch,
            )
        )
    return tuple(parsed)


# --- The table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    cluster: str = setting(
        "cluster",
        "string",
        "cluster name, a DNS-1123 label, e.g. `beam-cluster`",
        text(
            grammars.is_dns_label,
            "is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)",
        ),
    )
    version: str = setting(
        "version",
        "string",
        "daemon image tag, e.g. `0.7.2`; mutable tags such as `latest` are refused",
        _version,
    )
    image: str = setting(
        "image",
        "string",
        "image repository, without tag",
        text(
            grammars.is_image_repository,
            "is not an image repository without tag or digest, e.g. " + DEFAULT_IMAGE,
        ),
        DEFAULT_IMAGE,
    )
    ollama_host: str = setting(
        "ollamaHost",
        "string",
        "http(s) URL of the node's Ollama",
        credential_free(
            text(
                grammars.is_http_url,
                "is not an http:// or https:// URL (a host, an optional port and path; no query "
                "or fragment)",
            ),
            "the daemon's credentials for an API go in hecate:apiKeys (sealed)",
        ),
        DEFAULT_OLLAMA_HOST,
    )
    log_level: str = setting(
        "logLevel", "string", "`debug`, `info`, `warn` or `error`", one_of(LOG_LEVELS), "info"
    )
    env: Mapping[str, str] = setting(
        "env",
        "object",
        "extra environment variables for the daemon, name → value, into hecate-config; never "
        "`OLLAMA_HOST`, `HECATE_LOG_LEVEL` or a sealed key's name",
        _env,
        {},
    )
    resources: ComputeResources = setting(
        "resources",
        "object",
        "`{requests: {cpu, memory}, limits: {cpu, memory}}`; a limit below its request is refused",
        _resources,
        DEFAULT_RESOURCES,
    )
    readiness_probe: ReadinessProbe = setting(
        "readinessProbe",
        "object",
        "when a daemon pod counts as Ready, and so when a rollout's gate passes: `{check, "
        "initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold}`; `check: health` "
        "runs the guide's health check (`/api/health` over the socket, which must answer), "
        "`socket` the guide's probe (the socket exists)",
        _readiness_probe,
        DEFAULT_READINESS,
    )
    max_unavailable: int | str = setting(
        "maxUnavailable",
        "any",
        "DaemonSet rolling update: nodes (`1`) or a percentage (`25%`)",
        _max_unavailable,
        1,
    )
    # Container hardening beyond the guide (no privilege escalation, no capabilities,
    # RuntimeDefault seccomp, read-only root with an emptyDir /tmp).
    hardened: bool = setting(
        "hardened",
        "boolean",
        "container hardening beyond the guide: no privilege escalation, all capabilities dropped, "
        "RuntimeDefault seccomp, read-only root with an emptyDir `/tmp`, no service-account token",
        _boolean,
        True,
    )
    tolerations: tuple[Toleration, ...] = setting(
        "tolerations",
        "array",
        "taints the daemon tolerates, e.g. GPU nodes': a list of `{key, operator (Exists, Equal), "
        "value, effect (NoSchedule, PreferNoSchedule, NoExecute), tolerationSeconds (NoExecute "
        "only)}`",
        _tolerations,
        [],
    )
    node_selector: Mapping[str, str] = setting(
        "nodeSelector",
        "object",
        "node label key → value: the daemon runs only on nodes with every one of these labels",
        _node_selector,
        {},
    )
    priority_class_name: str | None = setting(
        "priorityClassName",
        "string",
        "the daemon pods' PriorityClass, a DNS-1123 name (e.g. `system-node-critical`)",
        _optional_dns_subdomain,
        "",
    )
    image_pull_secrets: tuple[str, ...] = setting(
        "imagePullSecrets",
        "array",
        "names of Secrets in the `hecate` namespace to pull the image with (a private registry)",
        _secret_names,
        [],
    )
    delivery: str = setting(
        "delivery",
        "string",
        "`gitops` (files for Flux) or `direct` (applied to the cluster)",
        one_of(DELIVERIES),
        "gitops",
    )
    gitops_dir: str = setting(
        "gitopsDir",
        "string",
        "where the gitops checkout is: inside the project, or a git work tree elsewhere; "
        "never `/` or a file",
        _gitops_dir,
        "./gitops",
    )
    gitops: GitSource | None = setting(
        "gitops",
        "object",
        "Flux source `{url (ssh:// or https://; http:// on loopback only), branch, interval, "
        "secretRef}`; a stack's keys go over "
        'the project\'s, key by key (`secretRef: ""` for none)',
        _gitops,
        {},
    )
    # Flux gives up on the daemon's rollout after this long and marks the sync failed.
    health_timeout: str | None = setting(
        "healthTimeout",
        "string",
        "how long the daemon's rollout may take before it is reported failed (a Flux duration "
        "such as `2m`): Flux's health check, or the provider's wait with `direct`; empty: their "
        "defaults (the sync interval, 5m; the provider's 10m)",
        _optional_duration,
        "",
    )
    sealed_secrets: Mapping[str, str] = setting(
        "sealedSecrets",
        "object",
        "env-var name → value already sealed with kubeseal for this cluster",
        _sealed_secrets,
        {},
    )
    # API keys the program seals itself, for the controller whose certificate this is.
    api_keys: Mapping[str, SecretText] = setting(
        "apiKeys",
        "object",
        "env-var name → API key, each a Pulumi secret; the program seals them",
        _api_keys,
        {},
    )
    sealing_cert: str | None = setting(
        "sealingCert",
        "string",
        "the cluster's sealed-secrets certificate (PEM; public, safe to commit); "
        "required with `apiKeys`",
        _certificate,
        "",
    )
    sealing_scope: str = setting(
        "sealingScope",
        "string",
        "`strict`, `namespace-wide` or `cluster-wide`",
        one_of(sealing.SCOPES),
        "strict",
    )
    patches: tuple[Patch, ...] = setting(
        "patches",
        "array",
        "cluster-specific patches of the rendered objects: a list of `{target: {kind, name}, "
        "jsonPatch: [RFC 6902 operations]}` or `{target, mergePatch: {RFC 7386}}`; never the "
        "SealedSecret, an object's kind, name or namespace, or the DaemonSet's selector",
        _patches,
        [],
    )
    # From the provider's namespace, used by `direct` delivery only.
    kube_context: str | None = setting(
        "context",
        "string",
        "the kubeconfig context of the cluster (`direct` delivery)",
        optional_text,
        None,
        namespace=KUBERNETES,
    )
    kubeconfig: str | None = setting(
        "kubeconfig",
        "string",
        "the kubeconfig file (`direct` delivery)",
        optional_text,
        None,
        namespace=KUBERNETES,
    )

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.version}"

    @property
    def health_timeout_seconds(self) -> int | None:
        """healthTimeout in whole seconds (at least one), or None when unset."""
        if not self.health_timeout:
            return None
        return max(1, round(duration_seconds(self.health_timeout)))

    @property
    def workloads_dir(self) -> str:
        """Where the workload manifests are rendered, relative to the gitops root."""
        return f"infrastructure/hecate/{self.cluster}"

    @property
    def flux_dir(self) -> str:
        """Where Flux's bootstrap sync for this cluster looks (clusters/<name>)."""
        return f"clusters/{self.cluster}"


SETTINGS: tuple[tuple[str, Setting], ...] = tuple(
    (f.name, f.metadata["setting"]) for f in fields(Settings)
)


def _plain(value: Any) -> Any:
    """A parsed setting's value as JSON data (dataclasses, read-only mappings and tuples too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def json_sha256(value: Any) -> str:
    """SHA-256 (hex) of JSON data in one canonical form: keys sorted, no spaces."""
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def digest(value: Any) -> str:
    """A short, stable digest of JSON data: which settings changed, never what they hold."""
    return json_sha256(value)[:16]


# Settings whose entries are named one by one when they change (`hecate:env.FEATURE`).
_BY_ENTRY = ("env", "node_selector", "sealed_secrets")


def setting_digests(settings: Settings) -> dict[str, str]:
    """Setting (or entry) name → digest of its parsed value, for every setting but the API
    keys: their plaintext is never digested (the program digests their sealed values)."""
    digests = {}
    for attribute, spec in SETTINGS:
        value = getattr(settings, attribute)
        if attribute == "api_keys":
            continue
        if attribute in _BY_ENTRY:
            digests.update({f"{spec.name}.{k}": digest(v) for k, v in value.items()})
        else:
            digests[spec.name] = digest(value)
    return digests


FETCH_CERT = (
    "fetch the controller's certificate once per cluster: "
    "`kubeseal --fetch-cert > cert.pem && "
    'pulumi config set hecate:sealingCert -- "$(cat cert.pem)"`'
)


def parse_config(config: Mapping[str, Any], secret_names: frozenset[str] = frozenset()) -> Settings:
    """Settings from fully qualified config (`hecate:version`, `kubernetes:context`).

    `secret_names` are the keys the engine holds as secrets. Raises ConfigError listing every
    problem.
    """
    problems = _Problems(secret_names)
    known = {s.name for _, s in SETTINGS}
    for namespace in (NAMESPACE, KUBERNETES):
        ours = sorted(s.key for _, s in SETTINGS if s.namespace == namespace)
        for name in sorted(k for k in config if k.startswith(f"{namespace}:") and k not in known):
            problems.add(
                name, config[name], f"is not a known setting (a typo?); known: {', '.join(ours)}"
            )

    values: dict[str, Any] = {}
    for attribute, spec in SETTINGS:
        raw = config.get(spec.name, spec.default)
        if raw is _REQUIRED:
            problems.note(spec.name, f"is required: the {spec.description}")
            values[attribute] = None
        else:
            values[attribute] = spec.parse(raw, spec.name, problems)

    # Checks across settings.
    if (
        values["delivery"] == "gitops"
        and values["gitops"] is None
        and not any(p.startswith(f"{NAMESPACE}:gitops") for p in problems.items)
    ):
        problems.note(
            f"{NAMESPACE}:gitops",
            "is required for gitops delivery: an object {url, branch, interval, secretRef}",
        )
    api_keys, sealed = values["api_keys"], values["sealed_secrets"]
    if config.get(f"{NAMESPACE}:apiKeys") not in (None, {}, "{}"):
        if f"{NAMESPACE}:apiKeys" not in secret_names:
            problems.note(
                f"{NAMESPACE}:apiKeys",
                "is stored in plain text; set each key as a secret: "
                "`pulumi config set --secret --path 'hecate:apiKeys.OPENAI_API_KEY' sk-...`",
            )
        if not config.get(f"{NAMESPACE}:sealingCert"):
            problems.note(
                f"{NAMESPACE}:apiKeys", f"is set but hecate:sealingCert is not; {FETCH_CERT}"
            )
    for key in sorted(set(values["env"] or {}) & (set(api_keys) | set(sealed))):
        problems.note(
            f"{NAMESPACE}:env.{key}",
            f"is also a sealed key's name; the daemon would see only one {key}",
        )
    known_secret = sorted(k for k in secret_names if k in known and k not in TAKES_SECRETS)
    for name in known_secret:
        problems.note(
            name,
            "is a Pulumi secret, but the program renders it in clear (into the gitops tree, "
            "hecate-config or a stack output): set it in plain text (`pulumi config set "
            f"--plaintext`); only {', '.join(TAKES_SECRETS)} takes secrets, sealed for the "
            "cluster's controller",
        )
    for key in sorted(set(api_keys) & set(sealed)):
        problems.note(
            f"{NAMESPACE}:apiKeys.{key}",
            f"is also in hecate:sealedSecrets; keep {key} in one of them",
        )

    if problems.items:
        raise ConfigError(problems.items)
    return Settings(**values)


def parse(
    raw: Mapping[str, Any],
    kube: Mapping[str, Any] | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Settings from the `hecate:` config (short keys) and the `kubernetes:` config (short keys)."""
    config = {
        **{f"{NAMESPACE}:{k}": v for k, v in raw.items()},
        **{f"{KUBERNETES}:{k}": v for k, v in (kube or {}).items()},
    }
    return parse_config(config, frozenset(f"{NAMESPACE}:{k}" for k in secret_keys))
