"""The guide's manifests in tests/data/guide are the guide's, field for field.

This check needs a copy of the guide beside the repository (../shared/seed/), which developers
have and a plain clone does not; everything else compares with the data, never the guide.
"""

from __future__ import annotations

import pytest

from tests import guide


def test_each_data_file_names_a_section_and_the_five_are_there():
    assert set(guide.data()) == {
        "Deployment Model",
        "1. Create Namespace",
        "2. Create ConfigMap",
        "4. Create DaemonSet",
        "5. Create Kustomization",
    }
    assert set(guide.manifests()) == {
        "infrastructure/hecate/namespace.yaml",
        "infrastructure/hecate/configmap.yaml",
        "infrastructure/hecate/daemonset.yaml",
        "clusters/beam-cluster/hecate-kustomization.yaml",
    }


def test_the_guide_parser_finds_blocks_by_heading():
    text = (
        "# Title\n## A\n```yaml\nkind: X\n```\n```bash\nls\n```\n"
        "### B\n```yaml\n# b.yaml\nkind: Y\n```\n"
    )
    assert guide.guide_blocks(text) == {"A": {"kind": "X"}, "B": {"kind": "Y"}}


@pytest.mark.skipif(not guide.GUIDE.is_file(), reason=f"no copy of the guide at {guide.GUIDE}")
def test_the_data_is_the_guides_field_for_field():
    blocks = guide.guide_blocks(guide.GUIDE.read_text())
    for section, expected in guide.data().items():
        assert section in blocks, f"the guide has no YAML block under {section!r} any more"
        assert blocks[section] == expected.manifest, section
        if expected.written_as:
            # The block's own first line names the file it is written to.
            first = guide.GUIDE.read_text().split(f"# {expected.written_as}\n")
            assert len(first) == 2, f"the guide no longer writes {expected.written_as}"
    # And nothing in the guide is left out of the data.
    assert set(blocks) == set(guide.data())
