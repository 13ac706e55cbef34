"""The settings' value types, their constants and the error every bad value is reported in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


DEFAULT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1000m", "memory": "1Gi"},
}
