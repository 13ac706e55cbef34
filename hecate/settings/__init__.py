"""Stack settings: the config of one cluster stack, parsed once.

Every setting is declared once, as a field of `Settings` (`table.py`): its config key, type,
default, check and description (`setting(...)`). Everything else derives from that one table:
the parser of a whole config (`config.py`; an unknown key is refused as a typo), and, through
`make generate` (hecate/reference.py), Pulumi.yaml's `config:` block and docs/settings.md's
table. A bad stack never gets as far as declaring a resource: `parse` reports every problem at
once, each naming the key, the value and what is allowed, and never shows any part of a value
that is a Pulumi secret.

The package's imports run one way: `values` (types, constants) → `parsers` (the machinery, and
one parser per shape) → `workload` (the shapes of the daemon's pod) → `notifications` (what
Flux reports, and to whom) → `table` (the Settings) →
`config` (a whole stack's config), with `digests` on their own. The
names below are the ones the rest of the code uses, from `hecate.settings` as before.
"""

from .config import (
    FETCH_CERT,
    parse,
    parse_config,
)
from .digests import (
    digest,
    json_sha256,
    setting_digests,
)
from .notifications import (
    ALERT_TYPES,
    FORGES,
    Alert,
    CommitStatus,
    forge_address,
)
from .parsers import (
    Parser,
    Setting,
    credential_free,
    member,
    one_of,
    optional_text,
    setting,
    text,
)
from .table import (
    SETTINGS,
    Settings,
    default,
)
from .values import (
    CONFIG_MAP_KEYS,
    DEFAULT_IMAGE,
    DEFAULT_OLLAMA_HOST,
    DEFAULT_READINESS,
    DEFAULT_RESOURCES,
    DELIVERIES,
    JSON_PATCH_OPS,
    KUBERNETES,
    LOG_LEVELS,
    MAX_API_KEY_BYTES,
    MAX_SEALED_BYTES,
    MUTABLE_TAGS,
    NAMESPACE,
    PATCH_FIELDS,
    READINESS_CHECKS,
    TAINT_EFFECTS,
    TAKES_SECRETS,
    TOLERATION_OPERATORS,
    ComputeResources,
    ConfigError,
    GitSource,
    Patch,
    ReadinessProbe,
    SecretText,
    Toleration,
)

__all__ = [
    "ALERT_TYPES",
    "CONFIG_MAP_KEYS",
    "DEFAULT_IMAGE",
    "DEFAULT_OLLAMA_HOST",
    "DEFAULT_READINESS",
    "DEFAULT_RESOURCES",
    "DELIVERIES",
    "FETCH_CERT",
    "FORGES",
    "JSON_PATCH_OPS",
    "KUBERNETES",
    "LOG_LEVELS",
    "MAX_API_KEY_BYTES",
    "MAX_SEALED_BYTES",
    "MUTABLE_TAGS",
    "NAMESPACE",
    "PATCH_FIELDS",
    "READINESS_CHECKS",
    "SETTINGS",
    "TAINT_EFFECTS",
    "TAKES_SECRETS",
    "TOLERATION_OPERATORS",
    "Alert",
    "CommitStatus",
    "ComputeResources",
    "ConfigError",
    "GitSource",
    "Parser",
    "Patch",
    "ReadinessProbe",
    "SecretText",
    "Setting",
    "Settings",
    "Toleration",
    "credential_free",
    "default",
    "digest",
    "forge_address",
    "json_sha256",
    "member",
    "one_of",
    "optional_text",
    "parse",
    "parse_config",
    "setting",
    "setting_digests",
    "text",
]
