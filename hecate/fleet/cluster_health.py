"""What a cluster says about Hecate, read with the official kubernetes client: Flux's
Kustomization, the daemon's DaemonSet and pods, the SealedSecret; and Flux asked to reconcile.

One `ClusterHealth` is one reading. `gate()` decides from it whether a rollout may go on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import naming

# Flux's objects; `flux bootstrap` names its own source and sync `flux-system`.
FLUX_GROUP_SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
FLUX_GROUP_KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
SEALED_SECRETS = ("bitnami.com", "v1alpha1", "sealedsecrets")
BOOTSTRAP = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
# Each request to an API server: an unreachable cluster is reported, never waited on.
REQUEST_TIMEOUT = 5

PASSED, WAITING, FAILED = "passed", "waiting", "failed"


@dataclass(frozen=True)
class FluxStatus:
    ready: str  # "True", "False" or "Unknown" (also: no condition yet)
    reason: str
    message: str
    applied: str  # the commit (sha) of lastAppliedRevision, "" for none
    attempted: str
    current: bool  # the controller has seen the latest spec


@dataclass(frozen=True)
class DaemonStatus:
    desired: int
    updated: int
    ready: int
    unavailable: int
    current: bool
    template_image: str
    images: tuple[str, ...]  # what the pods run, each once


@dataclass(frozen=True)
class SealedStatus:
    synced: bool
    message: str


@dataclass(frozen=True)
class ClusterHealth:
    context: str
    error: str = ""  # why the cluster could not be read; then nothing else is known
    flux: FluxStatus | None = None
    daemon: DaemonStatus | None = None
    sealed: SealedStatus | None = None  # None: the cluster has no hecate SealedSecret

    @property
    def reachable(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Gate:
    state: str  # PASSED, WAITING or FAILED
    step: str  # the check that decided: "flux", "daemon", "sealed secret"
    detail: str
    updated: int = 0
    desired: int = 0


def revision_commit(revision: str) -> str:
    """The sha of a Flux revision (`main@sha1:<sha>`, or a bare sha)."""
    return revision.rsplit(":", 1)[-1] if revision else ""


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for found in obj.get("status", {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return {}


def _is_missing(error: Exception) -> bool:
    return getattr(error, "status", None) == 404


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    if status is not None:
        return f"HTTP {status} {getattr(error, 'reason', '')}".strip()
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


@dataclass
class ClusterClient:
    """The kubernetes client for one kubeconfig context."""

    context: str
    kubeconfig: str | None = None
    _api: Any = field(default=None, repr=False)

    def _client(self) -> Any:
        if self._api is None:
            from kubernetes import config  # 0.4 s of imports, only where a cluster is read

            self._api = config.new_client_from_config(
                config_file=self.kubeconfig, context=self.context
            )
        return self._api

    def _custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self._client())

    def _apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self._client())

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._client())

    def _get(self, kind: tuple[str, str, str], namespace: str, name: str) -> dict | None:
        group, version, plural = kind
        try:
            return self._custom().get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as error:
            if _is_missing(error):
                return None
            raise

    def read(self) -> ClusterHealth:
        """One reading of the cluster; any failure to reach it is the reading's `error`."""
        try:
            return ClusterHealth(self.context, "", self._flux(), self._daemon(), self._sealed())
        except Exception as error:  # the client's errors have no common base worth naming
            return ClusterHealth(self.context, f"unreachable ({_describe(error)})")

    def _flux(self) -> FluxStatus | None:
        obj = self._get(FLUX_GROUP_KUSTOMIZE, naming.FLUX_NAMESPACE, naming.KUSTOMIZATION)
        if obj is None:
            return None
        ready = _condition(obj, "Ready")
        status = obj.get("status", {})
        return FluxStatus(
            ready.get("status", "Unknown"),
            ready.get("reason", ""),
            ready.get("message", ""),
            revision_commit(status.get("lastAppliedRevision", "")),
            revision_commit(status.get("lastAttemptedRevision", "")),
            status.get("observedGeneration") == obj["metadata"].get("generation"),
        )

    def _daemon(self) -> DaemonStatus | None:
        try:
            ds = self._apps().read_namespaced_daemon_set(
                naming.DAEMON, naming.NAMESPACE, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as error:
            if _is_missing(error):
                return None
            raise
        pods = self._core().list_namespaced_pod(
            naming.NAMESPACE,
            label_selector=",".join(f"{k}={v}" for k, v in naming.DAEMON_SELECTOR.items()),
            _request_timeout=REQUEST_TIMEOUT,
        )
        images = sorted(
            {
                container.image
                for pod in pods.items
                if not pod.metadata.deletion_timestamp
                for container in pod.spec.containers
            }
        )
        status = ds.status
        return DaemonStatus(
            status.desired_number_scheduled or 0,
            status.updated_number_scheduled or 0,
            status.number_ready or 0,
            status.number_unavailable or 0,
            status.observed_generation == ds.metadata.generation,
            ds.spec.template.spec.containers[0].image,
            tuple(images),
        )

    def _sealed(self) -> SealedStatus | None:
        obj = self._get(SEALED_SECRETS, naming.NAMESPACE, naming.SECRET)
        if obj is None:
            return None
        synced = _condition(obj, "Synced")
        current = obj.get("status", {}).get("observedGeneration") == obj["metadata"].get(
            "generation"
        )
        return SealedStatus(
            synced.get("status") == "True" and current, synced.get("message", "") or "not yet"
        )

    def request_reconcile(self) -> str:
        """Ask Flux to reconcile now, as `flux reconcile kustomization hecate --with-source`
        does, from the bootstrap sync down: a new `requestedAt` on each source and sync."""
        token = datetime.now(UTC).isoformat(timespec="microseconds")
        patch = {"metadata": {"annotations": {REQUESTED_AT: token}}}
        targets = [
            (FLUX_GROUP_SOURCE, BOOTSTRAP),
            (FLUX_GROUP_KUSTOMIZE, BOOTSTRAP),
            (FLUX_GROUP_SOURCE, naming.GIT_REPOSITORY),
            (FLUX_GROUP_KUSTOMIZE, naming.KUSTOMIZATION),
        ]
        for (group, version, plural), name in targets:
            try:
                self._custom().patch_namespaced_custom_object(
                    group,
                    version,
                    naming.FLUX_NAMESPACE,
                    plural,
                    name,
                    patch,
                    _content_type="application/merge-patch+json",
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except Exception as error:
                if not _is_missing(error):  # a cluster bootstrapped under other names
                    raise
        return token


def max_unavailable(setting: int | str, desired: int) -> int:
    """The DaemonSet's maxUnavailable in pods: a percentage rounds up, as the controller does."""
    if isinstance(setting, str):
        return max(1, math.ceil(desired * int(setting.rstrip("%")) / 100))
    return setting


def _flux_gate(flux: FluxStatus | None, reached: Callable[[str], bool]) -> Gate | None:
    """Flux's part of the gate: None once it applied the pushed commit and is Ready."""
    if flux is None:
        return Gate(WAITING, "flux", f"no Kustomization {naming.KUSTOMIZATION} yet")
    if flux.ready == "False" and flux.current and flux.attempted and reached(flux.attempted):
        return Gate(FAILED, "flux", f"{flux.reason}: {flux.message}")
    if not (flux.ready == "True" and flux.current and flux.applied and reached(flux.applied)):
        seen = flux.applied[:12] or "nothing"
        return Gate(WAITING, "flux", f"Ready {flux.ready} {flux.reason}, applied {seen}".strip())
    return None


def gate(
    health: ClusterHealth,
    reached: Callable[[str], bool] | None,
    image: str,
    limit: int | str,
    sealed_expected: bool,
) -> Gate:
    """Whether a stack's rollout holds: Flux applied a revision that includes the pushed commit
    (`reached`) and is Ready; the DaemonSet runs `image`, all updated and ready, with
    unavailable pods within maxUnavailable; the SealedSecret synced where there is one.
    FAILED only when Flux says the pushed commit failed; anything else not there yet waits.
    `reached` None: no Flux in the loop (`direct` delivery), the cluster's objects alone."""
    if not health.reachable:
        return Gate(WAITING, "cluster", health.error)
    if reached is not None and (held := _flux_gate(health.flux, reached)) is not None:
        return held
    daemon = health.daemon
    if daemon is None:
        return Gate(WAITING, "daemon", f"no DaemonSet {naming.DAEMON}")
    allowed = max_unavailable(limit, daemon.desired)
    progress = {"updated": daemon.updated, "desired": daemon.desired}
    counts = (
        f"{daemon.updated}/{daemon.desired} updated, {daemon.ready} ready, "
        f"{daemon.unavailable} unavailable (max {allowed})"
    )
    if daemon.template_image != image:
        return Gate(WAITING, "daemon", f"runs {daemon.template_image}, not {image}", **progress)
    if not (
        daemon.current
        and daemon.updated == daemon.ready == daemon.desired
        and daemon.unavailable <= allowed
    ):
        return Gate(WAITING, "daemon", counts, **progress)
    if sealed_expected and (health.sealed is None or not health.sealed.synced):
        why = health.sealed.message if health.sealed else f"no SealedSecret {naming.SECRET} yet"
        return Gate(WAITING, "sealed secret", why, **progress)
    return Gate(PASSED, "ready", counts, **progress)
