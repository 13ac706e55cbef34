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
    is_label_key,
    is_label_value,
    parse_quantity,
)
from .values import (
    CONFIG_MAP_KEYS,
    DEFAULT_READINESS,
    DEFAULT_RESOURCES,
    JSON_PATCH_OPS,
    MAX_API_KEY_BYTES,
    MAX_SEALED_BYTES,
    MUTABLE_TAGS,
    NAMESPACE,
    PATCH_FIELDS,
    READINESS_CHECKS,
    TAINT_EFFECTS,
    TOLERATION_OPERATORS,
    ComputeResources,
    GitSource,
    Patch,
    ReadinessProbe,
    SecretText,
    Toleration,
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


def parse_resources(value: Any, name: str, problems: Problems) -> ComputeResources | None:
    shape = "an object {requests: {cpu, memory}, limits: {cpu, memory}}"
    value = object_of(value, name, problems, shape, ("requests", "limits"))
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


def parse_readiness_probe(value: Any, name: str, problems: Problems) -> ReadinessProbe | None:
    shape = "an object {check, initialDelaySeconds, periodSeconds, timeoutSeconds, …}"
    value = object_of(value, name, problems, shape, tuple(DEFAULT_READINESS))
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


def _env_map(value: Any, name: str, problems: Problems, shape: str) -> dict[str, Any]:
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


def parse_api_keys(value: Any, name: str, problems: Problems) -> Mapping[str, SecretText]:
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


def _list(value: Any, name: str, problems: Problems, shape: str) -> list[Any]:
    value = decode(value, name, problems, shape)
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


def parse_tolerations(value: Any, name: str, problems: Problems) -> tuple[Toleration, ...]:
    shape = "a list of tolerations {key, operator, value, effect, tolerationSeconds}"
    fields = ("key", "operator", "value", "effect", "tolerationSeconds")
    parsed = []
    for index, item in enumerate(_list(value, name, problems, shape)):
        at = f"{name}[{index}]"
        item = object_of(item, at, problems, "an object {" + ", ".join(fields) + "}", fields)
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


def parse_node_selector(value: Any, name: str, problems: Problems) -> Mapping[str, str]:
    value = object_of(value, name, problems, "an object mapping node label keys to values")
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


def parse_optional_dns_subdomain(value: Any, name: str, problems: Problems) -> str | None:
    if value in (None, ""):
        return None
    return text(
        is_dns_subdomain,
        "is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)",
    )(value, name, problems)


def parse_secret_names(value: Any, name: str, problems: Problems) -> tuple[str, ...]:
    names: list[str] = []
    for index, item in enumerate(_list(value, name, problems, "a list of Secret names")):
        if not isinstance(item, str) or not is_dns_subdomain(item):
            problems.add(f"{name}[{index}]", item, "is not a Secret name (a DNS-1123 subdomain)")
        elif item in names:
            problems.add(f"{name}[{index}]", item, "is listed twice")
        else:
            names.append(item)
    return tuple(names)


def parse_env(value: Any, name: str, problems: Problems) -> Mapping[str, str]:
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


def parse_patches(value: Any, name: str, problems: Problems) -> tuple[Patch, ...]:
    import jsonpatch  # only where a stack has patches to read

    shape = "a list of patches {target: {kind, name}, jsonPatch: [...] or mergePatch: {...}}"
    parsed = []
    for index, item in enumerate(_list(value, name, problems, shape)):
        at = f"{name}[{index}]"
        item = object_of(
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
