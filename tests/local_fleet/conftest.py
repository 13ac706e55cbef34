"""One fleet per session (per pytest-xdist worker), brought up in a temporary work directory
and taken down by its process ids afterwards, whatever the tests did; one deployment per
committed stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.components import CLUSTERS, missing_components
from testbed.deployment import Deployment
from testbed.fleet import Fleet, fetch_cert
from testbed.local_fleet import Bringup
from testbed.rollout_project import RolloutProject
from testbed.scratch import missing_tools, set_plain
from tests.local_fleet.waves import SOAK, STACKS, THROWAWAY_KEY

NODES = 3
HERE = Path(__file__).parent

# `make test` runs this tier on two pytest-xdist workers (`--dist loadgroup`), each with a fleet
# of its own: each module belongs to one of these groups, and a group runs whole, in file order,
# on one worker. Within a group the modules keep the order they had on a single fleet: the
# single-stack modules (each stack's own deployments) before any rollout module (test_waves*,
# one project of every stack), and test_adopt.py first, on clusters nothing has deployed to yet.
# The groups are balanced by the modules' measured times (docs/performance.md).
FLEET_GROUPS = {
    "test_adopt.py": "fleet-1",
    "test_direct_delivery.py": "fleet-1",
    "test_dry_run.py": "fleet-1",
    "test_failures.py": "fleet-1",
    "test_fleet_identity.py": "fleet-1",
    "test_fleet_lifetime.py": "fleet-1",
    "test_gitops_loop.py": "fleet-1",
    "test_pod_template.py": "fleet-1",
    "test_sealed_secrets.py": "fleet-1",
    "test_waves.py": "fleet-2",
    "test_waves_benches.py": "fleet-2",
    "test_waves_checks.py": "fleet-2",
    "test_waves_doctor.py": "fleet-1",
    "test_waves_outages.py": "fleet-1",
    "test_waves_page_getting_started.py": "fleet-2",
    "test_waves_reports.py": "fleet-1",
    "test_waves_road.py": "fleet-1",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent != HERE:
            continue
        group = FLEET_GROUPS.get(item.path.name)
        if group is None:
            raise pytest.UsageError(
                f"tests/local_fleet/{item.path.name} is in no fleet group: add it to "
                f"FLEET_GROUPS in tests/local_fleet/conftest.py (groups: "
                f"{', '.join(sorted(set(FLEET_GROUPS.values())))})"
            )
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def bringup(tmp_path_factory) -> Iterator[Bringup]:
    missing = missing_components() + missing_tools()
    # Not a skip: `make test` builds the test bed first, so its absence is a failure.
    assert not missing, (
        f"missing {', '.join(missing)}: run `make testbed engine kubernetes-provider tools`"
    )
    bringup = Bringup(tmp_path_factory.mktemp("fleet"), CLUSTERS, NODES)
    try:
        yield bringup
    finally:
        recorded = bringup.launcher.recorded()  # down() removes the pid files with the rest
        bringup.down()
        left = [pid for pid in recorded.values() if bringup.launcher.ours(pid)]
        left += bringup.launcher.strays()
        assert not left, f"processes of the fleet still running after it was taken down: {left}"


@pytest.fixture(scope="session")
def fleet(bringup) -> Fleet:
    return bringup.up()


@pytest.fixture(scope="session")
def deployments(fleet, tmp_path_factory) -> dict[str, Deployment]:
    """Each committed stack's deployment, created (and first deployed) on first use."""
    return _Deployments(fleet, tmp_path_factory)


class _Deployments(dict):
    def __init__(self, fleet: Fleet, factory):
        super().__init__()
        self.fleet, self.factory = fleet, factory

    def __missing__(self, stack: str) -> Deployment:
        deployment = Deployment.create(self.fleet, stack, self.factory.mktemp(f"stack-{stack}"))
        deployment.deploy(f"deploy({deployment.cluster}): first sync")
        self[stack] = deployment
        return deployment


@pytest.fixture
def deployment(stack, deployments) -> Deployment:
    return deployments[stack]


@pytest.fixture
def every_deployment(deployments) -> list[Deployment]:
    """Every committed stack's deployment, for a test that runs on every cluster at once
    (testbed.deployment.on_each)."""
    return [deployments[stack] for stack in STACKS]


@pytest.fixture(scope="session")
def fleet_project(fleet, tmp_path_factory) -> Iterator[RolloutProject]:
    """One project of every committed stack, for the rollout tests (test_waves*.py, after the
    single-stack modules of their group): each test leaves the fleet in step, on the version the
    project's stack files say."""
    project = RolloutProject.create(fleet, tmp_path_factory.mktemp("waves"), dev_soak=SOAK)
    # beam seals a throwaway key, so that its gate waits for the SealedSecret too.
    set_plain(
        project.root / "Pulumi.beam.yaml", {"hecate:sealingCert": fetch_cert(fleet, "beam-cluster")}
    )
    secret = ["--secret", "--path", "hecate:apiKeys.OPENAI_API_KEY", "--", THROWAWAY_KEY]
    project.project.pulumi("config", "set", "--stack", "beam", *secret)
    # The committed config, rolled out as it is: every cluster on its stack's version.
    try:
        # (Whatever the earlier modules left running, older or newer: the committed config.)
        report = project.json("rollout", "--plain", "--allow-downgrade")
        assert report["result"] == "rolled out", report
        # Every test below drives the fleet as CI does: with the rendered identity only.
        project.use_fleet_identity()
        yield project
    finally:
        project.stop_started()
