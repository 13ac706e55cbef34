"""The parsers of what goes into the daemon's pod: its resources and readiness probe, where it
may run (tolerations, node selector), its environment and pull secrets, and hecate:patches. The
shapes are Kubernetes' own; each problem names the key, the value and what is allowed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import grammars
from ..grammars import (
    is_dns_subdomain,
    is_label_key,
    is_label_value,
    parse_quantity,
)
from .parsers import (
    Problems,
    env_map,
    list_of,
    member,
    object_of,
)
from .values import (
    CONFIG_MAP_KEYS,
    DEFAULT_READINESS,
    DEFAULT_RESOURCES,
    JSON_PATCH_OPS,
    PATCH_FIELDS,
    READINESS_CHECKS,
    TAINT_EFFECTS,
    TOLERATION_OPERATORS,
    ComputeResources,
    Patch,
    ReadinessProbe,
    Toleration,
)


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
    for index, item in enumerate(list_of(value, name, problems, shape)):
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


def parse_secret_names(value: Any, name: str, problems: Problems) -> tuple[str, ...]:
    names: list[str] = []
    for index, item in enumerate(list_of(value, name, problems, "a list of Secret names")):
        if not isinstance(item, str) or not is_dns_subdomain(item):
            problems.add(f"{name}[{index}]", item, "is not a Secret name (a DNS-1123 subdomain)")
        elif item in names:
            problems.add(f"{name}[{index}]", item, "is listed twice")
        else:
            names.append(item)
    return tuple(names)


def parse_env(value: Any, name: str, problems: Problems) -> Mapping[str, str]:
    env = {}
    for key, item in env_map(value, name, problems, "string values").items():
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
    for index, item in enumerate(list_of(value, name, problems, shape)):
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
