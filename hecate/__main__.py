"""Command-line tools beside the Pulumi program: `hecate verify --stack beam`, `hecate fleet
status|preview|rollout`, `hecate adopt --stack beam`, `hecate doctor` (`hecate` is what `make
venv` installs; `python -m hecate` is the same)."""

import importlib
import sys

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
    return importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
