"""The hand-made objects read back: what the settings express of them (defaults from the
Settings table), and JSON Patch operations for every other field."""

from __future__ import annotations

import copy
from typing import Any

import jsonpointer

from .. import naming, settings
from ..handmade_tree import (
    HandmadeCluster,
)
from .model import SCOPE_ANNOTATION, AdoptRefused


def escape(key: Any) -> str:
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
            where = f"{path}/{escape(key)}"
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
    if without_nulls(handmade) != without_nulls(rendered):
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


def settings_from(handmade: HandmadeCluster) -> tuple[dict[str, Any], list[str]]:
    """What the settings express of the hand-made objects, as short keys, and notes."""
    built, notes = handmade.built, []
    config: dict[str, Any] = {"cluster": handmade.cluster}
    daemon_doc = handmade.written[("DaemonSet", naming.DAEMON)]
    daemon = built[("DaemonSet", naming.DAEMON)]
    container = _container(daemon, daemon_doc.file)
    repository, tag = _image(str(container.get("image", "")), daemon_doc.file)
    config["version"] = tag
    if repository != settings.default("image"):
        config["image"] = repository
    pod = daemon["spec"]["template"]["spec"]
    if resources := container.get("resources"):
        default = copy.deepcopy(settings.default("resources"))
        merged = {
            side: {**default[side], **{k: str(v) for k, v in (resources.get(side) or {}).items()}}
            for side in ("requests", "limits")
        }
        if merged != default:
            config["resources"] = merged
    rolling = (daemon["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
    if "maxUnavailable" in rolling and rolling["maxUnavailable"] != settings.default(
        "maxUnavailable"
    ):
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
    ollama = settings.default("ollamaHost")
    if data.get("OLLAMA_HOST", ollama) != ollama:
        config["ollamaHost"] = data["OLLAMA_HOST"]
    log_level = settings.default("logLevel")
    if data.get("HECATE_LOG_LEVEL", log_level) != log_level:
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
