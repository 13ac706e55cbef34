"""Faults the tests inject on the local fleet: kwok Stages that give the daemon's pods of a
chosen image what a kubelet reports for an image that never becomes ready, a tag that does not
exist, a daemon that crashes, and a daemon that runs but fails its health check."""

from __future__ import annotations

# On the test bed, a daemon image whose tag ends in this never becomes ready (a kwok Stage):
# the failing version of the tests.
UNREADY_SUFFIX = "-unready"
# And what a kubelet reports for a tag that does not exist, and for a daemon that crashes.
IMAGE_MISSING_VERSION = "0.0.404"
CRASHING_VERSION = "0.0.500"
# A daemon whose /api/health answers 503: running, never Ready, the kubelet's probe event.
UNHEALTHY_VERSION = "0.0.503"
PROBE_FAILED = "Readiness probe failed: curl: (22) The requested URL returned error: 503"


def _failing_stage(name: str, image_suffix: str, status: str, event: dict | None = None) -> dict:
    """Pods of an image ending in `image_suffix` get `status`, in place of the stock pod-ready
    stage (the weight), and `event` as the kubelet would record it. A status that stays Pending
    holds no time, so that applying it again changes nothing."""
    next_step: dict = {"statusTemplate": status}
    if event is not None:
        next_step["event"] = event
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                    {
                        "key": f'.spec.containers.[0].image | endswith("{image_suffix}")'
                        " | tostring",
                        "operator": "In",
                        "values": ["true"],
                    },
                ]
            },
            "weight": 1,
            "next": next_step,
        },
    }


def _waiting_status(phase: str, reason: str, message: str, restarts: int, last: str = "") -> str:
    """A pod's status as the kubelet reports a container that waits: `reason` and `message`
    (a template expression), after `restarts` restarts (`last` its last state, if any)."""
    return f"""\
phase: {phase}
conditions:
- status: "False"
  reason: ContainersNotReady
  type: Ready
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: {restarts}{last}
  state:
    waiting:
      reason: {reason}
      message: {message}
{{{{ end }}}}
hostIP: {{{{ NodeIPWith .spec.nodeName }}}}
"""


# An image the kubelet cannot pull: Pending, the container waiting.
IMAGE_MISSING_STATUS = _waiting_status(
    "Pending", "ImagePullBackOff", '{{ printf "Back-off pulling image %q" .image | Quote }}', 0
)
# A daemon that exits on start: Running, the container waiting to be restarted.
CRASH_LOOP_STATUS = _waiting_status(
    "Running",
    "CrashLoopBackOff",
    "back-off 5m0s restarting failed container",
    5,
    "\n  lastState:\n    terminated:\n      exitCode: 1\n      reason: Error",
)


# Running, but never ready: what a daemon that crashes on start-up looks like to a rollout.
UNREADY_STATUS = """\
{{ $now := Now }}
phase: Running
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName }}
startTime: {{ $now | Quote }}
"""


def stages(unready_image: str) -> list[dict]:
    """The kwok Stages of every fault, for kwokctl's configuration."""
    return [
        _failing_stage("hecate-unready", unready_image, UNREADY_STATUS),
        _failing_stage("hecate-image-missing", f":{IMAGE_MISSING_VERSION}", IMAGE_MISSING_STATUS),
        _failing_stage("hecate-crash-loop", f":{CRASHING_VERSION}", CRASH_LOOP_STATUS),
        _failing_stage(
            "hecate-unhealthy",
            f":{UNHEALTHY_VERSION}",
            UNREADY_STATUS,
            {"type": "Warning", "reason": "Unhealthy", "message": PROBE_FAILED},
        ),
    ]
