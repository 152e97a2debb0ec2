"""Reading a `conveyor.yaml`: YAML with each value's line kept, `${ENV_VAR}` references
filled in, and every mistake reported as `file:line: path: what is wrong`.

A reviewer of a pull request reads the file, not the API's field paths, so an error names
the line as well as the path (`conveyor.yaml:14: jobs[1].schedule.cron: …`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from conveyor.errors import InvalidInput
from conveyor.manifest.model import Manifest

Path_ = tuple[str | int, ...]
REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""`${NAME}` is the variable's value; `$${` is a literal `${`. Any other `$` is itself
(PostgreSQL's `$$` quoting in a transformation stays as written)."""


class ManifestError(InvalidInput):
    """The file is not a valid conveyor.yaml."""


def where(path: Path_) -> str:
    """A path as a reader writes it: `jobs[1].schedule.cron`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the file)"


def _line(lines: Mapping[Path_, int], path: Path_) -> int:
    """The line of the value at `path`, or of its nearest parent in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


def _tree(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            out[str(key)] = _tree(loader, value_node, (*path, str(key)), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_tree(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def _substitute(value: Any, path: Path_, env: Mapping[str, str], missing: list[Path_]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, k), env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), env, missing) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        if name not in env:
            missing.append((*path, name))
            return ""
        return env[name]

    return REFERENCE.sub(fill, value)


def load(text: str, filename: str, env: Mapping[str, str] | None = None) -> Manifest:
    """The file's manifest, its references filled from `env` (default: the environment);
    `ManifestError` naming the file, line and path of the first mistakes."""
    loader = yaml.SafeLoader(text)
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        raw = {} if node is None else _tree(loader, node, (), lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context, begun = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and begun is not None:
            problem += f" ({context} begun on line {begun.line + 1})"
        raise ManifestError(f"{filename}:{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    if not isinstance(raw, dict):
        raise ManifestError(f"{filename}:1: expected a mapping of connections, jobs, …")
    missing: list[Path_] = []
    data = _substitute(raw, (), os.environ if env is None else env, missing)
    if missing:
        problems = [
            f"{filename}:{_line(lines, p[:-1])}: {where(p[:-1])}: ${{{p[-1]}}} is not set"
            for p in missing
        ]
        raise ManifestError("\n".join(problems))
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:10]:
            path = tuple(part for part in error["loc"] if not _is_model_branch(part))
            reason = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{filename}:{_line(lines, path)}: {where(path)}: {reason}")
        raise ManifestError("\n".join(problems)) from None


def _is_model_branch(part: Any) -> bool:
    """A union member's name in an error's location (`function-after[…]`), not a key."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
