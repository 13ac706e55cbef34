"""The end-to-end tests need the engine and tools that
`make engine kubernetes-provider tools` installs."""

import pytest

from testbed.scratch import missing_tools


@pytest.fixture(scope="session", autouse=True)
def engine_installed():
    missing = missing_tools()
    # Not a skip: CI installs the engine first, so its absence is a failure.
    assert not missing, f"missing {', '.join(missing)}: run `make engine kubernetes-provider tools`"
