"""How deep a JSON text nests, found without parsing it.

Python's `json` recurses once per nested array or object, so a body of 100,000 `[`
exhausts the interpreter's stack (a `RecursionError`: a 500 and a dropped connection),
and pydantic would recurse again over whatever was built. The request limits refuse such
a text before any parser sees it, and this module answers their question — "does it nest
deeper than N?" — in passes that run at C speed over the bytes, whatever the text holds:

1. a bound first: a text with at most N opening brackets cannot nest deeper than N (most
   bodies end here, after two `bytes.count`);
2. escaped backslashes, then escaped quotes are dropped (left to right, as a parser pairs
   them), so that every string is a plain `"…"`;
3. everything but quotes and brackets is dropped, `{` folded onto `[` (depth does not care
   which kind), and then the strings are cut out (an unterminated one runs to the end), so
   brackets inside strings do not count;
4. empty pairs `[]` are removed a few times: each pass takes the innermost level off every
   well-formed structure, so wide and shallow texts shrink to almost nothing;
5. the remaining runs of `[` and `]` are walked, counting depth plus the levels removed.

The answer is exact for well-formed JSON: there, each pass that removes anything lowers
the deepest level by exactly one. A malformed text (which the parser refuses anyway) may
be called too deep when it is truncated within a few levels of the limit or has deep
structures after a stray closing bracket, where counting stops as a parser would.
"""

from __future__ import annotations

import json
import re

_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_FOLD = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_RUNS = re.compile(rb"\[+|\]+")
_OPEN = ord("[")
_PASSES = 3


def utf8(data: bytes) -> bytes:
    """The text as UTF-8, as `json.loads` would decode it (it also accepts UTF-16 and -32).

    In UTF-16 a quote or bracket byte can belong to another character, so the scan would
    be misled: such texts are re-encoded first (rare, and bounded by the body limit).
    """
    encoding = json.detect_encoding(data)
    if encoding in ("utf-8", "utf-8-sig"):
        return data
    return data.decode(encoding, errors="replace").encode("utf-8")


def nests_deeper(data: bytes | str, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than `limit` levels deep."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    raw = utf8(raw)
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = unescaped.translate(_FOLD, _NOT_STRUCTURE)
    if b'"' in brackets:
        brackets = _STRING.sub(b"", brackets)
    removed = 0
    for _ in range(_PASSES):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets, removed = shorter, removed + 1
    allowed = limit - removed
    depth = 0
    for run in _RUNS.finditer(brackets):
        start, end = run.span()
        if brackets[start] == _OPEN:
            depth += end - start
            if depth > allowed:
                return True
        else:
            depth -= end - start
            if depth < 0:
                break  # a parser fails here: nothing after it is nested into
    return removed > limit  # what the passes took off alone
