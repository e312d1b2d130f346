"""YAML read the one safe way, wherever the parser reads YAML: the block itself and any string it
re-reads as YAML (a `parameters` value written as a quoted mapping). libyaml when PyYAML has it
(linear, and it refuses nesting deeper than 1,000), and aliases refused before anything is built
from them: a few hundred bytes of `&a`/`*a` expand to gigabytes in whatever walks the result."""

from __future__ import annotations

from typing import Any, ClassVar

import yaml

STR, BOOL, NULL, TIMESTAMP = (f"tag:yaml.org,2002:{name}" for name in ("str", "bool", "null", "timestamp"))
WORD_KEYS = (BOOL, NULL)  # a plain key YAML 1.1 reads as one of these stays the word written


def join_surrogate_pairs(text: str) -> str:
    """YAML decodes `"\\ud83d\\ude00"` as two lone surrogates where JSON gives one character;
    pairs are joined here, and a lone half is left for the item's check to refuse on its line."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    joined = text.encode("utf-16-le", "surrogatepass")
    try:
        return joined.decode("utf-16-le")
    except UnicodeDecodeError:
        return text


def with_brain_rules(base: type[Any]) -> type[Any]:
    """A loader class reading YAML as a brain means it, for every reader of brain text: no
    implicit timestamps (`2024-01-01` stays text; a `date` is not JSON and crashed submit), a plain
    key YAML 1.1 would read as a boolean or null (`on`, `off`, `yes`, `null`, `~`) stays that word,
    and surrogate pairs are one character. Values keep YAML's rules for numbers and booleans."""

    class BrainLoader(base):
        yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP]
            for first, resolvers in base.yaml_implicit_resolvers.items()
        }

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            for key, _value in node.value:
                plain = not key.style if isinstance(key, yaml.ScalarNode) else False  # libyaml: ""
                if plain and key.tag in WORD_KEYS:
                    key.tag = STR
            return super().construct_mapping(node, deep=deep)

        def construct_brain_str(self, node: yaml.ScalarNode) -> str:
            return join_surrogate_pairs(str(self.construct_scalar(node)))

    BrainLoader.add_constructor(STR, BrainLoader.construct_brain_str)
    BrainLoader.add_constructor(TIMESTAMP, BrainLoader.construct_brain_str)  # `!!timestamp x`: text
    return BrainLoader


SAFE_LOADER = with_brain_rules(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
PURE_LOADER = with_brain_rules(yaml.SafeLoader)  # for the tolerant reader, which adds its own rule


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
