"""The grammars of the values the program hands on, each as strict as what consumes it.

A setting's value is read by something else: the API server (names, label keys and values,
quantities), Flux (durations, the repository URL, the branch), the container runtime (the image
reference) or the daemon (its Ollama URL, its environment). Each check here is that consumer's
full grammar, not a looser pattern, so that a value is either refused with a clean message or
read by its consumer as exactly what was written. Every pattern is ASCII and whole-string:
`\\d` takes any Unicode digit and `$` takes a trailing newline.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation, localcontext
from urllib.parse import urlsplit

# --- Kubernetes names (apimachinery's validation) ---------------------------------------------

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII
)
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", re.ASCII)
# An environment variable as envFrom takes it (a C identifier), which is also a ConfigMap key.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def is_dns_label(value: str) -> bool:
    """RFC 1123 label: a cluster's name, a namespace (at most 63)."""
    return len(value) <= 63 and bool(_DNS_LABEL.fullmatch(value))


def is_dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain: most object names, a Secret's, a PriorityClass's (at most 253)."""
    return len(value) <= 253 and bool(_DNS_SUBDOMAIN.fullmatch(value))


def is_label_key(value: str) -> bool:
    """A label (or taint) key: an optional DNS-1123 subdomain prefix and '/', then a name of at
    most 63 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return len(name) <= 63 and bool(_QUALIFIED_NAME_PART.fullmatch(name))


def is_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and bool(_QUALIFIED_NAME_PART.fullmatch(value)))


def is_env_name(value: str) -> bool:
    return len(value) <= 253 and bool(_ENV_NAME.fullmatch(value))


# --- Quantities (resource.Quantity) -----------------------------------------------------------

# The suffix is binary (Ki), an exponent (e3, E3) or decimal (k, E): tried in that order, as
# Kubernetes does, so `1E3` is 1000 and `2E` is two exa.
_QUANTITY = re.compile(
    r"\+?(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"((?P<binary>[KMGTPE]i)|[eE](?P<exponent>[-+]?[0-9]+)|(?P<decimal>[numkMGTPE]))?",
    re.ASCII,
)
_QUANTITY_SCALE: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{f"{p}i": Decimal(2) ** (10 * n) for n, p in enumerate("KMGTPE", 1)},
}
# resource.Quantity caps a value at 2^63-1 and rounds anything finer than a thousandth up (0.1m
# is read as 1m): a value outside those is refused rather than read as another one.
QUANTITY_MAX = Decimal(2**63 - 1)
QUANTITY_STEP = Decimal("0.001")


def parse_quantity(value: str) -> Decimal | None:
    """A non-negative Kubernetes quantity as a number (cores or bytes), exactly as the API
    server reads it; None when malformed, negative, above 2^63-1 or finer than 1/1000."""
    match = _QUANTITY.fullmatch(value)
    if not match:
        return None
    number = Decimal(match["number"])
    exponent = int(match["exponent"] or 0)
    if abs(exponent) > 40:  # far past the cap, or far finer than a thousandth
        return Decimal(0) if number == 0 else None
    # Exact arithmetic: precision enough for every digit written, and for the scale.
    with localcontext(prec=len(value) + 60):
        try:
            if match["exponent"] is not None:
                amount = number.scaleb(exponent)
            else:
                amount = number * _QUANTITY_SCALE[match["binary"] or match["decimal"] or ""]
            if amount > QUANTITY_MAX or amount % QUANTITY_STEP != 0:
                return None
        except (InvalidOperation, KeyError):
            return None
    return amount


# --- Durations (Go's time.ParseDuration, as Flux's metav1.Duration fields take it) -------------

# What Flux's CRDs accept (their pattern): Go durations without days.
_FLUX_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+", re.ASCII)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", re.ASCII)
_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
# A Go duration is an int64 of nanoseconds: about 2562047 hours.
MAX_DURATION_SECONDS = Decimal(2**63 - 1) / Decimal(10**9)


def is_flux_duration(value: str) -> bool:
    """Flux's pattern, within an int64 of nanoseconds, and no finer than a nanosecond (Go
    drops what is finer: `0.0000000001s` would be read as 0s)."""
    if not _FLUX_DURATION.fullmatch(value) or len(value) > 64:
        return False
    with localcontext(prec=200):
        seconds = _duration(value)
        return seconds <= MAX_DURATION_SECONDS and (seconds * 10**9) % 1 == 0


def _duration(value: str) -> Decimal:
    with localcontext(prec=200):
        parts = _DURATION_PART.findall(value)
        return sum((Decimal(n) * _SECONDS[u] for n, u in parts), start=Decimal(0))


def duration_seconds(value: str) -> float:
    """A Flux duration (`1h30m`, `45s`) in seconds."""
    return float(_duration(value))


# A token's lifetime, as `fleet kubeconfig --duration` takes it: one ASCII number and one unit.
_TOKEN_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])", re.ASCII)
_TOKEN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def token_duration_seconds(value: str) -> int | None:
    """`90m`, `24h`, `7d` in seconds; None for anything else."""
    match = _TOKEN_DURATION.fullmatch(value)
    return int(match[1]) * _TOKEN_UNITS[match[2]] if match else None


# --- URLs (Go's net/url, as Flux's source-controller and the daemon parse them) -------------

