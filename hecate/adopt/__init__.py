"""`hecate adopt --stack beam`: a cluster deployed by hand from the deployment guide
moves under the program, with nothing on the cluster deleted and its sealed keys kept.

It reads the cluster's hand-made tree (hecate/handmade_tree.py) and writes Pulumi.<stack>.yaml
so that the program renders the same objects:
- what a setting expresses becomes that setting; the sealed values are copied as they are
  (nothing is decrypted or sealed again: the controller opens the same ciphertext);
- every other field of the hand-made objects becomes a `hecate:patches` entry, checked to
  reproduce it exactly, or adopt refuses; no field is dropped;
- it prints what the first `make up` will change on the cluster (labels, hardening, the digest
  annotation, the per-cluster path).

In the gitops checkout it keeps the clusters still on the shared layout working: the shared
directory gets a kustomization.yaml listing its own files (else Flux's generated one would take
in the per-cluster directories below it), and the shared files go with the last cluster to move
(or `--remove-shared`). Every check runs before anything is written.

Exit status: 0 written (or, with --dry-run, would be), 1 refused, 2 usage.

Its parts, each importing only those before it: `model` (the plan, a change, the refusal),
`inverse` (what the settings express of the hand-made objects, and patches for the rest),
`planning` (the plan, checked, nothing written), `writing`, `report`, and `cli`.
"""

from .cli import main, parser
from .inverse import kept_fields, settings_from, without_nulls
from .model import AdoptRefused, Change, Plan
from .planning import plan
from .writing import apply, remove_shared_only

__all__ = [
    "AdoptRefused",
    "Change",
    "Plan",
    "apply",
    "kept_fields",
    "main",
    "parser",
    "plan",
    "remove_shared_only",
    "settings_from",
    "without_nulls",
]
