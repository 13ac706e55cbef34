"""`python -m hecate adopt --stack beam`: a cluster deployed by hand from the deployment guide
moves under the program, with nothing on the cluster deleted and its sealed keys kept.

It reads the cluster's hand-made tree (hecate/handmade_tree.py) and writes Pulumi.<stack>.yaml
so that the program renders the same objects:
- what a setting expresses becomes that setting; the sealed values are copied as they are
  (nothing is decrypted or sealed again: the controller opens the same ciphertext);
- every other field of the hand-made objects becomes a `hecate:patches` entry, checked to
  reproduce it exactly, or adopt refuses; no field is dropped;
- it prints what the first `make up` will change on the cluster (labels, hardening, the digest
  annotation, the per-cluster path).

In the gitops checkout it keeps the clusters still on the shared layout working: the shared
directory gets a kustomization.yaml listing its own files (else Flux's generated one would take
in the per-cluster directories below it), and the shared files go with the last cluster to move
(or `--remove-shared`). Every check runs before anything is written.

Exit status: 0 written (or, with --dry-run, would be), 1 refused, 2 usage.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from . import fleet_access, naming, settings
from .cluster import ClusterObjects
from .daemon import CHECKSUM_PENDING
from .handmade_tree import (
    HandmadeCluster,
    Key,
    TreeRefused,
    read,
    shared_files,
    users,
)
from .project import over_project, stack_config, stack_file_config, stack_file_document
from .sealed_secrets import sealed_secret
from .settings import ConfigError, Settings

# Flux leaves an object with this annotation on the cluster when it leaves the inventory.
PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune"
SCOPE_ANNOTATION = "sealedsecrets.bitnami.com/"
SHARED_KUSTOMIZATION_HEADER = (
    "# Written by `hecate adopt`: the shared manifests of the guide's layout, listed so\n"
    "# that Flux builds only these for the clusters still synced from here, and not the\n"
    "# per-cluster directories below. Removed with them when the last cluster moves.\n"
)


class AdoptRefused(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    op: str
    path: str
    value: Any = None
    before: Any = None

    def line(self) -> str:
        sign = {"add": "+", "remove": "-", "replace": "~"}.get(self.op, self.op)
        text = f"{sign} {self.kind}/{self.name} {self.path}"
        if self.op == "replace":
            return f"{text}: {_short(self.before)} → {_short(self.value)}"
        return f"{text}: {_short(self.value)}" if self.op == "add" else text


@dataclass
class Plan:
    stack: str
    cluster: str
    gitops: Path
    handmade: HandmadeCluster
    config: dict[str, Any]  # the stack's hecate: settings, fully qualified
    patches: list[dict[str, Any]]
    kept_by_patch: list[Change]  # hand-made fields no setting expresses
    changes: list[Change]  # what the first `make up` changes on the cluster
    notes: list[str]
    shared_users: list[str]  # clusters other than this one still on the shared files
    remove_shared: bool
    write: dict[str, str] = field(default_factory=dict)  # path (gitops-relative) → text
    remove: list[str] = field(default_factory=list)  # gitops-relative


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 72 else f"{text[:69]}..."


def _escape(key: Any) -> str:
    return str(jsonpointer.escape(str(key)))


def kept_fields(handmade: Any, rendered: Any, path: str = "") -> list[dict[str, Any]]:
    """JSON Patch operations that put every field of `handmade` into `rendered`, leaving the
    fields only `rendered` has. Lists of named objects (containers, volumes, mounts) are matched
    by name; other lists are kept whole. Nulls (kubeseal's `creationTimestamp: null`) mean
    nothing to the API server and are skipped."""
    if isinstance(handmade, dict) and isinstance(rendered, dict):
        ops = []
        for key, value in handmade.items():
            if value is None:
                continue
            where = f"{path}/{_escape(key)}"
            if key not in rendered:
                ops.append({"op": "add", "path": where, "value": without_nulls(value)})
            else:
                ops += kept_fields(value, rendered[key], where)
        return ops
    if _named_list(handmade) and _named_list(rendered):
        ops, index = [], {item["name"]: i for i, item in enumerate(rendered)}
        for item in handmade:
            if item["name"] in index:
                ops += kept_fields(
                    item, rendered[index[item["name"]]], f"{path}/{index[item['name']]}"
                )
            else:
                ops.append({"op": "add", "path": f"{path}/-", "value": without_nulls(item)})
        return ops
    if _comparable(handmade) != _comparable(rendered):
        return [{"op": "replace", "path": path, "value": without_nulls(handmade)}]
    return []


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        # A Kubernetes name is text; a list whose `name`s are anything else is kept whole.
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    )


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _comparable(value: Any) -> Any:
    """YAML's `5` and `"5"` for a quantity or port are the same to the API server; quantities
    are compared as written, as the program renders them."""
    return without_nulls(value)


def _container(daemon: dict[str, Any], file: str) -> dict[str, Any]:
    containers = daemon.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    found = [c for c in containers if c.get("name") == "daemon"]
    if not found:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise AdoptRefused(
            [
                f"{file}: DaemonSet/{naming.DAEMON} has no container named `daemon` (the guide's; "
                f"it has {names}); the program's container is `daemon`"
            ]
        )
    return found[0]


def _image(reference: str, file: str) -> tuple[str, str]:
    if "@" in reference:
        raise AdoptRefused(
            [
                f"{file}: image {reference!r} is pinned by digest; hecate:version is a tag: "
                "write the tag the digest stands for in the hand-made file first"
            ]
        )
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise AdoptRefused([f"{file}: image {reference!r} has no tag; hecate:version is the tag"])
    return repository, tag


def _socket_readiness(probe: Any) -> dict[str, Any] | None:
    """The guide's socket probe as hecate:readinessProbe (Kubernetes' defaults where it has none,
    so the pods are probed as before); None for any other probe, which a patch keeps."""
    if not isinstance(probe, dict) or probe.get("exec", {}).get("command") != [
        "test",
        "-S",
        naming.SOCKET,
    ]:
        return None
    numbers = {
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    known = {k: probe.get(k, default) for k, default in numbers.items()}
    if set(probe) - {"exec", *numbers}:
        return None
    return {"check": "socket", **known}


def _settings_from(handmade: HandmadeCluster) -> tuple[dict[str, Any], list[str]]:
    """What the settings express of the hand-made objects, as short keys, and notes."""
    built, notes = handmade.built, []
    config: dict[str, Any] = {"cluster": handmade.cluster}
    daemon_doc = handmade.written[("DaemonSet", naming.DAEMON)]
    daemon = built[("DaemonSet", naming.DAEMON)]
    container = _container(daemon, daemon_doc.file)
    repository, tag = _image(str(container.get("image", "")), daemon_doc.file)
    config["version"] = tag
    if repository != settings.DEFAULT_IMAGE:
        config["image"] = repository
    pod = daemon["spec"]["template"]["spec"]
    if resources := container.get("resources"):
        default = copy.deepcopy(settings.DEFAULT_RESOURCES)
        merged = {
            side: {**default[side], **{k: str(v) for k, v in (resources.get(side) or {}).items()}}
            for side in ("requests", "limits")
        }
        if merged != default:
            config["resources"] = merged
    rolling = (daemon["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
    if "maxUnavailable" in rolling and rolling["maxUnavailable"] != 1:
        config["maxUnavailable"] = rolling["maxUnavailable"]
    if (probe := _socket_readiness(container.get("readinessProbe"))) is not None:
        config["readinessProbe"] = probe
        notes.append(
            "the hand-made readiness probe checks that the socket exists, kept as "
            "hecate:readinessProbe {check: socket}; once the move is settled, `check: health` "
            "makes Ready the daemon's own health check (docs/operations.md, the gate)"
        )
    for key, name in (("tolerations", "tolerations"), ("nodeSelector", "nodeSelector")):
        if pod.get(key):
            config[name] = pod[key]
    if pod.get("priorityClassName"):
        config["priorityClassName"] = pod["priorityClassName"]
    if pod.get("imagePullSecrets"):
        config["imagePullSecrets"] = [s.get("name") for s in pod["imagePullSecrets"]]

    data = dict((built.get(("ConfigMap", naming.CONFIG_MAP)) or {}).get("data") or {})
    if data.get("OLLAMA_HOST", settings.DEFAULT_OLLAMA_HOST) != settings.DEFAULT_OLLAMA_HOST:
        config["ollamaHost"] = data["OLLAMA_HOST"]
    if data.get("HECATE_LOG_LEVEL", "info") != "info":
        config["logLevel"] = data["HECATE_LOG_LEVEL"]
    extra = {k: v for k, v in data.items() if k not in settings.CONFIG_MAP_KEYS}
    if extra:
        config["env"] = extra

    if sealed := built.get(("SealedSecret", naming.SECRET)):
        config["sealedSecrets"] = dict(sealed.get("spec", {}).get("encryptedData") or {})
        annotations = sealed.get("metadata", {}).get("annotations") or {}
        for scope in ("namespace-wide", "cluster-wide"):
            if annotations.get(f"{SCOPE_ANNOTATION}{scope}") == "true":
                config["sealingScope"] = scope

    spec = handmade.sync.manifest.get("spec", {})
    if spec.get("timeout"):
        config["healthTimeout"] = spec["timeout"]
    source_ref = spec.get("sourceRef") or {}
    if (source_ref.get("kind"), source_ref.get("name")) != ("GitRepository", naming.GIT_REPOSITORY):
        raise AdoptRefused(
            [
                f"{handmade.sync.file}: Kustomization/{naming.KUSTOMIZATION} syncs from "
                f"{source_ref.get('kind')}/{source_ref.get('name')}; the program's source is "
                f"GitRepository/{naming.GIT_REPOSITORY}, as in the guide"
            ]
        )
    if handmade.source is not None:
        source = handmade.source.manifest.get("spec", {})
        ref = source.get("ref") or {}
        if set(ref) - {"branch"}:
            raise AdoptRefused(
                [
                    f"{handmade.source.file}: GitRepository/{naming.GIT_REPOSITORY} follows "
                    f"{', '.join(sorted(set(ref) - {'branch'}))}; hecate:gitops follows a branch"
                ]
            )
        gitops = {"url": source.get("url"), "branch": ref.get("branch", "master")}
        if source.get("interval"):
            gitops["interval"] = source["interval"]
        gitops["secretRef"] = (source.get("secretRef") or {}).get("name", "")
        config["gitops"] = gitops
    else:
        notes.append(
            f"GitRepository flux-system/{naming.GIT_REPOSITORY} is not in the tree (made by hand): "
            f"the program renders clusters/{handmade.cluster}/hecate-gitrepository.yaml from "
            "hecate:gitops, which must name the same repository, branch and secretRef as the "
            "live one (`kubectl get gitrepository -n flux-system hecate-gitops -o yaml`)"
        )
    return config, notes


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
    return kind == "DaemonSet" and path.endswith(f"/annotations/{_escape(naming.CONFIG_CHECKSUM)}")


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
    config, notes = _settings_from(handmade)
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
        lost = [op["path"] for op in kept_fields(_comparable_sealed(sealed), sealed_rendered)]
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
        changes += _changes(
            ("SealedSecret", naming.SECRET), _comparable_sealed(sealed), sealed_rendered
        )
    if final_settings.delivery == "gitops":
        changes.append(
            Change(
                "ServiceAccount",
                fleet_access.SERVICE_ACCOUNT,
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


def _comparable_sealed(sealed: dict[str, Any]) -> dict[str, Any]:
    """The SealedSecret as the program sees it: kubeseal's empty template fields dropped."""
    return without_nulls(sealed)


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


