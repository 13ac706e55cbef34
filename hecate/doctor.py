"""`hecate doctor`: what a real fleet needs, checked item by item and cluster by cluster, each
with what to do when it does not hold.

The project: the engine and the policy pack's environment (`make venv engine`), and each gitops
checkout (a git work tree whose `origin` is the repository `hecate:gitops.url` names). Then,
for each stack, with the kubeconfig the fleet tool uses: its context, the API server (1.30 or
later, for ValidatingAdmissionPolicy v1), the kinds the program renders (the admission policy,
Flux's Kustomization and GitRepository v1, SealedSecret), Flux's controllers answering a
reconcile request (as `flux reconcile` asks), the sealed-secrets controller's certificate (as
`kubeseal --fetch-cert` fetches it; compared with `hecate:sealingCert`), the identity (may it do
what a rollout's gate does) and its token's expiry (against the rollout plan's worst case).

Exit status: 0 everything holds; 1 something does not (each named, with what to do); 2 bad
input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, TextIO

from . import naming
from .fleet.cluster_health import (
    BOOTSTRAP,
    FLUX_GROUP_KUSTOMIZE,
    FLUX_GROUP_SOURCE,
    ClusterClient,
    api_request,
    describe,
)
from .fleet.plan import PLAN_FILE, PlanError, load_plan
from .fleet.preflight import GATE_NEEDS, token_left
from .fleet.stacks import FleetProject, StackTarget
from .settings import ConfigError
from .table import print_table

MIN_KUBERNETES = (1, 30)  # admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy
# What the program renders, by API group version, and what provides it.
KINDS = (
    ("admissionregistration.k8s.io/v1", "validatingadmissionpolicies", "Kubernetes 1.30 or later"),
    ("kustomize.toolkit.fluxcd.io/v1", "kustomizations", "Flux 2.0 or later (flux install)"),
    ("source.toolkit.fluxcd.io/v1", "gitrepositories", "Flux 2.0 or later (flux install)"),
    ("bitnami.com/v1alpha1", "sealedsecrets", "the sealed-secrets controller (its CRD)"),
)
# Rendered only when a stack asks for commit statuses or alerts (hecate:commitStatus,
# hecate:alerts): without them, Flux's bootstrap sync would fail on every object it applies.
NOTIFICATION_KINDS = (
    ("notification.toolkit.fluxcd.io/v1beta3", "providers", "Flux's notification-controller"),
    ("notification.toolkit.fluxcd.io/v1beta3", "alerts", "Flux's notification-controller"),
)


def kinds_rendered(target: StackTarget) -> tuple[tuple[str, str, str], ...]:
    """What the stack's program renders, by group version and resource, and what provides it."""
    settings = target.settings
    reports = settings.delivery == "gitops" and (settings.commit_status or settings.alerts)
    return KINDS + NOTIFICATION_KINDS if reports else KINDS


# Where kubeseal fetches the controller's certificate: the API server's service proxy.
SEALED_SECRETS_CERT = (
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem"
)
FLUX_ANSWER_SECONDS = 30.0


@dataclass(frozen=True)
class Finding:
    stack: str  # "" for the project's own items
    cluster: str
    check: str
    ok: bool
    detail: str
    fix: str = ""

    HEADERS: ClassVar[tuple[str, ...]] = ("stack", "cluster", "check", "ok", "detail")

    def cells(self) -> tuple[str, ...]:
        detail = self.detail + (f" → {self.fix}" if self.fix else "")
        return (
            self.stack or "—",
            self.cluster or "—",
            self.check,
            "yes" if self.ok else "NO",
            detail,
        )


# --- the project ---------------------------------------------------------------------------


