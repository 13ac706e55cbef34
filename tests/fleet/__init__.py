"""The local fleet of real clusters (tests/fleet/testbed.py) and the tests that run on it."""