def remove_shared_only(gitops: Path, shared_dir: str) -> list[str]:
    """`adopt --remove-shared` without a stack: the shared files, once no cluster syncs them."""
    still = users(gitops, shared_dir)
    if still:
        raise AdoptRefused(
            [
                f"--remove-shared: {shared_dir}/ is still synced by {', '.join(still)} "
                f"({', '.join(f'clusters/{c}/' for c in still)}); adopt those first"
            ]
        )
    return shared_files(gitops, shared_dir)


def stack_file_text(path: Path, result: Plan) -> str:
    """Pulumi.<stack>.yaml with the adopted settings: other top-level keys and config of other
    namespaces (secretsprovider, kubernetes:context) kept."""
    current = stack_file_document(path)
    config = {k: v for k, v in (current.get("config") or {}).items() if not k.startswith("hecate:")}
    document = {
        **{k: v for k, v in current.items() if k != "config"},
        "config": {**result.config, **config},
    }
    header = (
        f"# {result.cluster}: adopted from its hand-made tree ({result.handmade.sync.file}) by "
        "`hecate adopt`.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1 << 16)


def existing_settings(path: Path) -> list[str]:
    config = stack_file_config(path)
    return sorted(k for k in config if k.startswith("hecate:") and k != "hecate:cluster")


def apply(result: Plan, stack_path: Path) -> None:
    """Write everything, each file whole (a temporary file renamed over it)."""
    writes = {stack_path: stack_file_text(stack_path, result)}
    writes.update({result.gitops / p: text for p, text in result.write.items()})
    for path, text in writes.items():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    for relative in result.remove:
        (result.gitops / relative).unlink(missing_ok=True)


def _display(key: str, value: Any) -> str:
    if key == "hecate:sealedSecrets":
        return ", ".join(sorted(value)) + " (copied sealed)"
    if key == "hecate:patches":
        return f"{len(value)} patch(es), below"
    return _short(value)


def report(result: Plan, stack_path: Path, dry_run: bool) -> str:
    handmade = result.handmade
    lines = [
        f"{'Would adopt' if dry_run else 'Adopted'} {result.cluster} into stack {result.stack}: "
        f"{handmade.sync.file} syncs ./{handmade.shared_dir}",
        "",
        f"Settings ({stack_path.name})",
    ]
    width = max(len(k) for k in result.config)
    lines += [f"  {k.ljust(width)}  {_display(k, v)}" for k, v in result.config.items()]
    if result.kept_by_patch:
        lines += ["", "Fields no setting expresses, kept as hecate:patches"]
        lines += [f"  {c.line()}" for c in result.kept_by_patch]
    lines += ["", "What the first `make up` changes on the cluster"]
    lines += [f"  {c.line()}" for c in result.changes] or ["  nothing"]
    lines += ["", f"Shared files of {handmade.shared_dir}/"]
    if result.remove_shared:
        lines.append(f"  removed (no other cluster syncs them): {', '.join(handmade.shared_files)}")
    else:
        lines.append(f"  kept: still synced by {', '.join(result.shared_users)}")
        lines += [f"  written: {p}" for p in result.write]
    for note in result.notes:
        lines.append(f"note: {note}")
    directories = sorted({f"clusters/{result.cluster}", handmade.shared_dir})
    lines += [
        "",
        f"Next: `make up STACK={result.stack}`, then one commit of {' and '.join(directories)} "
        "in the gitops checkout, pushed: that commit moves the cluster.",
    ]
    return "\n".join(lines)


def as_json(result: Plan, dry_run: bool) -> dict[str, Any]:
    def change(c: Change) -> dict[str, Any]:
        return {"object": f"{c.kind}/{c.name}", "op": c.op, "path": c.path, "value": c.value}

    config = {
        k: (sorted(v) if k == "hecate:sealedSecrets" else v) for k, v in result.config.items()
    }
    return {
        "stack": result.stack,
        "cluster": result.cluster,
        "dryRun": dry_run,
        "from": result.handmade.sync.file,
        "settings": config,
        "keptByPatch": [change(c) for c in result.kept_by_patch],
        "changes": [change(c) for c in result.changes],
        "shared": {
            "dir": result.handmade.shared_dir,
            "files": list(result.handmade.shared_files),
            "removed": result.remove_shared,
            "usedBy": result.shared_users,
        },
        "written": sorted(result.write),
        "removed": sorted(result.remove),
        "notes": result.notes,
    }


def _cluster_of(stack_path: Path, given: str | None) -> str:
    named = None
    if stack_path.is_file():
        named = stack_file_config(stack_path).get("hecate:cluster")
    if given and named and given != named:
        raise AdoptRefused(
            [f"--cluster {given!r}: {stack_path.name} already names hecate:cluster {named!r}"]
        )
    if not (given or named):
        raise AdoptRefused(
            [f"no cluster: {stack_path.name} sets no hecate:cluster; name it with --cluster"]
        )
    return str(given or named)


def _gitops_dir(root: Path, stack: str, given: Path | None) -> Path:
    if given is not None:
        return given
    try:
        configured = stack_config(root, stack).get("hecate:gitopsDir", "./gitops")
    except FileNotFoundError:
        configured = "./gitops"
    return root / str(configured)


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="hecate adopt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--stack", help="the stack to write, e.g. beam (Pulumi.beam.yaml)")
    command.add_argument("--cluster", help="the cluster (default: the stack file's hecate:cluster)")
    command.add_argument(
        "--gitops", type=Path, help="the gitops checkout (default: the stack's hecate:gitopsDir)"
    )
    command.add_argument("--root", type=Path, default=Path.cwd(), help="the project (default: .)")
    command.add_argument(
        "--overwrite", action="store_true", help="replace the settings the stack file has"
    )
    command.add_argument(
        "--remove-shared",
        action="store_true",
        help="remove the shared files of the guide's layout (refused while a cluster syncs them)",
    )
    command.add_argument(
        "--shared-dir", default="infrastructure/hecate", help="with --remove-shared alone"
    )
    command.add_argument("--dry-run", action="store_true", help="print, write nothing")
    command.add_argument("--json", action="store_true", help="the result as JSON")
    return command


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.stack is None:
            if not args.remove_shared:
                options.error("--stack is required (or --remove-shared alone)")
            gitops = (args.gitops or root / "gitops").resolve()
            files = remove_shared_only(gitops, os.path.normpath(args.shared_dir))
            if not args.dry_run:
                for relative in files:
                    (gitops / relative).unlink()
            print(
                json.dumps({"removed": files})
                if args.json
                else "\n".join(
                    f"{'would remove' if args.dry_run else 'removed'} {f}" for f in files
                )
                or "nothing to remove"
            )
            return 0
        stack_path = root / f"Pulumi.{args.stack}.yaml"
        cluster = _cluster_of(stack_path, args.cluster)
        already = existing_settings(stack_path)
        if already and not args.overwrite:
            raise AdoptRefused(
                [
                    f"{stack_path.name} already has settings ({', '.join(already)}); adopt writes "
                    "them from the hand-made tree: pass --overwrite to replace them"
                ]
            )
        gitops = _gitops_dir(root, args.stack, args.gitops).resolve()
        result = plan(root, gitops, args.stack, cluster, args.remove_shared)
        if not args.dry_run:
            apply(result, stack_path)
    except (AdoptRefused, TreeRefused) as error:
        for problem in error.problems:
            print(f"adopt: {problem}", file=sys.stderr)
        print("adopt: nothing written", file=sys.stderr)
        return 1
    print(
        json.dumps(as_json(result, args.dry_run), indent=2)
        if args.json
        else report(result, stack_path, args.dry_run)
    )
    return 0
