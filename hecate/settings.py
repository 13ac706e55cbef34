"""Stack settings: the `hecate:` config of one cluster stack, parsed once.

Everything the program needs from configuration is read here, validated as a
whole, and handed on as frozen objects; the rest of the code never reads raw
config. A bad stack never gets as far as declaring a resource: `parse` reports
every problem at once, each naming the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from . import sealing

NAMESPACE = "hecate"  # config namespace, as in `hecate:version`

DEFAULT_IMAGE = "ghcr.io/hecate-social/hecate-daemon"
DEFAULT_OLLAMA_HOST = "http://localhost:11434"
LOG_LEVELS = ("debug", "info", "warn", "error")
DELIVERIES = ("gitops", "direct")
MUTABLE_TAGS = ("latest", "stable", "main", "master", "edge", "nightly", "dev")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
# A registry host (with optional port) and path components, no tag or digest.
_IMAGE_REPOSITORY = re.compile(
    r"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What Flux accepts for `interval` (the CRD's pattern): Go durations without days.
_FLUX_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][-+]?[0-9]+)?$")
_QUANTITY_SUFFIX = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


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
    request_cpu: str = "100m"
    request_memory: str = "256Mi"
    limit_cpu: str = "1000m"
    limit_memory: str = "1Gi"


@dataclass(frozen=True)
class GitSource:
    """Where Flux pulls the rendered gitops tree from."""

    url: str
    branch: str = "main"
    interval: str = "1m"
    secret_ref: str | None = None


@dataclass(frozen=True)
class Settings:
    cluster: str
    version: str
    image: str = DEFAULT_IMAGE
    ollama_host: str = DEFAULT_OLLAMA_HOST
    log_level: str = "info"
    resources: ComputeResources = ComputeResources()
    max_unavailable: int | str = 1
    # Container hardening beyond the guide (no privilege escalation, no capabilities,
    # RuntimeDefault seccomp, read-only root with an emptyDir /tmp).
    hardened: bool = True
    delivery: str = "gitops"
    gitops_dir: str = "./gitops"
    gitops: GitSource | None = None
    sealed_secrets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # API keys the program seals itself, for the controller whose certificate this is.
    api_keys: Mapping[str, SecretText] = field(default_factory=lambda: MappingProxyType({}))
    sealing_cert: str | None = None
    sealing_scope: str = "strict"
    # From the `kubernetes:` namespace, used by `direct` delivery only.
    kube_context: str | None = None
    kubeconfig: str | None = None

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.version}"

    @property
    def workloads_dir(self) -> str:
        """Where the workload manifests are rendered, relative to the gitops root."""
        return f"infrastructure/hecate/{self.cluster}"

    @property
    def flux_dir(self) -> str:
        """Where Flux's bootstrap sync for this cluster looks (clusters/<name>)."""
        return f"clusters/{self.cluster}"


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.items.append(f"{NAMESPACE}:{key}: {_show(value)} {allowed}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def parse_quantity(text: str) -> Decimal | None:
    """A Kubernetes quantity as a number (cores or bytes), or None if malformed."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    number, suffix = match.group(1), match.group(3) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _QUANTITY_SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _decode(key: str, raw: Any, problems: _Problems, shape: str) -> Any:
    """Structured config arrives as JSON text from the engine; accept either."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        problems.add(key, raw, f"is not {shape}")
        return None


def _object(key: str, raw: Any, problems: _Problems, shape: str, allowed_keys: tuple[str, ...]):
    value = _decode(key, raw, problems, shape)
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(key, value, f"is not {shape}")
        return None
    for extra in sorted(set(value) - set(allowed_keys)):
        problems.add(f"{key}.{extra}", value[extra], f"is not a known field (allowed: {', '.join(allowed_keys)})")
    return value


def _string(key: str, value: Any, problems: _Problems, check: Callable[[str], bool], allowed: str):
    if not isinstance(value, str) or not check(value):
        problems.add(key, value, allowed)
        return None
    return value


def _parse_resources(raw: Any, problems: _Problems) -> ComputeResources:
    shape = "an object {requests: {cpu, memory}, limits: {cpu, memory}}"
    value = _object("resources", raw, problems, shape, ("requests", "limits"))
    if value is None:
        return ComputeResources()
    defaults = ComputeResources()
    parsed: dict[str, str] = {}
    for section in ("requests", "limits"):
        part = value.get(section, {})
        if not isinstance(part, dict):
            problems.add(f"resources.{section}", part, "is not an object {cpu, memory}")
            part = {}
        for extra in sorted(set(part) - {"cpu", "memory"}):
            problems.add(f"resources.{section}.{extra}", part[extra], "is not a known field (allowed: cpu, memory)")
        for kind in ("cpu", "memory"):
            attr = ("request_" if section == "requests" else "limit_") + kind
            quantity = part.get(kind, getattr(defaults, attr))
            if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
                quantity = str(quantity)
            if not isinstance(quantity, str) or parse_quantity(quantity) is None:
                problems.add(
                    f"resources.{section}.{kind}", quantity,
                    "is not a Kubernetes quantity (e.g. 100m or 1 for cpu, 256Mi or 1Gi for memory)",
                )
                continue
            parsed[attr] = quantity
    for kind in ("cpu", "memory"):
        request, limit = parsed.get(f"request_{kind}"), parsed.get(f"limit_{kind}")
        if request and limit and parse_quantity(limit) < parse_quantity(request):
            problems.add(f"resources.limits.{kind}", limit, f"is below its request {request!r}; a limit must be >= its request")
    return ComputeResources(**{**defaults.__dict__, **parsed})


def _valid_git_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("ssh", "https") and bool(parts.hostname) and parts.path not in ("", "/")


def _valid_branch(name: str) -> bool:
    # The git check-ref-format rules that matter for a branch name.
    return (
        bool(name)
        and not name.startswith(("-", "/"))
        and not name.endswith(("/", ".", ".lock"))
        and ".." not in name
        and "@{" not in name
        and not re.search(r"[\s~^:?*\[\\\x00-\x1f\x7f]", name)
    )


def _parse_gitops(raw: Any, problems: _Problems) -> GitSource | None:
    shape = "an object {url, branch, interval, secretRef}"
    if raw is None:
        problems.add("gitops", None, f"is required for gitops delivery: {shape}")
        return None
    value = _object("gitops", raw, problems, shape, ("url", "branch", "interval", "secretRef"))
    if value is None:
        return None
    url = _string("gitops.url", value.get("url"), problems, _valid_git_url,
                  "is not an ssh:// or https:// repository URL")
    branch = _string("gitops.branch", value.get("branch", "main"), problems, _valid_branch,
                     "is not a valid git branch name")
    interval = _string("gitops.interval", value.get("interval", "1m"), problems,
                       lambda s: bool(_FLUX_DURATION.match(s)),
                       "is not a Flux duration such as 30s, 1m or 1h30m")
    secret_ref = value.get("secretRef")
    if secret_ref is not None:
        secret_ref = _string("gitops.secretRef", secret_ref, problems,
                             lambda s: len(s) <= 253 and bool(_DNS_SUBDOMAIN.match(s)),
                             "is not a Secret name (a DNS-1123 subdomain)")
    if None in (url, branch, interval):
        return None
    return GitSource(url=url, branch=branch, interval=interval, secret_ref=secret_ref)


def _parse_sealed_secrets(raw: Any, problems: _Problems) -> Mapping[str, str]:
    shape = "an object mapping environment-variable names to values sealed with kubeseal"
    value = _decode("sealedSecrets", raw, problems, shape)
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        problems.add("sealedSecrets", value, f"is not {shape}")
        return MappingProxyType({})
    sealed: dict[str, str] = {}
    for name, ciphertext in sorted(value.items()):
        if not _ENV_NAME.match(name):
            problems.add(f"sealedSecrets.{name}", name,
                         "is not a valid environment-variable name ([A-Za-z_][A-Za-z0-9_]*)")
        elif not isinstance(ciphertext, str) or not _BASE64.match(ciphertext) or len(ciphertext) < 344:
            # RSA-2048 alone is 256 bytes, 344 base64 characters: anything shorter was not sealed.
            shown = ciphertext if not isinstance(ciphertext, str) else f"{ciphertext[:12]}..."
            problems.add(f"sealedSecrets.{name}", shown,
                         "is not a kubeseal-sealed value (base64 of at least 256 bytes); "
                         "seal it with `kubeseal --raw` or set it in hecate:apiKeys")
        else:
            sealed[name] = ciphertext
    return MappingProxyType(sealed)


def _parse_max_unavailable(raw: Any, problems: _Problems) -> int | str:
    allowed = "is not a positive number of nodes or a percentage 1%-100%"
    if isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        problems.add("maxUnavailable", raw, allowed)
        return 1
    if re.fullmatch(r"[0-9]+", text) and int(text) >= 1:
        return int(text)
    if re.fullmatch(r"[0-9]+%", text) and 1 <= int(text[:-1]) <= 100:
        return text
    problems.add("maxUnavailable", raw, allowed)
    return 1


FETCH_CERT = (
    "fetch the controller's certificate once per cluster: "
    "`kubeseal --fetch-cert > cert.pem && pulumi config set hecate:sealingCert -- \"$(cat cert.pem)\"`"
)


def _parse_sealing(raw: Mapping[str, Any], secret_keys: frozenset[str], sealed: Mapping[str, str],
                   problems: _Problems) -> tuple[Mapping[str, SecretText], str | None, str]:
    scope = _string("sealingScope", raw.get("sealingScope", "strict"), problems,
                    lambda s: s in sealing.SCOPES, f"is not one of {', '.join(sealing.SCOPES)}") or "strict"
    cert = raw.get("sealingCert")
    if cert is not None:
        if not isinstance(cert, str):
            problems.add("sealingCert", cert, "is not a PEM certificate (what `kubeseal --fetch-cert` prints)")
            cert = None
        else:
            try:
                sealing.load_certificate(cert)
            except sealing.CertificateError as error:
                problems.items.append(f"{NAMESPACE}:sealingCert: {_show(cert[:40] + '...')} {error}")
                cert = None

    keys_raw = raw.get("apiKeys")
    if keys_raw is None:
        return MappingProxyType({}), cert, scope
    # Never echo the value: problems name the key only.
    if "apiKeys" not in secret_keys:
        problems.items.append(
            f"{NAMESPACE}:apiKeys: is stored in plain text; set each key as a secret: "
            "`pulumi config set --secret --path 'hecate:apiKeys.OPENAI_API_KEY' sk-...`")
    try:
        keys = json.loads(keys_raw) if isinstance(keys_raw, str) else keys_raw
    except json.JSONDecodeError:
        keys = None
    if not isinstance(keys, dict):
        problems.items.append(f"{NAMESPACE}:apiKeys: is not an object mapping environment-variable names to keys")
        return MappingProxyType({}), cert, scope
    api_keys: dict[str, SecretText] = {}
    for name, value in sorted(keys.items()):
        if not _ENV_NAME.match(name):
            problems.add(f"apiKeys.{name}", name, "is not a valid environment-variable name ([A-Za-z_][A-Za-z0-9_]*)")
        elif not isinstance(value, str) or not value:
            problems.items.append(f"{NAMESPACE}:apiKeys.{name}: is not a non-empty string")
        elif name in sealed:
            problems.items.append(
                f"{NAMESPACE}:apiKeys.{name}: is also in hecate:sealedSecrets; keep {name} in one of them")
        else:
            api_keys[name] = SecretText(value)
    if keys and "sealingCert" not in raw:
        problems.items.append(f"{NAMESPACE}:apiKeys: is set but hecate:sealingCert is not; {FETCH_CERT}")
    return MappingProxyType(api_keys), cert, scope


def _parse_bool(key: str, raw: Any, problems: _Problems) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    problems.add(key, raw, "is not true or false")
    return True


KEYS = (
    "cluster", "version", "image", "ollamaHost", "logLevel", "resources", "maxUnavailable", "hardened",
    "delivery", "gitopsDir", "gitops", "sealedSecrets", "apiKeys", "sealingCert", "sealingScope",
)


def parse(raw: Mapping[str, Any], kube: Mapping[str, Any] | None = None,
          secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Settings from the `hecate:` config (short keys) and the `kubernetes:` config.

    `secret_keys` are the short keys the engine holds as secrets.
    Raises ConfigError listing every problem.
    """
    problems = _Problems()
    for key in sorted(set(raw) - set(KEYS)):
        shown = "***" if key in secret_keys else raw[key]
        problems.add(key, shown, f"is not a known setting (a typo?); known: {', '.join(KEYS)}")

    cluster = raw.get("cluster")
    if cluster is None:
        problems.items.append("hecate:cluster: is required: the cluster name, e.g. beam-cluster")
    else:
        cluster = _string("cluster", cluster, problems, lambda s: bool(_DNS_LABEL.match(s)),
                          "is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)")

    version = raw.get("version")
    if version is None:
        problems.items.append("hecate:version: is required: the daemon image tag, e.g. 0.7.2")
    elif isinstance(version, str) and version.lower() in MUTABLE_TAGS:
        problems.add("version", version, "is a mutable tag; pin a release version such as 0.7.2")
        version = None
    else:
        version = _string("version", version, problems, lambda s: bool(_VERSION.match(s)),
                          "is not a release version such as 0.7.2 (or 0.8.0-rc.1)")

    image = _string("image", raw.get("image", DEFAULT_IMAGE), problems,
                    lambda s: bool(_IMAGE_REPOSITORY.match(s)),
                    "is not an image repository without tag or digest, e.g. " + DEFAULT_IMAGE)

    def http_url(s: str) -> bool:
        parts = urlsplit(s)
        return parts.scheme in ("http", "https") and bool(parts.hostname)

    ollama_host = _string("ollamaHost", raw.get("ollamaHost", DEFAULT_OLLAMA_HOST), problems,
                          http_url, "is not an http:// or https:// URL")
    log_level = _string("logLevel", raw.get("logLevel", "info"), problems,
                        lambda s: s in LOG_LEVELS, f"is not one of {', '.join(LOG_LEVELS)}")
    delivery = _string("delivery", raw.get("delivery", "gitops"), problems,
                       lambda s: s in DELIVERIES, f"is not one of {', '.join(DELIVERIES)}")
    gitops_dir = _string("gitopsDir", raw.get("gitopsDir", "./gitops"), problems,
                         lambda s: bool(s.strip()) and ".." not in PurePosixPath(s).parts
                         and PurePosixPath(s) != PurePosixPath("/"),
                         "is not a directory path (relative to the project or absolute, without '..', "
                         "not the filesystem root)")
    resources = _parse_resources(raw.get("resources"), problems)
    max_unavailable = _parse_max_unavailable(raw.get("maxUnavailable", 1), problems)
    hardened = _parse_bool("hardened", raw.get("hardened", True), problems)
    gitops = (
        _parse_gitops(raw.get("gitops"), problems)
        if delivery == "gitops" or raw.get("gitops") is not None
        else None
    )
    sealed_secrets = _parse_sealed_secrets(raw.get("sealedSecrets"), problems)
    api_keys, sealing_cert, sealing_scope = _parse_sealing(raw, secret_keys, sealed_secrets, problems)

    if problems.items:
        raise ConfigError(problems.items)
    kube = kube or {}
    return Settings(
        cluster=cluster, version=version, image=image, ollama_host=ollama_host,
        log_level=log_level, resources=resources, max_unavailable=max_unavailable, hardened=hardened,
        delivery=delivery, gitops_dir=gitops_dir, gitops=gitops, sealed_secrets=sealed_secrets,
        api_keys=api_keys, sealing_cert=sealing_cert, sealing_scope=sealing_scope,
        kube_context=kube.get("context"), kubeconfig=kube.get("kubeconfig"),
    )


def load() -> Settings:
    """Settings of the running stack, read from the engine's configuration."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}

    def namespace(ns: str) -> dict[str, Any]:
        prefix = f"{ns}:"
        return {k[len(prefix):]: v for k, v in everything.items() if k.startswith(prefix)}

    prefix = f"{NAMESPACE}:"
    secret_keys = frozenset(
        key[len(prefix):] for key in everything if key.startswith(prefix) and runtime_config.is_config_secret(key))
    return parse(namespace(NAMESPACE), namespace("kubernetes"), secret_keys)
