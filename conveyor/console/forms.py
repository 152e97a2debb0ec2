"""Settings forms built from the API's own models: every field a model accepts becomes a
labelled input, and a posted form becomes the same dict the API would have been sent.

A form written by hand falls behind the API the day a setting is added; one derived from
`JobFields` or `TransformationFields` cannot leave a setting unreachable. Booleans are
checkboxes, enumerations and literals are selects, numbers are number inputs, lists are
comma-separated text, and a nested model (the schedule, an event, the CDC settings) is a
group of its own fields, left out (None) when an optional one is posted empty. An empty
input means the field's default. What pydantic (or the service) refuses is shown next to
the input it names.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from conveyor.errors import InvalidInput

Kind = Literal["checkbox", "select", "number", "text", "date", "statements"]
Value = str | bool
STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")


@dataclass(frozen=True)
class Input:
    """One input of a settings form: where its value goes in the model and how it shows."""

    path: tuple[str, ...]
    name: str
    label: str
    kind: Kind
    group: str
    optional: bool = False
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    step: str = "1"
    help: str = ""
    is_list: bool = False
    in_optional_group: bool = False
    empty: str = "(none)"
    literals: tuple[Any, ...] = ()
    datalist: str = ""
    """The id of a `<datalist>` of suggestions for a text input (one list shared by many
    inputs, where a select each would repeat a thousand options)."""

    @property
    def id(self) -> str:
        """The HTML id (no dots, so a CSS selector or a label's `for` needs no escaping)."""
        return self.name.replace(".", "-")

    @property
    def api_name(self) -> str:
        """The field's name in the native API (dotted inside a nested object)."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Override:
    """What a form changes about a field's input: its name, label, kind or choices."""

    name: str | None = None
    label: str | None = None
    kind: Kind | None = None
    choices: tuple[tuple[str, str], ...] | None = None
    empty: str | None = None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside `X | None`, and whether None was allowed."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def _kind(annotation: Any) -> tuple[Kind, tuple[tuple[str, str], ...], str]:
    if annotation is bool:
        return "checkbox", (), "1"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "select", tuple((str(m.value), str(m.value)) for m in annotation), "1"
    if get_origin(annotation) is Literal:
        return "select", tuple((str(v), str(v)) for v in get_args(annotation)), "1"
    if annotation is int:
        return "number", (), "1"
    if annotation is float:
        return "number", (), "any"
    if annotation is dt.date:
        return "date", (), "1"
    return "text", (), "1"


def _label(name: str) -> str:
    return name.rstrip("_").replace("_", " ").capitalize()


def describe(
    model: type[BaseModel],
    overrides: Mapping[str, Override] | None = None,
    groups: Mapping[str, str] | None = None,
    *,
    group: str = "Settings",
    prefix: tuple[str, ...] = (),
) -> list[Input]:
    """The inputs of every field of `model`, nested models flattened into groups.
    `overrides` is keyed by the dotted API name; `groups` names the group of a top-level
    field (others go to `group`), and its order is the order the inputs are shown in."""
    overrides = overrides or {}
    inputs: list[Input] = []
    for python_name, info in model.model_fields.items():
        shown_name = info.alias or python_name
        path = (*prefix, python_name)
        dotted = ".".join((*prefix, shown_name))
        annotation, optional = _unwrap(info.annotation)
        here = (groups or {}).get(python_name, group)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            title = (groups or {}).get(python_name) or _label(python_name)
            nested = describe(annotation, overrides, prefix=(*prefix, python_name))
            inputs.extend(replace(i, group=title, in_optional_group=optional) for i in nested)
            continue
        kind, choices, step = _kind(annotation)
        is_list = get_origin(annotation) is list
        literals = get_args(annotation) if get_origin(annotation) is Literal else ()
        change = overrides.get(dotted, Override())
        inputs.append(
            Input(
                path=path,
                name=change.name or dotted,
                label=change.label or _label(shown_name),
                kind=change.kind or kind,
                group=here,
                optional=optional,
                default=_default(info),
                choices=change.choices if change.choices is not None else choices,
                step=step,
                help=info.description or "",
                is_list=is_list,
                empty=change.empty or "(none)",
                literals=literals,
            )
        )
    if groups is not None:
        order = list(dict.fromkeys([*groups.values(), group]))
        keys = list(groups)
        inputs.sort(
            key=lambda i: (
                order.index(i.group) if i.group in order else len(order),
                keys.index(i.path[0]) if i.path[0] in keys else len(keys),
            )
        )
    return inputs


def with_choices(inputs: list[Input], choices: Mapping[str, list[tuple[str, str]]]) -> list[Input]:
    """The inputs, the named ones given this request's choices (connections, jobs)."""
    return [
        replace(item, choices=tuple(choices[item.name])) if item.name in choices else item
        for item in inputs
    ]


def _default(info: FieldInfo) -> Any:
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def shown(value: Any, kind: Kind) -> Value:
    """A stored value as its input shows it."""
    if kind == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if kind == "statements":
        return "\n".join(f"{statement.rstrip().rstrip(';')};" for statement in value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def values_of(inputs: list[Input], source: BaseModel | None) -> dict[str, Value]:
    """What each input shows: the stored object's values, or the defaults for a new one."""
    values: dict[str, Value] = {}
    for item in inputs:
        value: Any = source
        for part in item.path:
            value = getattr(value, part, None) if value is not None else None
        values[item.name] = shown(value if source is not None else item.default, item.kind)
    return values


def posted_values(inputs: list[Input], form: Mapping[str, str]) -> dict[str, Value]:
    """What each input shows after a refused post: what was posted."""
    return {
        item.name: (item.name in form) if item.kind == "checkbox" else form.get(item.name, "")
        for item in inputs
    }


def statements(text: str) -> list[str]:
    """SQL statements typed one after another, each ending with `;` at the end of a line."""
    return [part.strip() for part in STATEMENT_END.split(text) if part.strip()]


def _parsed(item: Input, form: Mapping[str, str]) -> tuple[Any, bool]:
    """The input's value for the model, and whether it differs from the default (a
    group of an optional object none of whose inputs does is left out)."""
    if item.kind == "checkbox":
        return item.name in form, (item.name in form) != bool(item.default)
    raw = form.get(item.name, "").strip()
    changed = raw != "" and raw != shown(item.default, item.kind)
    if item.kind == "statements":
        return statements(raw), bool(raw)
    if raw == "":
        return (None if item.optional else item.default), False
    if item.is_list:
        return [part.strip() for part in raw.split(",") if part.strip()], changed
    typed = [value for value in item.literals if str(value) == raw]
    return (typed[0] if typed else raw), changed


def parse(
    inputs: list[Input], form: Mapping[str, str], also: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The posted form as the API's body: nested groups as objects, an optional group left
    out (None) when none of its inputs was filled in. A field that is no input (nor one
    of `also`, which the caller reads itself) is refused, as the API refuses an unknown
    field, rather than dropped."""
    known = {item.name for item in inputs}.union(also)
    unknown = sorted(name for name in form if name not in known)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}: not a setting", field=unknown[0])
    body: dict[str, Any] = {}
    filled: dict[tuple[str, ...], bool] = {}
    for item in inputs:
        value, touched = _parsed(item, form)
        target = body
        for part in item.path[:-1]:
            target = target.setdefault(part, {})
        target[item.path[-1]] = value
        parent = item.path[:-1]
        if parent:
            filled[parent] = filled.get(parent, False) or touched
    for item in inputs:
        if item.in_optional_group and not filled[item.path[:-1]]:
            body[item.path[0]] = None
    return body


@dataclass
class Errors:
    """Refusals by input name; what names no input is shown above the form."""

    by_name: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def errors_of(inputs: list[Input], exc: ValidationError | Any) -> Errors:
    """Pydantic's or a service's refusal, placed at the inputs it names."""
    names = {item.api_name: item.name for item in inputs}
    names.update({".".join(item.path): item.name for item in inputs})
    found = Errors()
    listed = (
        getattr(exc, "extra", {}).get("errors") if not isinstance(exc, ValidationError) else None
    )
    if isinstance(exc, ValidationError):
        problems = [(".".join(str(p) for p in e["loc"]), str(e["msg"])) for e in exc.errors()]
    elif listed:
        problems = [(str(e["field"]), str(e["reason"])) for e in listed]
    else:
        problems = [(str(getattr(exc, "field", None) or ""), str(exc.message))]
    for where, message in problems:
        name = names.get(where) or names.get(where.rsplit(".", 1)[0])
        if name is not None and name not in found.by_name:
            found.by_name[name] = message.removeprefix(f"{where}: ")
        else:
            found.general.append(f"{where}: {message}" if where and name is None else message)
    return found
