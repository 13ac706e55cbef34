"""The whole GitOps loop on real clusters, for every committed stack: `pulumi up` renders, a push,
Flux applies, the DaemonSet rolls out on every fake node; a version moves forward and back."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from hecate.grammars import parse_quantity
from testbed import api_reads, flux
from testbed.deployment import on_each
from testbed.processes import wait_for
from tests import guide
from tests.local_fleet.watch import RolloutWatch, daemon_pods

NAMESPACE = "hecate"
DAEMON = "hecate-daemon"


def canonical(value: Any) -> Any:
    """Quantities as numbers: the API server stores `1000m` as `1`."""
    if isinstance(value, dict):
        return {
            k: (
                {q: parse_quantity(str(v)) for q, v in value[k].items()}
                if k in ("requests", "limits") and isinstance(value[k], dict)
                else canonical(value[k])
            )
            for k in value
        }
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def applies_what_the_program_renders(deployment) -> None:
    fleet, cluster = deployment.fleet, deployment.cluster
    # The deployment was made (up, commit, push) on first use; reconcile to the remote's head.
    commit = deployment.push_head()
    kustomization = flux.sync(fleet, cluster, commit)
    head = subprocess.run(
        ["git", "ls-remote", fleet.git_url, "refs/heads/main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert commit == head
    assert flux.condition(kustomization)["status"] == "True", flux.ready_reason(kustomization)
    assert kustomization["status"]["lastAppliedRevision"] == f"main@sha1:{commit}"

    # What the program rendered is what the cluster holds (plus the server's defaults).
    for name in ("namespace.yaml", "configmap.yaml", "daemonset.yaml"):
        manifest = deployment.rendered(name)
        live = fleet.get(
            cluster,
            manifest["kind"].lower(),
            manifest["metadata"]["name"],
            *(["-n", NAMESPACE] if manifest["kind"] != "Namespace" else []),
        )
        assert guide.missing_or_different(canonical(manifest), canonical(live)) == [], name
    configmap = fleet.get(cluster, "-n", NAMESPACE, "configmap", "hecate-config")
    written = guide.manifests()["infrastructure/hecate/configmap.yaml"]
    assert set(configmap["data"]) == set(written["data"])

    # Every node runs the daemon, on the stack's image, mounting what the guide mounts.
    image = deployment.image
    ds = fleet.get(cluster, "-n", NAMESPACE, "daemonset", DAEMON)["status"]
    assert ds["desiredNumberScheduled"] == ds["updatedNumberScheduled"] == ds["numberReady"]
    assert ds["numberReady"] == fleet.nodes == len(fleet.get(cluster, "nodes")["items"])
    pods = daemon_pods(fleet, cluster)
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(
        n["metadata"]["name"] for n in fleet.get(cluster, "nodes")["items"]
    )
    want = guide.manifests()["infrastructure/hecate/daemonset.yaml"]["spec"]["template"]["spec"]
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container["image"] == image
        assert pod["spec"]["hostNetwork"] is True
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        for mount in want["containers"][0]["volumeMounts"]:
            assert mounts.get(mount["name"]) == mount["mountPath"], pod["metadata"]["name"]
        volumes = {v["name"]: v.get("hostPath") for v in pod["spec"]["volumes"]}
        for volume in want["volumes"]:
            assert volumes[volume["name"]] == volume["hostPath"], pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running"


def rolls_out_and_back(deployment) -> None:
    fleet, cluster = deployment.fleet, deployment.cluster
    old_image = deployment.image
    max_unavailable = deployment.max_unavailable
    watch = RolloutWatch(fleet, cluster)
    try:
        deployment.config("hecate:version", "0.7.3")
        commit, _ = deployment.deploy(f"deploy({cluster}): hecate-daemon 0.7.3")
        new_image = deployment.image
        assert new_image.endswith(":0.7.3")
        assert deployment.rolled_out(new_image)
    finally:
        statuses = watch.stop()
    # The rollout really happened under the watch, and never took more nodes down than allowed.
    assert any(s.get("updatedNumberScheduled", 0) < fleet.nodes for s in statuses), statuses
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= max_unavailable

    revert = deployment.revert(commit)
    flux.sync(fleet, cluster, revert)
    assert deployment.rolled_out(old_image)
    # The stack follows the revert: the program renders exactly what the revert put back.
    deployment.config("hecate:version", old_image.rsplit(":", 1)[1])
    deployment.up()
    assert deployment.in_step()


def test_flux_applies_what_the_program_renders(every_deployment):
    on_each(every_deployment, applies_what_the_program_renders)


def test_a_version_rolls_out_and_a_git_revert_rolls_it_back(every_deployment):
    on_each(every_deployment, rolls_out_and_back)


# Every wait of the fleet tests reads through Fleet.get, in process (testbed/api_reads.py).
READS = [
    ("nodes",),
    ("namespace", NAMESPACE),
    ("-n", NAMESPACE, "configmap", "hecate-config"),
    ("-n", NAMESPACE, "daemonset", DAEMON),
    ("-n", NAMESPACE, "pods", "-l", f"app={DAEMON}"),
    ("-n", "flux-system", "kustomization", "hecate"),
    ("-n", "flux-system", "gitrepositories"),
]


def test_the_test_bed_reads_a_cluster_as_kubectl_prints_it(every_deployment):
    deployment = every_deployment[0]
    fleet, cluster = deployment.fleet, deployment.cluster
    # A DaemonSet and its pods to read (the deployment's first sync waited for Flux's health
    # check): one read when they are there, not the whole sync again.
    wait_for("the daemon on every node", lambda: deployment.rolled_out(deployment.image), 120)
    for args in READS:
        printed = json.loads(fleet.kubectl(cluster, "get", *args, "-o", "json").stdout)
        assert printed["items"] if "items" in printed else printed["metadata"]["name"], args
        # A controller may write in between (node heartbeats): the same state, within a few reads.
        reads = [api_reads.read(fleet.kubeconfig, cluster, args)]
        while reads[-1] != printed and len(reads) < 3:
            printed = json.loads(fleet.kubectl(cluster, "get", *args, "-o", "json").stdout)
            reads.append(api_reads.read(fleet.kubeconfig, cluster, args))
        assert reads[-1] == printed, args
