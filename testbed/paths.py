"""Where the project is and what scripts/install-pulumi and scripts/install-testbed cached."""

from __future__ import annotations

from pathlib import Path

from hecate.naming import engine_cache

ROOT = Path(__file__).resolve().parents[1]
CACHE = engine_cache()
BIN = CACHE / "bin"
CRDS = CACHE / "crds"
TESTBED = CACHE / "testbed"  # CRDs and kwok stages for the local fleet
