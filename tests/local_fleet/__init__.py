"""The tests that run on the local fleet of real clusters (the testbed package)."""
