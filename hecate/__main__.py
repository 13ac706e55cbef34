"""Command-line tools beside the Pulumi program: `python -m hecate verify --stack beam`,
`python -m hecate fleet status|preview|rollout`, `python -m hecate adopt --stack beam`."""

import importlib
import sys

# Each imported only when run: `fleet` brings the Automation API, kubernetes and rich.
COMMANDS = {"verify": "hecate.verify", "fleet": "hecate.fleet.cli", "adopt": "hecate.adopt"}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m hecate {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:]))
