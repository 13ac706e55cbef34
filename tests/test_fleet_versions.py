"""Which way a rollout moves a cluster: SemVer order, and nothing unknown taken for older."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hecate.fleet.versions import DowngradeRefused, is_older, running_version

IMAGE = "ghcr.io/hecate-social/hecate-daemon"


@pytest.mark.parametrize(
    ("target", "running", "older"),
    [
        ("0.7.2", "0.7.3", True),
        ("0.7.3", "0.7.3", False),
        ("0.7.10", "0.7.9", False),  # numbers, not text: 10 comes after 9
        ("0.8.0-rc.1", "0.8.0", True),  # a pre-release comes before its release
        ("0.8.0", "0.8.0-rc.1", False),
        ("0.8.0-rc.2", "0.8.0-rc.10", True),
        ("0.7.2", "", False),  # nothing known runs: nothing to compare
        ("0.7.2", "latest", False),
    ],
)
def test_older_is_semver_order_and_unknown_is_never_older(target, running, older):
    assert is_older(target, running) is older


def test_the_running_version_is_the_newest_release_of_the_stacks_image():
    images = [f"{IMAGE}:0.7.2", f"{IMAGE}:0.7.10", "other/image:9.9.9", f"{IMAGE}:latest"]
    assert running_version(images, IMAGE) == "0.7.10"
    assert running_version(["other/image:1.0.0"], IMAGE) == ""
    assert running_version([], IMAGE) == ""


versions = st.tuples(*(st.integers(0, 30),) * 3).map(lambda v: ".".join(map(str, v)))


@given(versions, versions)
def test_exactly_one_direction_unless_equal(a, b):
    assert not (is_older(a, b) and is_older(b, a))
    assert is_older(a, b) or is_older(b, a) or a == b


def test_a_refusal_names_each_cluster_its_pods_and_the_target_and_the_way_round():
    refused = DowngradeRefused([("beam", "beam-cluster", "0.7.3", "0.7.2")])
    assert "stack beam (beam-cluster): its pods run 0.7.3, the rollout would deploy 0.7.2" in str(
        refused
    )
    assert "--allow-downgrade" in str(refused)
