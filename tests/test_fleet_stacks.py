"""What the fleet tool reads of a stack through the engine (hecate/fleet/stacks.py)."""

from __future__ import annotations

import pytest

from hecate.fleet.stacks import deployed_version


@pytest.mark.parametrize(
    ("outputs", "version"),
    [
        ({"image": "ghcr.io/hecate-social/hecate-daemon:0.7.2"}, "0.7.2"),
        ({"image": "127.0.0.1:5000/hecate-daemon:0.9.3-unready"}, "0.9.3-unready"),
        ({"image": "127.0.0.1:5000/hecate-daemon"}, None),  # a registry port is not a tag
        ({}, None),  # never updated
        ({"image": None}, None),
    ],
)
def test_the_version_a_stack_deployed_is_its_image_output_s_tag(outputs, version):
    assert deployed_version(outputs) == version
