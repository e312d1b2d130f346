"""YAML read the one safe way, wherever the parser reads YAML: the block itself and any string it
re-reads as YAML (a `parameters` value written as a quoted mapping). libyaml when PyYAML has it
(linear, and it refuses nesting deeper than 1,000), and aliases refused before anything is built
from them: a few hundred bytes of `&a`/`*a` expand to gigabytes in whatever walks the result."""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AliasesRefused(ValueError):
    """The YAML uses anchors and aliases; `node` is where it starts."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__("YAML anchors and aliases (&name, *name) are not allowed")
        self.node = node


def load_yaml(content: str) -> tuple[yaml.Node | None, Any]:
    """Compose once (the nodes carry line numbers), refuse aliases, then construct from those
    nodes. Raises yaml.YAMLError for what is not YAML and AliasesRefused."""
    loader = SAFE_LOADER(content)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if uses_aliases(node):
            raise AliasesRefused(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def load_value(content: str) -> Any:
    """The value of a YAML string, as `load_yaml` reads it (for strings re-read as YAML)."""
    return load_yaml(content)[1]


def uses_aliases(root: yaml.Node) -> bool:
    """An alias makes a node reachable twice; counted on the composed nodes, which stay as small as
    the text (each alias is one reference), so this walk is linear in the input."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return False