def _origin(directory: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(directory), "remote", "get-url", "origin"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _repository(url: str) -> str:
    """A git URL as one spelling: `git@host:path` as `ssh://git@host/path`, no `.git`."""
    if "://" not in url and ":" in url.split("/", 1)[0]:
        host, _, path = url.partition(":")
        url = f"ssh://{host}/{path}"
    return url.rstrip("/").removesuffix(".git")


def _same_repository(one: str, other: str) -> bool:
    return _repository(one) == _repository(other)


def project_findings(project: FleetProject, targets: list[StackTarget]) -> Iterator[Finding]:
    bin_dir = naming.engine_cache() / "bin"
    missing = [n for n in ("pulumi", "pulumi-language-python") if not (bin_dir / n).is_file()]
    yield Finding(
        "",
        "",
        "engine",
        not missing,
        f"not in {bin_dir}: {', '.join(missing)}" if missing else f"in {bin_dir}",
        "make engine" if missing else "",
    )
    policy = project.root / "policy" / ".venv" / "bin" / "python"
    yield Finding(
        "",
        "",
        "policy pack",
        policy.is_file(),
        f"its environment {'is' if policy.is_file() else 'is not'} in policy/.venv",
        "" if policy.is_file() else "make tools",
    )
    direct = sorted(t.name for t in targets if t.settings.delivery == "direct")
    if direct:  # only `direct` delivery loads the kubernetes provider
        plugins = naming.engine_cache() / "pulumi-home" / "plugins"
        found = sorted(p.name for p in plugins.glob("resource-kubernetes-v*") if p.is_dir())
        needs = f"{', '.join(direct)} {'delivers' if len(direct) == 1 else 'deliver'} direct"
        yield Finding(
            "",
            "",
            "kubernetes provider",
            bool(found),
            f"{', '.join(found)} in {plugins}" if found else f"not in {plugins}, and {needs}",
            "" if found else "make kubernetes-provider",
        )
    seen: set[Path] = set()
    for target in targets:
        source = target.settings.gitops
        if target.settings.delivery != "gitops" or source is None:
            continue
        directory = project.checkout(target).path
        if directory in seen:
            continue
        seen.add(directory)
        origin = _origin(directory) if directory.is_dir() else None
        shown = (
            directory.relative_to(project.root)
            if directory.is_relative_to(project.root)
            else directory
        )
        if origin is None:
            yield Finding(
                "",
                "",
                f"gitops checkout {shown}",
                False,
                "not a git checkout with an `origin`",
                f"git clone {source.url} {shown}",
            )
        elif not _same_repository(origin, source.url):
            yield Finding(
                "",
                "",
                f"gitops checkout {shown}",
                False,
                f"its origin is {origin}, but hecate:gitops.url is {source.url}",
                f"git -C {shown} remote set-url origin {source.url} (or fix hecate:gitops.url)",
            )
        else:
            yield Finding("", "", f"gitops checkout {shown}", True, f"origin {origin}")


# --- each cluster --------------------------------------------------------------------------


class HttpError(RuntimeError):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason
        super().__init__(f"HTTP {status} {reason}")


def api_get(api: Any, path: str) -> bytes:
    """A GET of the API server's `path` with the context's credentials: its body, or HttpError
    for any answer but 2xx (what has no typed method: discovery, the service proxy)."""
    from kubernetes.client.exceptions import ApiException

    try:
        return api_request(api, "GET", path, timeout=10)
    except ApiException as refused:
        raise HttpError(refused.status or 0, refused.reason or "") from None


def server_version(api: Any) -> tuple[str, tuple[int, int]]:
    """The API server's version (`/version`): as it says it, and (major, minor) to compare."""
    info = json.loads(api_get(api, "/version"))
    major, minor = (
        int("".join(c for c in str(info.get(k)) if c.isdigit()) or 0) for k in ("major", "minor")
    )
    return str(info.get("gitVersion", f"v{major}.{minor}")), (major, minor)


def served(api: Any, group_version: str) -> set[str]:
    try:
        found = json.loads(api_get(api, f"/apis/{group_version}"))
    except HttpError as error:
        if error.status == 404:
            return set()
        raise
    return {r.get("name", "") for r in found.get("resources", [])}


# Which controller answers for which objects: hecate's own, else the bootstrap's (a cluster
# the program has not reached yet).
FLUX_ANSWERS = {
    "source-controller": (FLUX_GROUP_SOURCE, (naming.GIT_REPOSITORY, BOOTSTRAP)),
    "kustomize-controller": (FLUX_GROUP_KUSTOMIZE, (naming.KUSTOMIZATION, BOOTSTRAP)),
}


def _flux_answers(client: ClusterClient, timeout: float) -> tuple[bool, str]:
    """Whether source- and kustomize-controller handle a reconcile request within `timeout`:
    the request `flux reconcile` makes (ClusterClient.request_reconcile)."""
    token = client.request_reconcile()
    waiting = dict(FLUX_ANSWERS)
    deadline = time.monotonic() + timeout
    while True:
        for controller, (kind, names) in list(waiting.items()):
            found = (client.get(kind, naming.FLUX_NAMESPACE, name) for name in names)
            obj = next((o for o in found if o is not None), None)
            if obj is not None and obj.get("status", {}).get("lastHandledReconcileAt") == token:
                del waiting[controller]
        if not waiting:
            return True, "source-controller and kustomize-controller handled a reconcile request"
        if time.monotonic() > deadline:
            return False, (
                f"{' and '.join(sorted(waiting))} did not handle a reconcile request within "
                f"{timeout:.0f} s: not running, or not watching {naming.FLUX_NAMESPACE}"
            )
        time.sleep(1)


def sealing_cert(api: Any, url: str | None) -> str:
    if url:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return str(answer.read().decode())
    return api_get(api, SEALED_SECRETS_CERT).decode()


def _pem(text: str) -> str:
    return "".join(text.split())


def cluster_findings(
    target: StackTarget,
    client: ClusterClient,
    worst_case: float,
    cert_url: str | None,
    flux_timeout: float = FLUX_ANSWER_SECONDS,
) -> list[Finding]:
    """The stack's cluster, item by item; after a context that is missing or a cluster that
    does not answer, nothing more can be asked of it."""
    found: list[Finding] = []

    def add(check: str, ok: bool, detail: str, fix: str = "") -> None:
        found.append(Finding(target.name, target.cluster, check, ok, detail, fix))

    if (why := client.missing_context()) is not None:
        add("context", False, why, "hecate fleet kubeconfig --output FILE, or kubectl config")
        return found
    add("context", True, client.context)
    token_check(client, worst_case, add)
    try:
        api = client.api_client()
        git_version, version = server_version(api)
    except Exception as error:  # the client's errors have no common base worth naming
        add("API server", False, f"does not answer ({describe(error)})", "check the context")
        return found
    old = version < MIN_KUBERNETES
    add(
        "API server",
        not old,
        git_version,
        "upgrade: ValidatingAdmissionPolicy v1 needs Kubernetes 1.30 or later" if old else "",
    )
    for group_version, resource, provider in kinds_rendered(target):
        there = resource in served(api, group_version)
        add(
            f"kind {resource}",
            there,
            f"{group_version} {'served' if there else 'not served'}",
            "" if there else f"install {provider}",
        )
    denied = [n for n in GATE_NEEDS if not client.may(*n)]
    add(
        "identity",
        not denied,
        "may do what a rollout's gate does"
        if not denied
        else "may not " + "; ".join(f"{v} {r}{f'/{n}' if n else ''}" for v, _, r, _, n in denied),
        "" if not denied else "hecate fleet kubeconfig (once Flux applied clusters/<cluster>/)",
    )
    try:
        ok, said = _flux_answers(client, flux_timeout)
        add(
            "Flux controllers",
            ok,
            said,
            "" if ok else "flux check; kubectl -n flux-system get pods",
        )
    except Exception as error:
        add("Flux controllers", False, f"cannot ask: {describe(error)}", "flux check")
    try:
        cert = sealing_cert(api, cert_url)
    except Exception as error:
        where = cert_url or "the API server's proxy to kube-system/sealed-secrets-controller"
        add(
            "sealed-secrets controller",
            False,
            f"its certificate cannot be fetched from {where} ({describe(error)})",
            "kubectl -n kube-system get pods -l name=sealed-secrets-controller",
        )
        return found
    stale = target.settings.sealing_cert and _pem(target.settings.sealing_cert) != _pem(cert)
    add(
        "sealed-secrets controller",
        not stale,
        "its certificate is not the one hecate:sealingCert holds"
        if stale
        else "its certificate answers"
        + (" and is hecate:sealingCert" if target.settings.sealing_cert else ""),
        "kubeseal --fetch-cert into hecate:sealingCert, then make up" if stale else "",
    )
    return found


def token_check(
    client: ClusterClient, worst_case: float, add: Callable[[str, bool, str, str], None]
) -> None:
    """The context's token against the rollout plan's worst case (preflight.token_left)."""
    expiry, left = token_left(client)
    if expiry is None:
        add("token", True, "no expiry to check (a client certificate, or not a JWT)", "")
        return
    when = f"{expiry:%Y-%m-%d %H:%M:%S} UTC"
    fix = "hecate fleet kubeconfig --duration 24h --output FILE"
    if left <= 0:
        add("token", False, f"expired at {when}", fix)
    elif left < worst_case:
        add(
            "token",
            False,
            f"expires at {when} (in {int(left)} s), before the rollout plan's worst case of "
            f"{int(worst_case)} s",
            fix,
        )
    else:
        add("token", True, f"expires at {when} (in {int(left // 3600)} h)", "")


# --- the command ---------------------------------------------------------------------------


def diagnose(
    root: Path, kubeconfig: str | None, cert_urls: dict[str, str], progress: TextIO
) -> list[Finding]:
    project = FleetProject(root)
    targets = [project.target(stack) for stack in project.stacks]
    worst_case = load_plan(root / PLAN_FILE, project.stacks).worst_case_seconds
    findings = list(project_findings(project, targets))
    print(
        f"doctor: asking {len(targets)} clusters (Flux gets up to 30 s to answer) …", file=progress
    )

    def one(target: StackTarget) -> list[Finding]:
        client = ClusterClient(target.context, kubeconfig)
        url = cert_urls.get(target.name) or cert_urls.get(target.cluster)
        return cluster_findings(target, client, worst_case, url)

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        for each in pool.map(one, targets):
            findings += each
    return findings


def _cert_urls(given: list[str]) -> dict[str, str]:
    urls = {}
    for item in given:
        key, _, url = item.partition("=")
        if not key or not url.startswith(("http://", "https://")):
            raise ValueError(f"--sealing-cert-url {item!r}: not STACK=URL (an http(s) URL)")
        urls[key] = url
    return urls


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(
        prog="hecate doctor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_argument("--root", type=Path, default=Path.cwd(), help="the project (default: .)")
    options.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    options.add_argument(
        "--sealing-cert-url",
        action="append",
        default=[],
        metavar="STACK=URL",
        help="where a cluster's sealed-secrets certificate is published, when the API server "
        "cannot proxy to the controller (as `kubeseal --cert URL`); repeatable",
    )
    options.add_argument("--json", action="store_true", help="machine-readable output")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        findings = diagnose(
            args.root, args.kubeconfig, _cert_urls(args.sealing_cert_url), sys.stderr
        )
    except (ConfigError, PlanError, ValueError) as error:
        print(f"doctor: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        print_table("hecate doctor", findings, sys.stdout)
    return 0 if all(f.ok for f in findings) else 1
