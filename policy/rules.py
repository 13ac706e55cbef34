"""The rules of the hecate policy pack, as plain functions over a resource's properties.

Each returns the violations it finds as messages ([] when the resource complies),
so the same code is unit-tested directly and wrapped as policies in __main__.py.
Properties are Kubernetes objects as the program declares them (camelCase), and resource
types are Kubernetes types (`kubernetes:apps/v1:DaemonSet`): `object_type` maps the type of
an object rendered into the gitops tree to the type it has on a cluster.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

ALLOWED_HOST_PATHS = ("/run/hecate", "/var/lib/hecate")
HOST_NETWORK_WORKLOAD = ("kubernetes:apps/v1:DaemonSet", "hecate", "hecate-daemon")
GIT_REPOSITORY = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
SECRET = "kubernetes:core/v1:Secret"
PROVIDER = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Provider"
ALERT = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Alert"
# Provider types whose inline address is itself a credential (a webhook anyone can post to).
_WEBHOOK_IS_CREDENTIAL = ("slack", "msteams", "discord", "googlechat", "webex", "rocket")
# Provider types that post commit statuses: their token is required, and only from a Secret.
_FORGES = ("github", "gitlab", "gitea", "bitbucket", "bitbucketserver", "azuredevops")
# hecate/rendered_manifest.py types each rendered file by its object's kind under this prefix.
RENDERED = "pulumi-python:dynamic/gitops/"

_WORKLOADS = {
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VERSION_TAG = re.compile(r":v?\d+(\.\d+){0,2}([-.+][0-9A-Za-z.-]+)?$")


def object_type(resource_type: str) -> str:
    """The Kubernetes type of an object, applied to a cluster or rendered into the gitops tree."""
    if resource_type.startswith(RENDERED):
        return "kubernetes:" + resource_type[len(RENDERED) :]
    return resource_type


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = _WORKLOADS.get(resource_type)
    spec = _get(props, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def _containers(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        yield from (c for c in spec.get(key) or [] if isinstance(c, Mapping))


def _where(props: Mapping[str, Any]) -> str:
    metadata = props.get("metadata") or {}
    return f"{metadata.get('namespace', 'default')}/{metadata.get('name', '?')}"


PodCheck = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]


def _on_pods(check: PodCheck) -> Callable[[str, Mapping[str, Any]], list[str]]:
    """A rule about pods: it sees the pod spec of any workload; other resources comply."""

    @functools.wraps(check)
    def rule(resource_type: str, props: Mapping[str, Any]) -> list[str]:
        spec = pod_spec(resource_type, props)
        return [] if spec is None else check(resource_type, props, spec)

    return rule


@_on_pods
def pinned_images(
    resource_type: str, props: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[str]:
    problems = []
    for container in _containers(spec):
        image = container.get("image")
        if not isinstance(image, str):
            continue  # unknown during preview
        if not (_DIGEST.search(image) or _VERSION_TAG.search(image.rsplit("/", 1)[-1])):
            problems.append(
                f"{_where(props)}: container {container.get('name')!r} image {image!r} "
                "is not pinned to a version tag or a digest"
            )
    return problems


@_on_pods
def resources_and_probes(
    resource_type: str, props: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[str]:
    problems = []
    for container in spec.get("containers") or []:
        name = container.get("name")
        for section in ("requests", "limits"):
            for kind in ("cpu", "memory"):
                if not _get(container, "resources", section, kind):
                    problems.append(
                        f"{_where(props)}: container {name!r} has no {kind} {section[:-1]}"
                    )
        for probe in ("livenessProbe", "readinessProbe"):
            if not container.get(probe):
                problems.append(f"{_where(props)}: container {name!r} has no {probe}")
    return problems


@_on_pods
def host_access(resource_type: str, props: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    problems = []
    for volume in spec.get("volumes") or []:
        path = _get(volume, "hostPath", "path")
        if path is not None and path not in ALLOWED_HOST_PATHS:
            problems.append(
                f"{_where(props)}: hostPath volume {volume.get('name')!r} mounts {path!r}; "
                f"only {', '.join(ALLOWED_HOST_PATHS)} are allowed"
            )
    metadata = props.get("metadata") or {}
    identity = (resource_type, metadata.get("namespace"), metadata.get("name"))
    if spec.get("hostNetwork") and identity != HOST_NETWORK_WORKLOAD:
        problems.append(
            f"{_where(props)}: hostNetwork is allowed only on the hecate daemon "
            "(hecate/hecate-daemon)"
        )
    return problems


def plaintext_secret(resource_type: str) -> list[str]:
    """A core/v1 Secret rendered into the gitops tree would put its data in git (raw type)."""
    if resource_type.startswith(RENDERED) and object_type(resource_type) == SECRET:
        return [
            "a plaintext Secret in gitops delivery; "
            "seal it (hecate:apiKeys or hecate:sealedSecrets)"
        ]
    return []


def git_source(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != GIT_REPOSITORY:
        return []
    url = _get(props, "spec", "url")
    if isinstance(url, str) and not url.startswith(("ssh://", "https://")) and not _loopback(url):
        return [
            f"{_where(props)}: GitRepository URL {url!r} is neither ssh:// nor https:// "
            "(http:// only on a loopback host)"
        ]
    return []


def _loopback(url: str) -> bool:
    """http:// to this machine: a local test bed's git server, which no traffic leaves."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme != "http":
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def kustomization(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != KUSTOMIZATION:
        return []
    spec = props.get("spec") or {}
    problems = []
    if spec.get("prune") is not True:
        problems.append(
            f"{_where(props)}: prune must be true, so objects removed from git leave the cluster"
        )
    covered = spec.get("wait") is True or any(
        check.get("kind") == "DaemonSet" and check.get("name") == "hecate-daemon"
        for check in spec.get("healthChecks") or []
        if isinstance(check, Mapping)
    )
    if not covered:
        problems.append(
            f"{_where(props)}: needs a health check (or wait: true) "
            "covering DaemonSet hecate-daemon"
        )
    return problems


def notification_provider(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A Provider's address carries no credential and goes over https (http only to this
    machine); a chat webhook's URL and a forge's token come from its Secret."""
    if resource_type != PROVIDER:
        return []
    spec = props.get("spec") or {}
    kind, address = spec.get("type"), spec.get("address")
    problems = []
    if isinstance(address, str) and address:
        try:
            parts = urlsplit(address)
            credential = bool(parts.username or parts.password)
        except ValueError:
            parts, credential = None, False
        if credential:
            problems.append(
                f"{_where(props)}: the address holds a credential, which would be in git; "
                "put it in the Secret named by secretRef"
            )
        if parts is None or not (parts.scheme == "https" or _loopback(address)):
            problems.append(
                f"{_where(props)}: address {address!r} is not https:// "
                "(http:// only on a loopback host)"
            )
        if kind in _WEBHOOK_IS_CREDENTIAL:
            problems.append(
                f"{_where(props)}: a {kind} webhook URL is a credential; it goes in the "
                "Secret named by secretRef, not in the address"
            )
    if kind in _FORGES and not _get(spec, "secretRef", "name"):
        problems.append(f"{_where(props)}: a {kind} commit status needs secretRef (its token)")
    return problems


def alert_provider_declared(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Every Alert's providerRef names a Provider the same stack declares, in its namespace."""
    resources = list(resources)
    declared = _declared(resources, PROVIDER)
    problems = []
    for resource_type, props in resources:
        if resource_type != ALERT:
            continue
        name = _get(props, "spec", "providerRef", "name")
        namespace = _get(props, "metadata", "namespace") or "default"
        if (namespace, name) not in declared:
            problems.append(
                f"{_where(props)}: providerRef {name!r} is not a Provider this stack declares"
            )
    return problems


def _declared(resources: list[tuple[str, Mapping[str, Any]]], kind: str) -> set[tuple[str, Any]]:
    """(namespace, name) of every object of type `kind` the stack declares."""
    return {
        (_get(p, "metadata", "namespace") or "default", _get(p, "metadata", "name"))
        for t, p in resources
        if t == kind
    }


def source_declared(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Every Kustomization's sourceRef names a GitRepository the same stack declares."""
    resources = list(resources)
    declared = _declared(resources, GIT_REPOSITORY)
    problems = []
    for resource_type, props in resources:
        if resource_type != KUSTOMIZATION:
            continue
        ref = _get(props, "spec", "sourceRef") or {}
        namespace = ref.get("namespace") or _get(props, "metadata", "namespace") or "default"
        if ref.get("kind") != "GitRepository" or (namespace, ref.get("name")) not in declared:
            problems.append(
                f"{_where(props)}: sourceRef {ref!r} is not a GitRepository this stack declares"
            )
    return problems


@_on_pods
def hardened_containers(
    resource_type: str, props: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[str]:
    problems = []
    pod_seccomp = _get(spec, "securityContext", "seccompProfile", "type")
    tmp_volumes = {v.get("name") for v in spec.get("volumes") or [] if "emptyDir" in v}
    for container in _containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(
                f"{_where(props)}: container {name!r} should set allowPrivilegeEscalation: false"
            )
        if "ALL" not in (_get(context, "capabilities", "drop") or []):
            problems.append(f"{_where(props)}: container {name!r} should drop ALL capabilities")
        if (_get(context, "seccompProfile", "type") or pod_seccomp) != "RuntimeDefault":
            problems.append(
                f"{_where(props)}: container {name!r} should use the RuntimeDefault seccomp profile"
            )
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(
                f"{_where(props)}: container {name!r} should have a read-only root filesystem"
            )
        elif not any(
            m.get("mountPath") == "/tmp" and m.get("name") in tmp_volumes
            for m in container.get("volumeMounts") or []
        ):
            problems.append(
                f"{_where(props)}: container {name!r} has a read-only root but no emptyDir at /tmp"
            )
    return problems
