"""The OpenAPI document is the contract: every operation lists every status it can answer.

Routes declare what is theirs — their success status, model and media type, the query
parameters a facade reads itself. What every operation of a surface shares is added here,
once, when the document is first asked for: the failures the request path, the
authentication and the error handler can answer with, each in the error body of the
surface the path belongs to. Which surface that is, and how its error body looks, comes
from the same registry the error handler renders with (`problems.add_shape`, the longest
prefix winning), so the document cannot say one thing while the handler does another:

- every authenticated operation: 400 (a body that is not JSON or nests too deeply, a bad
  query option), 401, 403, 404, 422 (a value refused), 429 (too many failed sign-ins);
- operations that change something (POST, PUT, PATCH, DELETE): also 409 (the resource's
  state refuses it: a job with a running run, a name taken) and 413 (a body over
  `CONVEYOR_MAX_BODY_BYTES`);
- each status as the surface answers it (`ErrorDoc.statuses`: CData and Elastic answer a
  422 as a 400), in its media type and schema; FastAPI's own `HTTPValidationError`
  is replaced, because the handler never answers it.

A route that documents a failure itself (a download's 409, the datafeed's 504) keeps its
description, and gets the surface's error body when it names none.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from conveyor.api.problems import ErrorDoc, Shapes

PUBLIC = frozenset({"/healthz", "/readyz"})
"""Operations anyone may call: no authentication, so none of its failures."""
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
CHANGES = frozenset({"post", "put", "patch", "delete"})
EVERY = (400, 401, 403, 404, 422, 429)
WRITES = (409, 413)
DESCRIPTIONS = {
    400: "Bad request: the body is not JSON or nests too deeply, or a query option is invalid.",
    401: "Authentication failed: missing or invalid credentials.",
    403: "The caller's role does not allow this.",
    404: "Not found (or in a workspace the caller cannot see).",
    409: "The resource's current state refuses the change.",
    413: "The request body is larger than CONVEYOR_MAX_BODY_BYTES.",
    422: "A value in the request is invalid.",
    429: "Too many failed sign-ins; `Retry-After` says when to try again.",
}
FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def failures(path: str, method: str) -> tuple[int, ...]:
    """The native statuses of the failures an operation shares with its surface."""
    if path in PUBLIC:
        return ()
    return EVERY + WRITES if method in CHANGES else EVERY


def _is_fastapi_validation(entry: dict[str, Any]) -> bool:
    content = entry.get("content", {})
    refs = [media.get("schema", {}).get("$ref") for media in content.values()]
    return FASTAPI_VALIDATION in refs


def _error_content(doc: ErrorDoc) -> dict[str, Any]:
    return {doc.media_type: {"schema": {"$ref": f"#/components/schemas/{doc.name}"}}}


def document_failures(operation: dict[str, Any], path: str, method: str, doc: ErrorDoc) -> None:
    """Add the failures an operation shares with its surface, in that surface's body."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, entry in list(responses.items()):
        if _is_fastapi_validation(entry):
            del responses[code]  # re-added below as the surface answers it, if it does
    for native in failures(path, method):
        status = doc.status(native)
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for code, entry in responses.items():
        if code[0] in "45" and not entry.get("content"):
            entry["content"] = _error_content(doc)


def complete(schema: dict[str, Any], shapes: Shapes) -> dict[str, Any]:
    """The document FastAPI generated, with every operation's shared failures added."""
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for path, item in schema.get("paths", {}).items():
        doc = shapes.doc_of(path)
        for method, operation in item.items():
            if method in METHODS:
                document_failures(operation, path, method, doc)
                components.setdefault(doc.name, doc.schema)
    if FASTAPI_VALIDATION not in repr(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed document at `/openapi.json` (after the routes and shapes)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), app.state.error_shapes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