_HOST_LABEL = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?", re.ASCII)
# RFC 3986 path characters, percent escapes whole.
_PATH = re.compile(r"(/([-A-Za-z0-9._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*", re.ASCII)
_USER = re.compile(r"([-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+", re.ASCII)


def _is_host(host: str) -> bool:
    """A DNS name (each label at most 63, the whole at most 253), an IPv4 address or a
    bracketed IPv6 address."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    if re.fullmatch(r"[0-9.]+", host, re.ASCII):
        try:
            ipaddress.IPv4Address(host)
            return True
        except ValueError:
            return False
    labels = host.split(".")
    return len(host) <= 253 and all(len(x) <= 63 and _HOST_LABEL.fullmatch(x) for x in labels)


def url_parts(value: str) -> tuple[str, str, str, str, int | None, str] | None:
    """(scheme, user, password, host, port, path) of an absolute URL with no query or fragment,
    every part in its RFC 3986 grammar; None for anything else."""
    if not value.isascii() or not value.isprintable() or " " in value:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme, re.ASCII):
        return None
    authority, slash, path = rest.partition("/")
    path = slash + path
    if "?" in value or "#" in value or not _PATH.fullmatch(path):
        return None
    userinfo, at, hostport = authority.rpartition("@")
    user, _, password = userinfo.partition(":")
    if at and not (_USER.fullmatch(user) and (not password or _USER.fullmatch(password))):
        return None
    host, port = hostport, None
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest_port = hostport[: end + 1], hostport[end + 1 :]
    else:
        host, colon, rest_port = hostport.partition(":")
        rest_port = colon + rest_port
    if rest_port:
        if not re.fullmatch(r":[0-9]{1,5}", rest_port, re.ASCII):
            return None
        port = int(rest_port[1:])
        if not 1 <= port <= 65535:
            return None
    if not _is_host(host):
        return None
    return scheme, user, password, host, port, path


def is_http_url(value: str) -> bool:
    """An http:// or https:// URL without credentials, query or fragment: the daemon's
    OLLAMA_HOST."""
    parts = url_parts(value)
    return parts is not None and parts[0] in ("http", "https") and not parts[1]


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def is_repository_url(value: str) -> bool:
    """A git repository URL as a cluster's Flux reaches it: ssh:// (with a user, `git@`) or
    https:// with a path; plain http:// only on a loopback host (the local test bed's: nothing
    on the wire to protect, and a cluster elsewhere could never reach it anyway)."""
    parts = url_parts(value)
    if parts is None or parts[5] in ("", "/"):
        return False
    scheme, _, _, host, _, _ = parts
    return scheme in ("ssh", "https") or (scheme == "http" and is_loopback(host))


def userinfo(value: str) -> tuple[str, str] | None:
    """A URL's credential part as (user, password or ""), None for a URL without one."""
    try:
        netloc = urlsplit(value).netloc
    except ValueError:
        return None
    if "@" not in netloc:
        return None
    user, _, password = netloc.rpartition("@")[0].partition(":")
    return user, password


# --- Images (the distribution reference grammar, as container runtimes parse it) -------------

_DOMAIN_COMPONENT = r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"({_DOMAIN_COMPONENT}(\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(([_.]|__|[-]+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"({_DOMAIN}/)?{_PATH_COMPONENT}(/{_PATH_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
MAX_IMAGE_NAME = 255


def is_image_repository(value: str) -> bool:
    """An image name without tag or digest. Its first part is a registry only when it looks
    like one (a dot, a port or `localhost`), as the runtime decides: else it must be a path
    component too."""
    if len(value) > MAX_IMAGE_NAME or not _REPOSITORY.fullmatch(value):
        return False
    first, slash, _ = value.partition("/")
    registry = slash and (
        any(c in first for c in ".:[") or first == "localhost" or first.lower() != first
    )
    return bool(registry) or bool(re.fullmatch(_PATH_COMPONENT, first, re.ASCII))


def is_image_tag(value: str) -> bool:
    return bool(_TAG.fullmatch(value))


_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?", re.ASCII)


def is_release_version(value: str) -> bool:
    """A release version such as 0.7.2 or 0.8.0-rc.1, which is also an image tag and a label
    value (app.kubernetes.io/version): at most 63 characters, ending in a letter or digit."""
    return bool(_VERSION.fullmatch(value)) and is_image_tag(value) and is_label_value(value)


# --- Git (git check-ref-format, for a branch) ----------------------------------------------


def is_branch(value: str) -> bool:
    """A branch name as `git check-ref-format --branch` takes it (ASCII printable only)."""
    components = value.split("/")
    return (
        bool(value)
        and value.isascii()
        and value.isprintable()
        and value != "@"
        and not value.startswith("-")
        and not value.endswith(".")
        and ".." not in value
        and "@{" not in value
        and not re.search(r"[ ~^:?*\[\\]", value)
        and all(c and not c.startswith(".") and not c.endswith(".lock") for c in components)
    )


# --- Text the daemon reads -----------------------------------------------------------------


def is_environment_value(value: str) -> bool:
    """What a process's environment can carry: anything but NUL (execve ends a string there)."""
    return "\x00" not in value


def is_plain_text(value: str) -> bool:
    """A filesystem path to write under: printable, no NUL, not only blanks."""
    return bool(value.strip()) and value.isprintable()
