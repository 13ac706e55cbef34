"""Digests of parsed settings: which settings a deploy changed (never what they hold), and the
canonical JSON hash rendering uses."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from .table import SETTINGS, Settings


def plain(value: Any) -> Any:
    """A parsed setting's value as JSON data (dataclasses, read-only mappings and tuples too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_sha256(value: Any) -> str:
    """SHA-256 (hex) of JSON data in one canonical form: keys sorted, no spaces."""
    text = json.dumps(plain(value), sort_keys=True, separators=(",", ":"))
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
