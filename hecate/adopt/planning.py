"""The plan: the stack's settings and patches, checked to render the hand-made objects again,
what the first `make up` changes, and what the gitops checkout gains or loses. Nothing is
written here."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from .. import fleet_identity, naming, settings
from ..cluster import ClusterObjects
from ..daemon import CHECKSUM_PENDING
from ..handmade_tree import (
    HandmadeCluster,
    Key,
    read,
    users,
)
from ..project import over_project
from ..sealed_secrets import sealed_secret
from ..settings import ConfigError, Settings
from .inverse import escape, kept_fields, settings_from, without_nulls
from .model import PRUNE_ANNOTATION, SHARED_KUSTOMIZATION_HEADER, AdoptRefused, Change, Plan


def _qualified(config: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{settings.NAMESPACE}:{k}": v for k, v in config.items()}


def _parse(config: Mapping[str, Any], root: Path) -> Settings:
    """The settings as `make up` will parse them, from the stack's config over the project's."""
    return settings.parse_config(over_project(_qualified(config), root))


def _rendered(objects: ClusterObjects) -> dict[Key, dict[str, Any]]:
    found = [objects.namespace, objects.config_map, objects.daemon_set]
    found += [m for m in (objects.git_repository, objects.kustomization) if m is not None]
    return {(m["kind"], m["metadata"]["name"]): dict(m) for m in found}


def _as_written(handmade: HandmadeCluster) -> dict[Key, dict[str, Any]]:
    """What runs now, for each object the program renders: the built workloads, and the Flux
    objects as written (less what the move itself changes: spec.path, and the patches, which
    are now part of the objects)."""
    objects = {k: v for k, v in handmade.built.items() if k[0] != "SealedSecret"}
    sync = copy.deepcopy(handmade.sync.manifest)
    sync.get("spec", {}).pop("patches", None)
    objects[("Kustomization", naming.KUSTOMIZATION)] = sync
    if handmade.source is not None:
        objects[("GitRepository", naming.GIT_REPOSITORY)] = handmade.source.manifest
    return objects


def _unpatchable(kind: str, path: str) -> bool:
    """Fields the program owns, which a kept field may not replace: the move's own path, the
    digest annotation, and what the settings already took."""
    if kind == "Kustomization" and path == "/spec/path":
        return True
    return kind == "DaemonSet" and path.endswith(f"/annotations/{escape(naming.CONFIG_CHECKSUM)}")


def plan(root: Path, gitops: Path, stack: str, cluster: str, remove_shared: bool = False) -> Plan:
    """Everything adopt would write, or AdoptRefused / TreeRefused with every problem."""
    handmade = read(gitops, cluster)
    others = [c for c in users(gitops, handmade.shared_dir) if c != cluster]
    if remove_shared and others:
        raise AdoptRefused(
            [
                f"--remove-shared: {handmade.shared_dir}/ is still synced by "
                f"{', '.join(others)} ({', '.join(f'clusters/{c}/' for c in others)}); adopt "
                "those first, or leave the shared files"
            ]
        )
    config, notes = settings_from(handmade)
    try:
        bare = ClusterObjects.of(_parse(config, root))
    except ConfigError as error:
        raise AdoptRefused(
            [f"{p} (read from the hand-made tree of {cluster})" for p in error.problems]
        ) from None
    now = _as_written(handmade)
    rendered = _rendered(bare)

    patches, kept = [], []
    for key, handmade_object in sorted(now.items()):
        if key not in rendered:
            continue  # a kind the stack does not render: refused by the tree reader
        ops = [
            op
            for op in kept_fields(handmade_object, rendered[key])
            if not _unpatchable(key[0], op["path"])
        ]
        if ops:
            patches.append({"target": {"kind": key[0], "name": key[1]}, "jsonPatch": ops})
            kept += [Change(key[0], key[1], op["op"], op["path"], op.get("value")) for op in ops]
    for kind, name, why in (
        ("Namespace", naming.NAMESPACE, "namespace.yaml"),
        ("GitRepository", naming.GIT_REPOSITORY, None),
    ):
        if (kind, name) not in now and (kind, name) in rendered:
            # Made by hand outside git: once the program renders it, reverting the move would
            # have Flux prune it (and with the Namespace, everything in it).
            patches.append(
                {
                    "target": {"kind": kind, "name": name},
                    "mergePatch": {"metadata": {"annotations": {PRUNE_ANNOTATION: "disabled"}}},
                }
            )
            notes.append(
                f"{kind}/{name} is not in the hand-made tree{f' ({why})' if why else ''}: it is "
                f"rendered with {PRUNE_ANNOTATION}: disabled, so that reverting the move leaves "
                "it on the cluster; drop that patch once the move is settled"
            )
    if patches:
        config["patches"] = patches

    try:
        final_settings = _parse(config, root)
        final = ClusterObjects.of(final_settings)
    except ConfigError as error:
        raise AdoptRefused(
            [
                f"{cluster}: a field of the hand-made objects that no setting expresses cannot be "
                f"kept as a patch: {p}"
                for p in error.problems
            ]
        ) from None
    rendered = _rendered(final)
    problems = []
    for key, handmade_object in sorted(now.items()):
        lost = [
            op["path"]
            for op in kept_fields(handmade_object, rendered.get(key, {}))
            if not _unpatchable(key[0], op["path"])
        ]
        if lost:
            problems.append(f"{key[0]}/{key[1]}: not reproduced: {', '.join(lost)}")
    sealed = handmade.built.get(("SealedSecret", naming.SECRET))
    sealed_rendered = (
        sealed_secret(final_settings, final_settings.sealed_secrets) if sealed else None
    )
    if sealed is not None and sealed_rendered is not None:
        lost = [op["path"] for op in kept_fields(without_nulls(sealed), sealed_rendered)]
        if lost:
            file = handmade.written[("SealedSecret", naming.SECRET)].file
            problems.append(
                f"{file}: SealedSecret/{naming.SECRET} holds {', '.join(lost)}, which no "
                "setting expresses and no patch may change (the SealedSecret is never patched)"
            )
    if problems:
        raise AdoptRefused(problems)

    changes = []
    for key in sorted(rendered):
        before = now.get(key, {})
        changes += _changes(key, before, rendered[key])
    if sealed is not None and sealed_rendered is not None:
        changes += _changes(("SealedSecret", naming.SECRET), without_nulls(sealed), sealed_rendered)
    if final_settings.delivery == "gitops":
        changes.append(
            Change(
                "ServiceAccount",
                fleet_identity.SERVICE_ACCOUNT,
                "add",
                "",
                "the fleet tool's identity, with its RBAC and admission policy (new objects)",
            )
        )

    result = Plan(
        stack,
        cluster,
        gitops,
        handmade,
        _qualified(config),
        patches,
        kept,
        changes,
        notes,
        others,
        remove_shared=not others,
    )
    _gitops_changes(result, final_settings)
    return result


def _changes(key: Key, before: Any, after: Any) -> list[Change]:
    if not before:
        # Made by hand outside git, or not at all: from now on in git, as the program renders it.
        return [Change(key[0], key[1], "add", "", "rendered into git; a live one is taken over")]
    found = []
    for op in jsonpatch.make_patch(before, after):
        value = op.get("value")
        if value == CHECKSUM_PENDING:
            value = "(digest of hecate-config and hecate-secrets)"
        previous = None
        if op["op"] == "replace":
            previous = jsonpointer.resolve_pointer(before, op["path"], None)
        found.append(Change(key[0], key[1], op["op"], op["path"], value, previous))
    return found


def _gitops_changes(result: Plan, final: Settings) -> None:
    """The files adopt writes and removes in the checkout (beside what `make up` renders)."""
    handmade = result.handmade
    rendered_sync = f"{final.flux_dir}/hecate-kustomization.yaml"
    rendered_source = f"{final.flux_dir}/hecate-gitrepository.yaml"
    # `make up` writes these paths; a hand-made object anywhere else would be declared twice.
    for document, path in ((handmade.sync, rendered_sync), (handmade.source, rendered_source)):
        if document is None:
            continue
        if document.file in handmade.crowded_files:
            kind, name = document.key
            raise AdoptRefused(
                [
                    f"{document.file}: holds other objects beside {kind}/{name}; put them in "
                    "files of their own first (the program writes this object alone)"
                ]
            )
        if document.file != path:
            result.remove.append(document.file)
            result.notes.append(
                f"{document.file}: removed; the program renders {document.key[0]}/"
                f"{document.key[1]} as {path}"
            )
    shared = handmade.shared_dir
    below = os.path.commonpath([shared, final.workloads_dir]) == shared
    if result.remove_shared:
        result.remove += [f for f in handmade.shared_files if f not in result.remove]
    elif below and not handmade.has_kustomize_file:
        listing = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(f, shared) for f in handmade.shared_files],
        }
        result.write[f"{shared}/kustomization.yaml"] = SHARED_KUSTOMIZATION_HEADER + yaml.safe_dump(
            listing, sort_keys=False
        )
