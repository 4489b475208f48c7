"""YAML to plain data, with the line of every value, from ``yaml.compose`` (safe loader only).

Playbooks are attacker-adjacent content: the file size and the number of nodes are bounded
(aliases that expand to billions of nodes stop at the budget), and no tag beyond YAML's core
schema is honoured (``SafeLoader``).
"""

from __future__ import annotations

from typing import Any

import yaml

#: Largest playbook file read, and most nodes walked in one (aliases count every time).
MAX_FILE_BYTES = 256 * 1024
MAX_NODES = 50_000
#: Deepest nesting walked (a recursive alias, ``&a [*a]``, would otherwise never end).
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]
_PLAIN_TAGS = frozenset(
    {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
)


class YamlProblem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class LinedYaml:
    """Plain data and the (1-based) line of each path in it (``("steps", 2, "with", "ip")``)."""

    def __init__(self, data: Any, lines: dict[Path_, int]) -> None:
        self.data = data
        self._lines = lines

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)


def load(text: str) -> LinedYaml:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlProblem(f"larger than {MAX_FILE_BYTES} bytes", None)
    try:
        loader = yaml.SafeLoader(text)  # the reader checks characters already
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}", None) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlProblem("empty document", 1)
        lines: dict[Path_, int] = {}
        budget = [MAX_NODES]
        data = _walk(loader, node, (), lines, budget)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlProblem(
            f"not valid YAML: {exc.problem or exc}", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}", None) from None
    finally:
        loader.dispose()
    return LinedYaml(data, lines)


def _walk(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if len(path) > MAX_DEPTH:
        line = node.start_mark.line + 1
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)", line)
    if budget[0] < 0:
        raise YamlProblem(
            f"more than {MAX_NODES} values (aliases expanding?)", node.start_mark.line + 1
        )
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
        # Scalars meet SafeLoader's constructors; collections are walked here, so check tags too.
        raise YamlProblem(
            f"not valid YAML: tag {node.tag!r} is not allowed", node.start_mark.line + 1
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise YamlProblem(
                    f"keys must be strings, not {key!r}", key_node.start_mark.line + 1
                )
            if key in out:
                raise YamlProblem(f"key {key!r} appears twice", key_node.start_mark.line + 1)
            out[key] = _walk(loader, value_node, (*path, key), lines, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*path, i), lines, budget) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
