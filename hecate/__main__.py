"""Command-line tools beside the Pulumi program: `hecate verify --stack beam`, `hecate fleet
status|preview|rollout`, `hecate adopt --stack beam`, `hecate doctor` (`hecate` is what `make
venv` installs; `python -m hecate` is the same)."""

import importlib
import sys

from hecate.signals import let_children_hear_sigint

# Each imported only when run: `fleet` brings the Automation API, kubernetes and rich.
COMMANDS = {
    "verify": "hecate.verify",
    "fleet": "hecate.fleet.cli",
    "adopt": "hecate.adopt",
    "doctor": "hecate.doctor",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: hecate {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    let_children_hear_sigint()  # before any pulumi process starts (hecate/signals.py)
    return importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
