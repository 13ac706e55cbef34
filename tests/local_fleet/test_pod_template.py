"""Every change reaches every pod, on exactly the nodes it should, on real clusters: a setting the
daemon reads rolls the pods within maxUnavailable, an unchanged `up` rolls none; a tainted node
gets the daemon only with its toleration, a nodeSelector keeps it to the labelled nodes, and
the gate's counts (and words) follow. (A rotated API key rolls the pods too: test_sealed_secrets.)

Not for every stack: one cluster each shows it, and each test leaves its stack as committed.
"""

from __future__ import annotations

from hecate import naming
from hecate.fleet.cluster_health import ClusterClient
from hecate.fleet.gates import PASSED, gate
from testbed import flux
from testbed.mocks import stack_config
from testbed.processes import wait_for
from tests.local_fleet.watch import (
    REVISION_HASH,
    RolloutWatch,
    current_revision,
    live_pods,
    template_checksum,
)

TAINT = "hecate.test/gpu"
POOL = "hecate.test/pool"


def rendered_checksum(deployment) -> str:
    return template_checksum(deployment.rendered("daemonset.yaml"))


def verdict(deployment, commit: str):
    """The fleet tool's own gate on the cluster as it is now."""
    health = ClusterClient(deployment.cluster, str(deployment.fleet.kubeconfig)).read()
    return gate(
        health,
        lambda applied: applied == commit,
        deployment.image,
        deployment.max_unavailable,
        False,
        rendered_checksum(deployment),
    )


def test_a_setting_the_daemon_reads_replaces_every_pod_and_an_unchanged_up_none(deployments):
    deployment = deployments["edge"]
    fleet, cluster, stack = deployment.fleet, deployment.cluster, deployment.stack
    committed = stack_config(stack)["hecate:logLevel"]
    flux.sync(fleet, cluster, deployment.push_head())
    before, revision = live_pods(fleet, cluster), current_revision(fleet, cluster)
    checksum = rendered_checksum(deployment)
    try:
        deployment.config("hecate:logLevel", "error")
        # The preview names the ConfigMap and the DaemonSet (its template's checksum), no more.
        steps = deployment.project.preview_steps(stack)
        changed = sorted(s["urn"].split("::")[-1] for s in steps if s["op"] not in ("same", "read"))
        assert changed == ["hecate-config", "hecate-daemon"], changed

        watch = RolloutWatch(fleet, cluster)
        try:
            commit, _ = deployment.deploy(f"deploy({cluster}): hecate:logLevel")
        finally:
            statuses = watch.stop()
        after = live_pods(fleet, cluster)
        new_revision = current_revision(fleet, cluster)
        new_checksum = rendered_checksum(deployment)
        # Every pod replaced (new UIDs), from the new template, under the watch, never more than
        # maxUnavailable down at once.
        assert len(after) == fleet.nodes and not set(after) & set(before)
        assert new_revision != revision and new_checksum != checksum
        for pod in after.values():
            assert pod["metadata"]["labels"][REVISION_HASH] == new_revision
            assert pod["metadata"]["annotations"][naming.CONFIG_CHECKSUM] == new_checksum
        assert any(s.get("updatedNumberScheduled", 0) < fleet.nodes for s in statuses), statuses
        assert max(s.get("numberUnavailable", 0) for s in statuses) <= deployment.max_unavailable
        configmap = fleet.get(cluster, "-n", "hecate", "configmap", "hecate-config")
        assert configmap["data"]["HECATE_LOG_LEVEL"] == "error"
        assert verdict(deployment, commit).state == PASSED

        # An `up` that changes nothing renders nothing new, so no pod is replaced.
        deployment.up()
        assert deployment.in_step()
        flux.sync(fleet, cluster, deployment.push_head())
        assert set(live_pods(fleet, cluster)) == set(after)
        assert current_revision(fleet, cluster) == new_revision
    finally:
        deployment.config("hecate:logLevel", committed)
        as_committed(deployment)


def as_committed(deployment) -> None:
    """Render the stack's config as it stands now, push whatever changed, and sync."""
    deployment.up()
    if not deployment.in_step():
        deployment.push(f"deploy({deployment.cluster}): back as committed")
    flux.sync(deployment.fleet, deployment.cluster, deployment.push_head())


