"""What each cluster's Flux reports, and to whom: a commit status per cluster on the gitops
repository's forge (`hecate:commitStatus`) and alerts to chat or a webhook (`hecate:alerts`).

Only names of Secrets are settings: a forge token, or a chat webhook's URL (which is a
credential: whoever has it can post), lives in a Secret of flux-system that the team makes on
the cluster, never in a stack file or the gitops tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..grammars import is_dns_subdomain, is_loopback, url_parts
from .parsers import Problems, credential_free, list_of, object_of, text

# notification-controller's provider types that post commit statuses.
FORGES = ("github", "gitlab", "gitea", "bitbucket", "bitbucketserver", "azuredevops")
# Where an alert may go. A chat webhook's URL is its credential: only ever from a Secret.
ALERT_TYPES = ("slack", "msteams", "generic")
SEVERITIES = ("info", "error")
_NO_TOKEN = (
    "is refused: a token or password never goes in a stack file (it would be rendered in "
    "clear into the gitops tree); put it in the Secret named by secretRef"
)
_CREDENTIAL_KEYS = ("token", "password")


@dataclass(frozen=True)
class CommitStatus:
    """Flux's commit status on the gitops repository, one per cluster."""

    type: str
    address: str | None  # None: derived from hecate:gitops.url
    secret_ref: str  # a Secret of flux-system whose `token` key is the forge's token


@dataclass(frozen=True)
class Alert:
    """One of hecate:alerts: the sync's events of a severity, sent to chat or a webhook."""

    index: int
    type: str
    address: str | None  # generic only: a credential-free URL
    secret_ref: str | None  # a Secret of flux-system whose `address` key is the URL
    channel: str | None  # slack only
    severity: str


def forge_address(repository_url: str) -> str | None:
    """The forge's web address of a repository Flux pulls (`https://github.com/org/repo`):
    ssh becomes https on the same host without user or port (the ssh port is not the web's),
    `.git` is dropped; a loopback http URL stays as it is (the local test bed's)."""
    parts = url_parts(repository_url)
    if parts is None:
        return None
    scheme, _, _, host, port, path = parts
    path = path.removesuffix(".git").rstrip("/")
    if scheme == "http" and is_loopback(host):
        return f"http://{host}{f':{port}' if port else ''}{path}"
    if scheme == "ssh":
        return f"https://{host}{path}"
    if scheme == "https":
        return f"https://{host}{f':{port}' if port else ''}{path}"
    return None


def _is_web_url(value: str) -> bool:
    """https://, or http:// on a loopback host (the local test bed's)."""
    parts = url_parts(value)
    return parts is not None and (
        parts[0] == "https" or (parts[0] == "http" and is_loopback(parts[3]))
    )


def _web_address(value: Any, name: str, problems: Problems, what: str) -> str | None:
    """An https:// URL (http:// on a loopback host only) with no credential in it."""
    return credential_free(
        text(_is_web_url, f"is not an https:// URL of {what} (http:// only on a loopback host)"),
        "put it in the Secret named by secretRef",
    )(value, name, problems)


def _names_repository(address: str) -> bool:
    parts = url_parts(address)
    return parts is not None and parts[5].strip("/").count("/") >= 1


_secret_name = text(is_dns_subdomain, "is not a Secret name (a DNS-1123 subdomain)")


def _without_credentials(item: dict[str, Any], at: str, problems: Problems) -> dict[str, Any]:
    for key in _CREDENTIAL_KEYS:
        if key in item:
            problems.note(f"{at}.{key}", _NO_TOKEN)
    return {k: v for k, v in item.items() if k not in _CREDENTIAL_KEYS}


def parse_commit_status(value: Any, name: str, problems: Problems) -> CommitStatus | None:
    if value in (None, {}, "{}", ""):
        return None  # off
    fields = ("type", "address", "secretRef")
    shape = "an object {type, address, secretRef}"
    item = object_of(value, name, problems, shape)
    if item is None:
        return None
    item = object_of(_without_credentials(item, name, problems), name, problems, shape, fields)
    if item is None:
        return None
    forge = item.get("type", "github")
    if forge not in FORGES:
        problems.add(f"{name}.type", forge, f"is not one of {', '.join(FORGES)}")
    address = item.get("address")
    if address is not None:
        address = _web_address(address, f"{name}.address", problems, "the gitops repository")
        if address is not None and not _names_repository(address):
            problems.add(
                f"{name}.address", address, "names no repository (e.g. https://github.com/org/repo)"
            )
            address = None
    secret_ref = item.get("secretRef")
    if secret_ref in (None, ""):
        problems.note(
            f"{name}.secretRef",
            "is required: the name of a Secret in flux-system whose `token` key is the forge's "
            "token (made on the cluster, never in the repository)",
        )
        return None
    secret_ref = _secret_name(secret_ref, f"{name}.secretRef", problems)
    if forge not in FORGES or secret_ref is None or ("address" in item and address is None):
        return None
    return CommitStatus(type=forge, address=address, secret_ref=secret_ref)


def parse_alerts(value: Any, name: str, problems: Problems) -> tuple[Alert, ...]:
    fields = ("type", "address", "secretRef", "channel", "severity")
    shape = "a list of alerts {type, address, secretRef, channel, severity}"
    alerts = []
    for index, raw in enumerate(list_of(value, name, problems, shape)):
        at = f"{name}[{index}]"
        item = object_of(raw, at, problems, "an object {" + ", ".join(fields) + "}")
        if item is None:
            continue
        item = object_of(_without_credentials(item, at, problems), at, problems, "", fields)
        if item is None:
            continue
        before = len(problems.items)
        kind = item.get("type")
        if kind not in ALERT_TYPES:
            problems.add(f"{at}.type", kind, f"is not one of {', '.join(ALERT_TYPES)}")
        severity = item.get("severity", "error")
        if severity not in SEVERITIES:
            problems.add(
                f"{at}.severity",
                severity,
                "is not info (every event) or error (failures only, the default)",
            )
        address, secret_ref = item.get("address"), item.get("secretRef")
        if address is not None:
            if kind in ("slack", "msteams"):
                problems.note(
                    f"{at}.address",
                    f"is refused for {kind}: its webhook URL is a credential; put it under "
                    "`address` in the Secret named by secretRef",
                )
            else:
                _web_address(address, f"{at}.address", problems, "the webhook")
        if secret_ref is not None:
            _secret_name(secret_ref, f"{at}.secretRef", problems)
        if address is None and secret_ref is None:
            problems.note(
                at,
                "has no target: give secretRef (a Secret of flux-system whose `address` is the "
                "URL)" + (", or address" if kind == "generic" else ""),
            )
        channel = item.get("channel")
        if channel is not None and (kind != "slack" or not isinstance(channel, str) or not channel):
            problems.add(f"{at}.channel", channel, "is a non-empty channel name, for slack only")
        if len(problems.items) == before:
            alerts.append(Alert(index, kind, address, secret_ref, channel, severity))
    return tuple(alerts)
