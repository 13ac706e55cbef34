"""The one table: every setting a field of `Settings`, declared with its key, type, default,
parser and description; everything else (the parser of a whole config, Pulumi.yaml's `config:`
block, docs/settings.md) derives from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .. import grammars, sealing
from ..grammars import duration_seconds
from .notifications import Alert, CommitStatus, parse_alerts, parse_commit_status
from .parsers import (
    Setting,
    credential_free,
    one_of,
    optional_text,
    parse_api_keys,
    parse_boolean,
    parse_certificate,
    parse_gitops,
    parse_gitops_dir,
    parse_max_unavailable,
    parse_optional_dns_subdomain,
    parse_optional_duration,
    parse_sealed_secrets,
    parse_version,
    setting,
    text,
)
from .values import (
    DEFAULT_IMAGE,
    DEFAULT_OLLAMA_HOST,
    DEFAULT_READINESS,
    DEFAULT_RESOURCES,
    DELIVERIES,
    KUBERNETES,
    LOG_LEVELS,
    NAMESPACE,
    ComputeResources,
    GitSource,
    Patch,
    ReadinessProbe,
    SecretText,
    Toleration,
)
from .workload import (
    parse_env,
    parse_node_selector,
    parse_patches,
    parse_readiness_probe,
    parse_resources,
    parse_secret_names,
    parse_tolerations,
)

# --- The table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    cluster: str = setting(
        "cluster",
        "string",
        "cluster name, a DNS-1123 label, e.g. `beam-cluster`",
        text(
            grammars.is_dns_label,
            "is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)",
        ),
    )
    version: str = setting(
        "version",
        "string",
        "daemon image tag, e.g. `0.7.2`; mutable tags such as `latest` are refused",
        parse_version,
    )
    image: str = setting(
        "image",
        "string",
        "image repository, without tag",
        text(
            grammars.is_image_repository,
            "is not an image repository without tag or digest, e.g. " + DEFAULT_IMAGE,
        ),
        DEFAULT_IMAGE,
    )
    ollama_host: str = setting(
        "ollamaHost",
        "string",
        "http(s) URL of the node's Ollama",
        credential_free(
            text(
                grammars.is_http_url,
                "is not an http:// or https:// URL (a host, an optional port and path; no query "
                "or fragment)",
            ),
            "the daemon's credentials for an API go in hecate:apiKeys (sealed)",
        ),
        DEFAULT_OLLAMA_HOST,
    )
    log_level: str = setting(
        "logLevel", "string", "`debug`, `info`, `warn` or `error`", one_of(LOG_LEVELS), "info"
    )
    env: Mapping[str, str] = setting(
        "env",
        "object",
        "extra environment variables for the daemon, name → value, into hecate-config; never "
        "`OLLAMA_HOST`, `HECATE_LOG_LEVEL` or a sealed key's name",
        parse_env,
        {},
    )
    resources: ComputeResources = setting(
        "resources",
        "object",
        "`{requests: {cpu, memory}, limits: {cpu, memory}}`; a limit below its request is refused",
        parse_resources,
        DEFAULT_RESOURCES,
    )
    readiness_probe: ReadinessProbe = setting(
        "readinessProbe",
        "object",
        "when a daemon pod counts as Ready, and so when a rollout's gate passes: `{check, "
        "initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold}`; `check: health` "
        "runs the guide's health check (`/api/health` over the socket, which must answer), "
        "`socket` the guide's probe (the socket exists)",
        parse_readiness_probe,
        DEFAULT_READINESS,
    )
    max_unavailable: int | str = setting(
        "maxUnavailable",
        "any",
        "DaemonSet rolling update: nodes (`1`) or a percentage (`25%`)",
        parse_max_unavailable,
        1,
    )
    # Container hardening beyond the guide (no privilege escalation, no capabilities,
    # RuntimeDefault seccomp, read-only root with an emptyDir /tmp).
    hardened: bool = setting(
        "hardened",
        "boolean",
        "container hardening beyond the guide: no privilege escalation, all capabilities dropped, "
        "RuntimeDefault seccomp, read-only root with an emptyDir `/tmp`, no service-account token",
        parse_boolean,
        True,
    )
    tolerations: tuple[Toleration, ...] = setting(
        "tolerations",
        "array",
        "taints the daemon tolerates, e.g. GPU nodes': a list of `{key, operator (Exists, Equal), "
        "value, effect (NoSchedule, PreferNoSchedule, NoExecute), tolerationSeconds (NoExecute "
        "only)}`",
        parse_tolerations,
        [],
    )
    node_selector: Mapping[str, str] = setting(
        "nodeSelector",
        "object",
        "node label key → value: the daemon runs only on nodes with every one of these labels",
        parse_node_selector,
        {},
    )
    priority_class_name: str | None = setting(
        "priorityClassName",
        "string",
        "the daemon pods' PriorityClass, a DNS-1123 name (e.g. `system-node-critical`)",
        parse_optional_dns_subdomain,
        "",
    )
    image_pull_secrets: tuple[str, ...] = setting(
        "imagePullSecrets",
        "array",
        "names of Secrets in the `hecate` namespace to pull the image with (a private registry)",
        parse_secret_names,
        [],
    )
    delivery: str = setting(
        "delivery",
        "string",
        "`gitops` (files for Flux) or `direct` (applied to the cluster)",
        one_of(DELIVERIES),
        "gitops",
    )
    gitops_dir: str = setting(
        "gitopsDir",
        "string",
        "where the gitops checkout is: inside the project, or a git work tree elsewhere; "
        "never `/` or a file",
        parse_gitops_dir,
        "./gitops",
    )
    gitops: GitSource | None = setting(
        "gitops",
        "object",
        "Flux source `{url (ssh:// or https://; http:// on loopback only), branch, interval, "
        "secretRef}`; a stack's keys go over "
        'the project\'s, key by key (`secretRef: ""` for none)',
        parse_gitops,
        {},
    )
    # Flux gives up on the daemon's rollout after this long and marks the sync failed.
    health_timeout: str | None = setting(
        "healthTimeout",
        "string",
        "how long the daemon's rollout may take before it is reported failed (a Flux duration "
        "such as `2m`): Flux's health check, or the provider's wait with `direct`; empty: their "
        "defaults (the sync interval, 5m; the provider's 10m)",
        parse_optional_duration,
        "",
    )
    sealed_secrets: Mapping[str, str] = setting(
        "sealedSecrets",
        "object",
        "env-var name → value already sealed with kubeseal for this cluster",
        parse_sealed_secrets,
        {},
    )
    # API keys the program seals itself, for the controller whose certificate this is.
    api_keys: Mapping[str, SecretText] = setting(
        "apiKeys",
        "object",
        "env-var name → API key, each a Pulumi secret; the program seals them",
        parse_api_keys,
        {},
    )
    sealing_cert: str | None = setting(
        "sealingCert",
        "string",
        "the cluster's sealed-secrets certificate (PEM; public, safe to commit); "
        "required with `apiKeys`",
        parse_certificate,
        "",
    )
    sealing_scope: str = setting(
        "sealingScope",
        "string",
        "`strict`, `namespace-wide` or `cluster-wide`",
        one_of(sealing.SCOPES),
        "strict",
    )
    patches: tuple[Patch, ...] = setting(
        "patches",
        "array",
        "cluster-specific patches of the rendered objects: a list of `{target: {kind, name}, "
        "jsonPatch: [RFC 6902 operations]}` or `{target, mergePatch: {RFC 7386}}`; never the "
        "SealedSecret, an object's kind, name or namespace, or the DaemonSet's selector",
        parse_patches,
        [],
    )
    commit_status: CommitStatus | None = setting(
        "commitStatus",
        "object",
        "Flux's commit status on the gitops repository, one per cluster named `hecate/<cluster>`: "
        "`{type (github, gitlab, gitea, bitbucket, bitbucketserver, azuredevops; default github), "
        "address (the repository's https:// address; default: from hecate:gitops.url), secretRef "
        "(a Secret of flux-system whose `token` key is the forge's token)}`; gitops delivery only; "
        "empty: off",
        parse_commit_status,
        {},
    )
    alerts: tuple[Alert, ...] = setting(
        "alerts",
        "array",
        "where Flux sends the sync's events: a list of `{type (slack, msteams, generic), "
        "secretRef (a Secret of flux-system whose `address` key is the webhook URL), address "
        "(generic only, a credential-free URL), channel (slack only), severity (error: failures, "
        "the default; info: every event)}`; gitops delivery only",
        parse_alerts,
        [],
    )
    # From the provider's namespace, used by `direct` delivery only.
    kube_context: str | None = setting(
        "context",
        "string",
        "the kubeconfig context of the cluster: `direct` delivery applies there, and the fleet "
        "tool and `hecate doctor` read the cluster there (default: the cluster's name)",
        optional_text,
        None,
        namespace=KUBERNETES,
    )
    kubeconfig: str | None = setting(
        "kubeconfig",
        "string",
        "the kubeconfig file (`direct` delivery; the fleet tool takes `--kubeconfig`)",
        optional_text,
        None,
        namespace=KUBERNETES,
    )

    @property
    def image_ref(self) -> str:
        return f"{self.image}:{self.version}"

    @property
    def health_timeout_seconds(self) -> int | None:
        """healthTimeout in whole seconds (at least one), or None when unset."""
        if not self.health_timeout:
            return None
        return max(1, round(duration_seconds(self.health_timeout)))

    @property
    def workloads_dir(self) -> str:
        """Where the workload manifests are rendered, relative to the gitops root."""
        return f"infrastructure/hecate/{self.cluster}"

    @property
    def flux_dir(self) -> str:
        """Where Flux's bootstrap sync for this cluster looks (clusters/<name>)."""
        return f"clusters/{self.cluster}"


SETTINGS: tuple[tuple[str, Setting], ...] = tuple(
    (f.name, f.metadata["setting"]) for f in fields(Settings)
)


def default(key: str, namespace: str = NAMESPACE) -> Any:
    """The default of a setting (`default("logLevel")`), as a stack file would write it: what
    a setting left unset means, from the one table."""
    for _, spec in SETTINGS:
        if (spec.namespace, spec.key) == (namespace, key):
            return spec.default
    raise KeyError(f"{namespace}:{key} is not a setting")