def node_names(fleet, cluster: str) -> list[str]:
    return sorted(n["metadata"]["name"] for n in fleet.get(cluster, "nodes")["items"])


def daemon_nodes(fleet, cluster: str) -> list[str]:
    return sorted(p["spec"].get("nodeName", "") for p in live_pods(fleet, cluster).values())


def settled_on(deployment, nodes: list[str]):
    """Until the daemon runs, ready, on exactly `nodes`; returns the DaemonSet's status."""
    fleet, cluster = deployment.fleet, deployment.cluster

    def settled():
        ds = fleet.get(cluster, "-n", "hecate", "daemonset", "hecate-daemon")
        status = ds["status"]
        done = (
            status.get("observedGeneration") == ds["metadata"]["generation"]
            and status.get("desiredNumberScheduled") == len(nodes)
            and status.get("numberReady") == len(nodes)
            and daemon_nodes(fleet, cluster) == nodes
        )
        return status if done else None

    return wait_for(f"{cluster}: the daemon on exactly {nodes}", settled, timeout=120)


def test_a_tainted_node_gets_the_daemon_only_with_its_toleration(deployments):
    deployment = deployments["beam"]
    fleet, cluster = deployment.fleet, deployment.cluster
    flux.sync(fleet, cluster, deployment.push_head())
    gpu, *others = node_names(fleet, cluster)
    try:
        fleet.kubectl(cluster, "taint", "node", gpu, f"{TAINT}=present:NoSchedule")
        # NoSchedule keeps a running pod; the one the node would get anew must tolerate it.
        on_gpu = [p for p in live_pods(fleet, cluster).values() if p["spec"]["nodeName"] == gpu]
        fleet.kubectl(cluster, "delete", "pod", "-n", "hecate", on_gpu[0]["metadata"]["name"])
        status = settled_on(deployment, others)
        assert status["desiredNumberScheduled"] == fleet.nodes - 1
        result = verdict(deployment, deployment.push_head())
        assert result.state == PASSED, result
        assert (result.desired, result.updated) == (fleet.nodes - 1, fleet.nodes - 1)
        assert f"on {fleet.nodes - 1} of {fleet.nodes} nodes, not on {gpu} (taint " in result.detail
        assert f"{TAINT}=present:NoSchedule not tolerated)" in result.detail

        # With the toleration, the daemon runs there too.
        for key, value in (("key", TAINT), ("operator", "Exists"), ("effect", "NoSchedule")):
            deployment.config(f"hecate:tolerations[0].{key}", value)
        commit, _ = deployment.deploy(f"deploy({cluster}): hecate:tolerations")
        settled_on(deployment, sorted([gpu, *others]))
        result = verdict(deployment, commit)
        assert result.state == PASSED and result.desired == fleet.nodes, result
        assert "not on" not in result.detail

        # A nodeSelector keeps it to the labelled nodes, and the counts follow.
        labelled = sorted([gpu, others[0]])
        for node in labelled:
            fleet.kubectl(cluster, "label", "node", node, f"{POOL}=ollama")
        deployment.config(f'hecate:nodeSelector["{POOL}"]', "ollama")
        commit, _ = deployment.deploy(f"deploy({cluster}): hecate:nodeSelector")
        settled_on(deployment, labelled)
        result = verdict(deployment, commit)
        assert result.state == PASSED and (result.desired, result.updated) == (2, 2), result
        for node in others[1:]:
            assert f"{node} (not selected: nodeSelector wants {POOL}=ollama)" in result.detail
    finally:
        # Back as committed, whatever the test got to: nodes plain, settings unset, rendered.
        fleet.kubectl(cluster, "taint", "node", gpu, f"{TAINT}-", check=False)
        for node in (gpu, *others):
            fleet.kubectl(cluster, "label", "node", node, f"{POOL}-", check=False)
        for key in ("hecate:tolerations", "hecate:nodeSelector"):
            deployment.project.pulumi("config", "rm", "--stack", deployment.stack, key, check=False)
        as_committed(deployment)
    settled_on(deployment, sorted([gpu, *others]))
