"""Typed models read back from stored rows, each field from the column of its name.

A definition's or a response's fields mostly share their names with the row's columns (a
job's `name`, a connection's `last_test_ok`), so a service states only where its model and
its table differ: the JSON documents a row keeps some fields in (a job's `settings`), and
the values stored another way or worked out on the way out (a masked URL).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)


def read(model: type[Model], row: object, *documents: Mapping[str, Any], **values: Any) -> Model:
    """`model` validated from `row`: the keys of its JSON `documents`, then the columns
    named like the model's fields, then `values`, each overriding what came before.

    `row` is an ORM object: its class declares its columns (`shared`)."""
    row_type: Any = type(row)  # a class is hashable, whatever mypy makes of type[object]
    columns = {name: getattr(row, name) for name in shared(model, row_type)}
    spread = {key: value for document in documents for key, value in document.items()}
    return model.model_validate({**spread, **columns, **values})


@functools.cache
def shared(model: type[BaseModel], row_type: type) -> tuple[str, ...]:
    """The names of `model`'s fields that `row_type` has as attributes, worked out once
    per pair: asking each row for each field (most of a response's are not columns) cost
    a job list a fifth of its time."""
    return tuple(name for name in model.model_fields if hasattr(row_type, name))
