"""Where the project is and what scripts/install-pulumi and scripts/install-testbed cached."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("HECATE_CACHE") or Path.home() / ".cache" / "hecate")
BIN = CACHE / "bin"
CRDS = CACHE / "crds"
TESTBED = CACHE / "testbed"  # CRDs and kwok stages for the local fleet
