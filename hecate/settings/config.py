"""A whole stack config parsed into `Settings`, every problem reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .notifications import forge_address
from .parsers import (
    REQUIRED,
    Problems,
)
from .table import SETTINGS, Settings
from .values import (
    KUBERNETES,
    NAMESPACE,
    TAKES_SECRETS,
    ConfigError,
)

FETCH_CERT = (
    "fetch the controller's certificate once per cluster: "
    "`kubeseal --fetch-cert > cert.pem && "
    'pulumi config set hecate:sealingCert -- "$(cat cert.pem)"`'
)


def parse_config(config: Mapping[str, Any], secret_names: frozenset[str] = frozenset()) -> Settings:
    """Settings from fully qualified config (`hecate:version`, `kubernetes:context`).

    `secret_names` are the keys the engine holds as secrets. Raises ConfigError listing every
    problem.
    """
    problems = Problems(secret_names)
    known = {s.name for _, s in SETTINGS}
    for namespace in (NAMESPACE, KUBERNETES):
        ours = sorted(s.key for _, s in SETTINGS if s.namespace == namespace)
        for name in sorted(k for k in config if k.startswith(f"{namespace}:") and k not in known):
            problems.add(
                name, config[name], f"is not a known setting (a typo?); known: {', '.join(ours)}"
            )

    values: dict[str, Any] = {}
    for attribute, spec in SETTINGS:
        raw = config.get(spec.name, spec.default)
        if raw is REQUIRED:
            problems.note(spec.name, f"is required: the {spec.description}")
            values[attribute] = None
        else:
            values[attribute] = spec.parse(raw, spec.name, problems)

    # Checks across settings.
    if (
        values["delivery"] == "gitops"
        and values["gitops"] is None
        and not any(p.startswith(f"{NAMESPACE}:gitops") for p in problems.items)
    ):
        problems.note(
            f"{NAMESPACE}:gitops",
            "is required for gitops delivery: an object {url, branch, interval, secretRef}",
        )
    for key, attribute in (("commitStatus", "commit_status"), ("alerts", "alerts")):
        if values[attribute] and values["delivery"] != "gitops":
            problems.note(
                f"{NAMESPACE}:{key}",
                "is for gitops delivery only: Flux's notification-controller reports what Flux "
                "applied, and a direct stack has no Flux objects",
            )
    status, source = values["commit_status"], values["gitops"]
    if status and status.address is None and source and not forge_address(source.url):
        problems.note(
            f"{NAMESPACE}:commitStatus.address",
            f"is required: no forge address follows from hecate:gitops.url {source.url!r}",
        )
    api_keys, sealed = values["api_keys"], values["sealed_secrets"]
    if config.get(f"{NAMESPACE}:apiKeys") not in (None, {}, "{}"):
        if f"{NAMESPACE}:apiKeys" not in secret_names:
            problems.note(
                f"{NAMESPACE}:apiKeys",
                "is stored in plain text; set each key as a secret: "
                "`pulumi config set --secret --path 'hecate:apiKeys.OPENAI_API_KEY' sk-...`",
            )
        if not config.get(f"{NAMESPACE}:sealingCert"):
            problems.note(
                f"{NAMESPACE}:apiKeys", f"is set but hecate:sealingCert is not; {FETCH_CERT}"
            )
    for key in sorted(set(values["env"] or {}) & (set(api_keys) | set(sealed))):
        problems.note(
            f"{NAMESPACE}:env.{key}",
            f"is also a sealed key's name; the daemon would see only one {key}",
        )
    known_secret = sorted(k for k in secret_names if k in known and k not in TAKES_SECRETS)
    for name in known_secret:
        problems.note(
            name,
            "is a Pulumi secret, but the program renders it in clear (into the gitops tree, "
            "hecate-config or a stack output): set it in plain text (`pulumi config set "
            f"--plaintext`); only {', '.join(TAKES_SECRETS)} takes secrets, sealed for the "
            "cluster's controller",
        )
    for key in sorted(set(api_keys) & set(sealed)):
        problems.note(
            f"{NAMESPACE}:apiKeys.{key}",
            f"is also in hecate:sealedSecrets; keep {key} in one of them",
        )

    if problems.items:
        raise ConfigError(problems.items)
    return Settings(**values)


def parse(
    raw: Mapping[str, Any],
    kube: Mapping[str, Any] | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Settings from the `hecate:` config (short keys) and the `kubernetes:` config (short keys)."""
    config = {
        **{f"{NAMESPACE}:{k}": v for k, v in raw.items()},
        **{f"{KUBERNETES}:{k}": v for k, v in (kube or {}).items()},
    }
    return parse_config(config, frozenset(f"{NAMESPACE}:{k}" for k in secret_keys))
