"""Watching a cluster's daemon as it rolls: its pods, and every status the DaemonSet passes
through."""

from __future__ import annotations

import json
import subprocess
import threading

from hecate import naming
from testbed.paths import BIN

NAMESPACE = "hecate"
DAEMON = "hecate-daemon"
REVISION_HASH = "controller-revision-hash"


def daemon_pods(fleet, cluster: str) -> list[dict]:
    return fleet.get(cluster, "-n", NAMESPACE, "pods", "-l", "app=hecate-daemon")["items"]


def live_pods(fleet, cluster: str) -> dict[str, dict]:
    """The daemon's pods not being deleted, by UID."""
    return {
        p["metadata"]["uid"]: p
        for p in daemon_pods(fleet, cluster)
        if not p["metadata"].get("deletionTimestamp")
    }


def template_checksum(daemon_set: dict) -> str:
    """The checksum/config on a DaemonSet's pod template, rendered or live ("" for none)."""
    annotations = daemon_set["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(naming.CONFIG_CHECKSUM, "")


def current_revision(fleet, cluster: str) -> str:
    """The hash of the DaemonSet's newest ControllerRevision: the template its new pods get."""
    revisions = fleet.get(
        cluster, "-n", NAMESPACE, "controllerrevisions", "-l", "app=hecate-daemon"
    )
    newest = max(revisions["items"], key=lambda r: r["revision"])
    return newest["metadata"]["labels"][REVISION_HASH]


class _JsonWatch:
    """A `kubectl get --watch -o json` in the background, each object it prints kept."""

    def __init__(self, fleet, cluster: str, *args: str):
        self.process = subprocess.Popen(
            [str(BIN / "kubectl"), "--context", cluster, "get", *args, "--watch", "-o", "json"],
            env=fleet.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.objects: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.process.stdout:
            buffer += line
            try:
                obj, end = decoder.raw_decode(buffer.lstrip())
            except json.JSONDecodeError:
                continue
            self.objects.append(obj)
            buffer = buffer.lstrip()[end:]

    def stop(self) -> list[dict]:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.objects


class RolloutWatch(_JsonWatch):
    """Every status the DaemonSet goes through, from a `kubectl get --watch`: the most pods
    unavailable at once is read from each of them, not sampled."""

    def __init__(self, fleet, cluster: str):
        super().__init__(fleet, cluster, "-n", NAMESPACE, "daemonset", DAEMON)

    def stop(self) -> list[dict]:
        return [obj.get("status", {}) for obj in super().stop()]


class EventWatch(_JsonWatch):
    """Every watch event (ADDED, MODIFIED, DELETED) of one kind in the namespace, or of the
    Namespace itself: what `kubectl get --watch --output-watch-events` prints."""

    def __init__(self, fleet, cluster: str, kind: str):
        where = (
            ["--field-selector", f"metadata.name={NAMESPACE}"]
            if kind == "namespace"
            else ["-n", NAMESPACE]
        )
        super().__init__(fleet, cluster, kind, *where, "--output-watch-events")
        self.kind = kind

    def deleted(self) -> list[str]:
        """`Kind/name` of each object deleted while watched."""
        return [
            f"{e['object']['kind']}/{e['object']['metadata']['name']}"
            for e in self.objects
            if e.get("type") == "DELETED"
        ]
