"""YAML for recipes: the safe loader, refusing duplicate keys and alias expansion beyond a small bound.

Aliases share one parsed node, so a "billion laughs" document parses small and only explodes when something walks
it (the recipe digest serialises it); the expanded size is counted while composing and refused early.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_EXPANDED_NODES = 100_000  # a recipe is a few hundred nodes; aliases may repeat parts, not multiply them


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts the expanded size of every node and refuses duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # noqa: ANN401 - PyYAML's signature
        node = super().compose_node(parent, index)
        if id(node) not in self._sizes:
            if isinstance(node, SequenceNode):
                children = node.value
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = []
            size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
            if size > MAX_EXPANDED_NODES:
                raise ComposerError(
                    None,
                    None,
                    f"the document expands to more than {MAX_EXPANDED_NODES} nodes through aliases",
                    node.start_mark,
                )
            self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeConstructor reports it
                continue
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:  # noqa: ANN401 - any YAML value
    """Parse YAML like `yaml.safe_load`, within the bounds above (raises `yaml.YAMLError`)."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
