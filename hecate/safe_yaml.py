"""YAML read with limits: every file a person or a pull request hands the tools (stack files,
rollout plans, hand-made trees, kubeconfigs) goes through here.

A safe loader builds no objects of its own, but aliases still let a few hundred bytes stand for
billions of nodes (the "billion laughs"): whatever walks the result afterwards (a check, an
error message that prints a value) then runs out of time and memory. So a document is refused,
with a message and no traceback, when its text is over MAX_BYTES or when its nodes, counted as
the aliases expand them, are more than MAX_NODES. Counting stops at the limit, so the check
itself is bounded.
"""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's loader where the wheel has it (Pulumi.yaml is read on every run of the program).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_BYTES = 4 * 1024 * 1024  # a stack file or a plan is a few KiB; a hand-made tree, a few MiB
MAX_NODES = 200_000  # a 50-node DaemonSet's whole tree is a few thousand


class YamlRefused(ValueError):
    """The text is not YAML, or more than these files ever need."""


def _count(root: yaml.Node, source: str) -> None:
    seen, stack = 0, [root]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise YamlRefused(
                f"{source}: refused: more than {MAX_NODES} YAML nodes once its aliases are "
                "expanded (an alias bomb?); write the values out"
            )
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def _documents(text: str, source: str, many: bool) -> list[Any]:
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"{source}: refused: {len(text)} bytes, over the {MAX_BYTES} allowed")
    loader = _LOADER(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _count(node, source)
            documents.append(loader.construct_document(node))
            if not many and loader.check_node():
                raise YamlRefused(f"{source}: refused: more than one YAML document")
        return documents
    except yaml.YAMLError as error:
        raise YamlRefused(f"{source}: not valid YAML: {' '.join(str(error).split())}") from None
    finally:
        loader.dispose()


def load(text: str, source: str) -> Any:
    """The one document of `text` (None when empty), or YamlRefused naming `source`."""
    documents = _documents(text, source, many=False)
    return documents[0] if documents else None


def load_all(text: str, source: str) -> list[Any]:
    """Every document of `text`, or YamlRefused naming `source`."""
    return _documents(text, source, many=True)
