"""`hecate:patches`: the guide's "cluster-specific patches", applied to the objects a stack
renders before anything is declared, so that the patched object is what is previewed, checked by
the policy pack, rendered, drift-checked and applied.

JSON Patch (RFC 6902) is python-json-patch's, merge patch (RFC 7386) json-merge-patch's. A patch
may not move an object (its apiVersion, kind, name or namespace), change the DaemonSet's selector
(immutable on a live DaemonSet) or the digest that rolls the daemon on a configuration change.
Secrets never enter a patch: the setting may not be a Pulumi secret and may not target the
SealedSecret (hecate/settings/), and it is applied to plain manifests only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import json_merge_patch
import jsonpatch

from . import naming
from .settings import ConfigError, Patch

Key = tuple[str, str]  # (kind, name)

_EVERY_OBJECT = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))
_DAEMON_SET = (
    ("spec", "selector"),
    ("spec", "template", "metadata", "annotations", naming.CONFIG_CHECKSUM),
)


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _apply(patch: Patch, manifest: dict[str, Any]) -> Any:
    if patch.json_patch is not None:
        return jsonpatch.apply_patch(manifest, [dict(op) for op in patch.json_patch])
    # The library merges into its first argument: give it a copy.
    return json_merge_patch.merge(
        copy.deepcopy(manifest), copy.deepcopy(dict(patch.merge_patch or {}))
    )


def apply(
    patches: tuple[Patch, ...], objects: Mapping[Key, dict[str, Any]]
) -> dict[Key, dict[str, Any]]:
    """`objects` with every patch applied in order, or ConfigError naming each patch that
    could not be (by its index), with nothing applied."""
    patched = dict(objects)
    problems = []
    for patch in patches:
        key = (patch.kind, patch.name)
        if key not in patched:
            rendered = ", ".join(f"{kind}/{name}" for kind, name in patched)
            problems.append(
                f"{patch.setting}: targets {patch.kind}/{patch.name}, which this stack does not "
                f"render (it renders {rendered})"
            )
            continue
        before = patched[key]
        try:
            after = _apply(patch, before)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            problems.append(
                f"{patch.setting}: does not apply to {patch.kind}/{patch.name}: {error}"
            )
            continue
        protected = _EVERY_OBJECT + (_DAEMON_SET if patch.kind == "DaemonSet" else ())
        moved = [".".join(path) for path in protected if _at(after, path) != _at(before, path)]
        if not isinstance(after, dict):
            problems.append(f"{patch.setting}: turns {patch.kind}/{patch.name} into a non-object")
        elif moved:
            problems.append(
                f"{patch.setting}: changes {', '.join(moved)} of {patch.kind}/{patch.name}, "
                "which a patch may not change"
            )
        else:
            patched[key] = after
    if problems:
        raise ConfigError(problems)
    return patched
