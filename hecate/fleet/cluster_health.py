"""What a cluster says about Hecate, read with the official kubernetes client: Flux's
Kustomization, the daemon's DaemonSet and pods, the SealedSecret; and Flux asked to reconcile.

Objects are read as the API server serves them (JSON, as `kubectl get -o json` shows them),
through the client's ApiClient (its kubeconfig, TLS and token handling), not its typed API
classes: importing `CoreV1Api` and `AppsV1Api` and building their pydantic models on first use
cost more than a CPU-second in every `hecate` command that read a cluster (docs/performance.md).

One `ClusterHealth` is one reading. `gate()` decides from it whether a rollout may go on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import naming, safe_yaml

# Flux's objects; `flux bootstrap` names its own source and sync `flux-system`.
FLUX_GROUP_SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
FLUX_GROUP_KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
SEALED_SECRETS = ("bitnami.com", "v1alpha1", "sealedsecrets")
BOOTSTRAP = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
DAEMON_LABELS = ",".join(f"{k}={v}" for k, v in naming.DAEMON_SELECTOR.items())
# The label the DaemonSet controller puts on its pods and revisions: which template made them.
REVISION_HASH = "controller-revision-hash"
# What the DaemonSet controller adds to every daemon pod's tolerations (and, with the host
# network, network-unavailable): such taints never keep a daemon off a node.
DAEMON_TOLERATED = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ("node.kubernetes.io/network-unavailable", "NoSchedule"),
)
# Each request to an API server: an unreachable cluster is reported, never waited on.
REQUEST_TIMEOUT = 5


@dataclass(frozen=True)
class FluxStatus:
    ready: str  # "True", "False" or "Unknown" (also: no condition yet)
    reason: str
    message: str
    applied: str  # the commit (sha) of lastAppliedRevision, "" for none
    attempted: str
    current: bool  # the controller has seen the latest spec
    source: str = ""  # the GitRepository's trouble, as `flux get sources git` shows it; "" ready
    # The bootstrap sync (clusters/<cluster>/): its Ready reason and message when it failed, and
    # the commit it failed on.
    bootstrap_failure: str = ""
    bootstrap_attempted: str = ""
    bootstrap_applied: str = ""  # the commit the bootstrap sync last applied
    # The GitRepository is between two fetches (Ready Unknown, or a new spec not fetched yet):
    # `source` says so, and a soak waits that out.
    source_settling: bool = False
    interval: str = ""  # how often the sync applies its source again (spec.interval)


@dataclass(frozen=True)
class DaemonStatus:
    desired: int
    updated: int
    ready: int
    unavailable: int
    current: bool
    template_image: str
    images: tuple[str, ...]  # what the pods run, each once
    template_checksum: str = ""  # the template's checksum/config
    revision: str = ""  # the current template's controller revision (its hash)
    stale: tuple[str, ...] = ()  # `pod on node` for each pod on an older template
    nodes: int = 0  # nodes in the cluster
    left_out: tuple[str, ...] = ()  # `node (why)` for each node with no daemon pod
    # Why pods do not start, as `kubectl describe pod` shows it: `<reason> on <nodes>: <message>`
    troubles: tuple[str, ...] = ()


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


def revision_commit(revision: str) -> str:
    """The sha of a Flux revision (`main@sha1:<sha>`, or a bare sha)."""
    return revision.rsplit(":", 1)[-1] if revision else ""


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for found in obj.get("status", {}).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return {}


def observed(obj: dict[str, Any]) -> bool:
    """Its controller has seen the object's latest spec (status.observedGeneration): the one
    generation check, the test bed's waits included."""
    return obj.get("status", {}).get("observedGeneration") == obj["metadata"].get("generation")


def _is_missing(error: Exception) -> bool:
    return getattr(error, "status", None) == 404


def describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    if status is not None:
        return f"HTTP {status} {getattr(error, 'reason', '')}".strip()
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def api_request(
    api: Any,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    body: Any = None,
    content_type: str = "application/json",
    accept: str | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> bytes:
    """One request through a kubernetes ApiClient (its kubeconfig's server, TLS and token): the
    answer's body; any answer but 2xx raises the client's ApiException (`status`, `reason`)."""
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": accept} if accept else {}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api.param_serialize(
        method,
        path,
        query_params=list((query or {}).items()),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request, _request_timeout=timeout)
    data = bytes(response.read() or b"")
    if not 200 <= response.status <= 299:
        text = data.decode("utf-8", "replace")
        raise ApiException.from_response(http_resp=response, body=text, data=None)
    return data


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

    def api_client(self) -> Any:
        """The kubernetes ApiClient of this context (for what has no method here)."""
        return self._client()

    def missing_context(self) -> str | None:
        """Why this context cannot be used, from the kubeconfig alone (no cluster is asked), or
        None: a readable file (or, with $KUBECONFIG, files) that names the context."""
        names, problem = kubeconfig_contexts(self.kubeconfig)
        where = self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        if problem:
            return f"the kubeconfig {where} cannot be read: {problem}"
        if self.context not in names:
            has = ", ".join(sorted(names)) or "none"
            return f"the kubeconfig {where} has no context {self.context!r} (it has: {has})"
        return None

    def may(self, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        """Whether this identity may do that, as the API server answers a
        SelfSubjectAccessReview (what `kubectl auth can-i` asks)."""
        attributes = {"verb": verb, "group": group, "resource": resource}
        attributes |= {k: v for k, v in (("namespace", namespace), ("name", name)) if v}
        asked = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        review = self.call(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=asked
        )
        return bool(review.get("status", {}).get("allowed"))

    def token(self) -> str:
        """The bearer token the kubeconfig gives this context's user ("" for none)."""
        keys = self._client().configuration.api_key  # the key's name varies by client version
        value = keys.get("BearerToken") or keys.get("authorization") or ""
        return str(value).removeprefix("Bearer ")

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """One request to the API server, its answer as the server serves it (a dict); an
        answer other than 2xx raises the client's ApiException (`status`: the HTTP code)."""
        answer = api_request(
            self._client(),
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
            accept="application/json",
            timeout=timeout,
        )
        return json.loads(answer)

    def _object(self, path: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", path)
        except Exception as error:
            if _is_missing(error):
                return None
            raise

    def _items(self, path: str, **query: str) -> list[dict[str, Any]]:
        return list(self.call("GET", path, query).get("items") or [])

    def get(self, kind: tuple[str, str, str], namespace: str, name: str) -> dict | None:
        """A custom object (`kind`: group, version, plural), None when there is none."""
        group, version, plural = kind
        return self._object(f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}")

    def read(self) -> ClusterHealth:
        """One reading of the cluster; any failure to reach it is the reading's `error`."""
        try:
            return ClusterHealth(self.context, "", self._flux(), self._daemon(), self._sealed())
        except Exception as error:  # the client's errors have no common base worth naming
            return ClusterHealth(self.context, f"unreachable ({describe(error)})")

    def _flux(self) -> FluxStatus | None:
        obj = self.get(FLUX_GROUP_KUSTOMIZE, naming.FLUX_NAMESPACE, naming.KUSTOMIZATION)
        if obj is None:
            return None
        ready = _condition(obj, "Ready")
        status = obj.get("status", {})
        source, settling = self._source()
        return FluxStatus(
            ready.get("status", "Unknown"),
            ready.get("reason", ""),
            ready.get("message", ""),
            revision_commit(status.get("lastAppliedRevision", "")),
            revision_commit(status.get("lastAttemptedRevision", "")),
            observed(obj),
            source,
            *self._bootstrap(),
            source_settling=settling,
            interval=str(obj.get("spec", {}).get("interval", "")),
        )

    def _source(self) -> tuple[str, bool]:
        """The GitRepository's Ready, when it is not (a fetch or authentication error), and
        whether it is only between two fetches."""
        obj = self.get(FLUX_GROUP_SOURCE, naming.FLUX_NAMESPACE, naming.GIT_REPOSITORY)
        if obj is None:
            return f"GitRepository {naming.GIT_REPOSITORY} not found", False
        ready = _condition(obj, "Ready")
        current = observed(obj)
        if ready.get("status") == "True" and current:
            return "", False
        if ready.get("status") == "True":
            return f"GitRepository {naming.GIT_REPOSITORY}: a new spec, not fetched yet", True
        status = ready.get("status", "Unknown")
        return (
            f"GitRepository {naming.GIT_REPOSITORY} Ready {status} "
            f"{ready.get('reason', '')}: {ready.get('message', '')}"
        ).strip(), status == "Unknown"

    def _bootstrap(self) -> tuple[str, str, str]:
        """`flux-system`, which applies clusters/<cluster>/ (the Flux sync, the identity): its
        failure, if it failed, on which commit, and the commit it last applied."""
        obj = self.get(FLUX_GROUP_KUSTOMIZE, naming.FLUX_NAMESPACE, BOOTSTRAP)
        if obj is None:
            return "", "", ""
        ready = _condition(obj, "Ready")
        status = obj.get("status", {})
        applied = revision_commit(status.get("lastAppliedRevision", ""))
        current = observed(obj)
        if ready.get("status") != "False" or not current:
            return "", "", applied
        failure = f"Kustomization {BOOTSTRAP} {ready.get('reason', '')}: {ready.get('message', '')}"
        return failure, revision_commit(status.get("lastAttemptedRevision", "")), applied

    def _daemon(self) -> DaemonStatus | None:
        ns = f"namespaces/{naming.NAMESPACE}"
        ds = self._object(f"/apis/apps/v1/{ns}/daemonsets/{naming.DAEMON}")
        if ds is None:
            return None
        pods = self._items(f"/api/v1/{ns}/pods", labelSelector=DAEMON_LABELS)
        live = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
        images = sorted({c["image"] for pod in live for c in pod["spec"]["containers"]})
        revision = self._revision(ds)
        template = ds["spec"]["template"]
        annotations = template.get("metadata", {}).get("annotations") or {}
        checksum = annotations.get(naming.CONFIG_CHECKSUM, "")

        def older(pod: dict[str, Any]) -> bool:
            # Made from another revision than the newest, or (before the controller has even
            # seen the new template) carrying another checksum than the DaemonSet's template.
            made_from = (pod["metadata"].get("labels") or {}).get(REVISION_HASH)
            reads = (pod["metadata"].get("annotations") or {}).get(naming.CONFIG_CHECKSUM, "")
            return bool(revision and made_from != revision) or bool(checksum and reads != checksum)

        stale = tuple(
            f"{pod['metadata']['name']} on {pod['spec'].get('nodeName') or 'no node yet'}"
            for pod in live
            if older(pod)
        )
        nodes = self._items("/api/v1/nodes")
        with_pod = {pod["spec"].get("nodeName") for pod in live}
        left_out = tuple(
            f"{node['metadata']['name']} ({left_out_because(template, node)})"
            for node in nodes
            if node["metadata"]["name"] not in with_pod
        )
        status = ds.get("status", {})
        return DaemonStatus(
            status.get("desiredNumberScheduled") or 0,
            status.get("updatedNumberScheduled") or 0,
            status.get("numberReady") or 0,
            status.get("numberUnavailable") or 0,
            status.get("observedGeneration") == ds["metadata"].get("generation"),
            template["spec"]["containers"][0]["image"],
            tuple(images),
            checksum,
            revision,
            stale,
            len(nodes),
            left_out,
            pod_troubles(live, self._probe_failures()),
        )

    def _probe_failures(self) -> dict[str, str]:
        """Pod name → the kubelet's newest `Unhealthy` event (`Readiness probe failed: …`) in
        the daemon's namespace. Only a cause beside the counts: unreadable events leave it out."""
        try:
            events = self._items(
                f"/api/v1/namespaces/{naming.NAMESPACE}/events",
                fieldSelector="involvedObject.kind=Pod,reason=Unhealthy",
            )
        except Exception:  # a cause's detail, never the reading's failure
            return {}
        return newest_probe_failures(events)

    def _revision(self, ds: dict[str, Any]) -> str:
        """The hash of the DaemonSet's current template: its newest ControllerRevision's, as the
        DaemonSet controller labels the pods it makes from that template."""
        revisions = self._items(
            f"/apis/apps/v1/namespaces/{naming.NAMESPACE}/controllerrevisions",
            labelSelector=DAEMON_LABELS,
        )
        uid = ds["metadata"].get("uid")
        owned = [
            r
            for r in revisions
            if any(o.get("uid") == uid for o in r["metadata"].get("ownerReferences") or [])
        ]
        if not owned:
            return ""
        newest = max(owned, key=lambda r: r.get("revision", 0))
        return (newest["metadata"].get("labels") or {}).get(REVISION_HASH, "")

    def _sealed(self) -> SealedStatus | None:
        obj = self.get(SEALED_SECRETS, naming.NAMESPACE, naming.SECRET)
        if obj is None:
            return None
        synced = _condition(obj, "Synced")
        current = observed(obj)
        return SealedStatus(
            synced.get("status") == "True" and current, synced.get("message", "") or "not yet"
        )

    def request_reconcile(self, syncs: bool = True) -> str:
        """Ask Flux to reconcile now, from the bootstrap sync down: a new `requestedAt` on each
        source, and on each sync unless `syncs` is False.

        After a push, ask the sources only: the new artifact starts each sync by itself. A sync
        asked at the same moment starts at once on the artifact it has (the commit before the
        push), and one asked once the source fetched (`flux reconcile --with-source`) queues a
        second reconcile behind the one the artifact started. When the commit before is the
        failing one, as in a rollback, either costs a whole health check (the sync's timeout)
        before the pushed commit is applied; and the second hides a failed health check from
        the gate behind Ready Unknown. With nothing pushed, the syncs are asked too: Flux
        applies the same commit again (what drifted is put back)."""
        token = datetime.now(UTC).isoformat(timespec="microseconds")
        targets = [(FLUX_GROUP_SOURCE, BOOTSTRAP), (FLUX_GROUP_SOURCE, naming.GIT_REPOSITORY)]
        if syncs:
            targets += [
                (FLUX_GROUP_KUSTOMIZE, BOOTSTRAP),
                (FLUX_GROUP_KUSTOMIZE, naming.KUSTOMIZATION),
            ]
        self._request(targets, token)
        return token

    def _request(self, targets: list[tuple[tuple[str, str, str], str]], token: str) -> None:
        patch = {"metadata": {"annotations": {REQUESTED_AT: token}}}
        for (group, version, plural), name in targets:
            path = f"/apis/{group}/{version}/namespaces/{naming.FLUX_NAMESPACE}/{plural}/{name}"
            try:
                self.call("PATCH", path, body=patch, content_type="application/merge-patch+json")
            except Exception as error:
                if not _is_missing(error):  # a cluster bootstrapped under other names
                    raise


def _event_time(event: Mapping[str, Any]) -> datetime:
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    try:
        return datetime.fromisoformat(stamp) if stamp else datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def newest_probe_failures(events: list[dict[str, Any]]) -> dict[str, str]:
    """Pod name → the message of its newest `Readiness probe …` event."""
    newest: dict[str, str] = {}
    for event in sorted(events, key=_event_time):
        message = event.get("message") or ""
        if message.startswith("Readiness probe"):
            newest[event.get("involvedObject", {}).get("name", "")] = message.strip()
    return newest


def kubeconfig_contexts(path: str | None) -> tuple[list[str], str]:
    """The context names of the kubeconfig the client would load (`path`, else each file of
    $KUBECONFIG, else ~/.kube/config), and a problem ("" when none)."""
    files = [path] if path else [f for f in os.environ.get("KUBECONFIG", "").split(os.pathsep) if f]
    names: list[str] = []
    read = 0
    for file in files or ["~/.kube/config"]:
        try:
            document = safe_yaml.load(Path(file).expanduser().read_text(), file) or {}
        except OSError as error:
            if path:
                return [], error.strerror or str(error)
            continue  # $KUBECONFIG may name files that do not exist, as kubectl allows
        except safe_yaml.YamlRefused as refused:
            return [], str(refused)
        read += 1
        contexts = document.get("contexts") if isinstance(document, dict) else None
        names += [str(c["name"]) for c in contexts or [] if isinstance(c, dict) and "name" in c]
    return names, "" if read else "no such file"


def pod_troubles(
    pods: list[dict[str, Any]], probe_failures: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Why pods do not start or are not Ready, in the kubelet's and the scheduler's words, one
    line per cause with the nodes it is on: a container waiting (`ImagePullBackOff`,
    `ErrImagePull`, `CrashLoopBackOff` with its restart count), a pod not scheduled (`Pending`),
    or a running pod whose readiness probe fails (`Unhealthy`, from `probe_failures`: pod name →
    the kubelet's last event message), named pod by pod."""
    causes: dict[tuple[str, str], list[str]] = {}
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "")
        failed = (probe_failures or {}).get(name)
        if failed and _condition(pod, "Ready").get("status") != "True":
            node = pod.get("spec", {}).get("nodeName") or "no node"
            causes.setdefault(("Unhealthy", failed), []).append(f"{name} ({node})")
            continue
        node = pod.get("spec", {}).get("nodeName") or "no node"
        status = pod.get("status", {})
        waiting = [
            c
            for c in status.get("containerStatuses") or []
            if (c.get("state") or {}).get("waiting", {}).get("reason")
            not in (None, "ContainerCreating", "PodInitializing")
        ]
        for container in waiting:
            state = container["state"]["waiting"]
            reason = state["reason"]
            if reason == "CrashLoopBackOff":
                reason += f" (restarts {container.get('restartCount', 0)})"
            causes.setdefault((reason, state.get("message", "")), []).append(node)
        if not waiting and status.get("phase") == "Pending":
            scheduled = _condition(pod, "PodScheduled")
            if scheduled.get("status") == "False":
                why = f"Pending ({scheduled.get('reason', 'not scheduled')})"
                causes.setdefault((why, scheduled.get("message", "")), []).append(node)
    return tuple(
        f"{reason} on {', '.join(sorted(set(nodes)))}" + (f": {message}" if message else "")
        for (reason, message), nodes in sorted(causes.items())
    )


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Whether a toleration matches a taint, as the scheduler decides it."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
        "value", ""
    )


def left_out_because(template: dict[str, Any], node: dict[str, Any]) -> str:
    """Why a node runs no daemon pod, in the scheduler's terms: a taint the pods do not
    tolerate, a label the nodeSelector wants, or neither (no pod yet)."""
    spec = template.get("spec", {})
    tolerations = [
        *(spec.get("tolerations") or []),
        *({"key": key, "operator": "Exists", "effect": effect} for key, effect in DAEMON_TOLERATED),
    ]
    untolerated = [
        taint
        for taint in node.get("spec", {}).get("taints") or []
        if taint.get("effect") in ("NoSchedule", "NoExecute")
        and not any(tolerates(t, taint) for t in tolerations)
    ]
    if untolerated:
        shown = ", ".join(
            f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
            for t in untolerated
        )
        return f"taint {shown} not tolerated"
    labels = node.get("metadata", {}).get("labels") or {}
    missing = [
        f"{key}={value}"
        for key, value in (spec.get("nodeSelector") or {}).items()
        if labels.get(key) != value
    ]
    if missing:
        return f"not selected: nodeSelector wants {', '.join(missing)}"
    return "no daemon pod yet"
