"""The JSON depth scan: exact on well-formed texts, whatever their strings hold."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from conveyor.api.json_depth import nests_deeper


def depth(value: Any) -> int:
    """How deep a parsed value nests (what the scan must find without parsing)."""
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    return 0


CASES: list[tuple[str, bytes | str, int, bool]] = [
    ("empty", b"", 1, False),
    ("scalar", b"42", 1, False),
    ("flat object", b'{"a": 1, "b": [1, 2]}', 2, False),
    ("two levels over one", b'{"a": [1]}', 1, True),
    ("exactly at the limit", b"[[[[]]]]", 4, False),
    ("one over the limit", b"[[[[[]]]]]", 4, True),
    ("objects and arrays alike", b'{"a":{"b":[{"c":[]}]}}', 5, False),
    ("objects and arrays, one over", b'{"a":{"b":[{"c":[{}]}]}}', 5, True),
    ("wide but shallow", b"[" + b"[],{}," * 5000 + b"1]", 2, False),
    ("brackets inside a string", b'["[[[[[[[[{{{{{{{{"]', 1, False),
    ("an escaped quote does not end a string", b'["\\"[[[[[[[[[["]', 1, False),
    ("an escaped backslash ends before the quote", b'["\\\\", [[[[]]]]]', 4, True),
    ("three backslashes then a quote", b'["a\\\\\\"[[[[[[[["]', 1, False),
    ("a key full of brackets", b'{"[[[[{{{{": {"]]]]": 1}}', 2, False),
    ("unicode text around brackets", '{"ünï[[[[[[cödé": ["✓", "🚚[[[["]}'.encode(), 2, False),
    ("str input", "[[[[[[]]]]]]", 5, True),
    ("100,000 deep", b"[" * 100_000 + b"]" * 100_000, 64, True),
    ("100,000 open, never closed", b"[" * 100_000, 64, True),
    ("unterminated string swallows the rest", b'["abc [[[[[[[[[[[[', 4, False),
    ("closers first: the parser stops there", b"]]]]" + b"[" * 10, 5, False),
    ("deep after a wide prefix", b"[" + b"[]," * 1000 + b"[" * 70 + b"]" * 71, 64, True),
    ("UTF-16 is read as json.loads reads it", '[["\u5b5b\u2200"]]'.encode("utf-16"), 2, False),
    ("UTF-16 deep", ("[" * 10 + "]" * 10).encode("utf-16-le"), 5, True),
    ("UTF-32 deep", ("[" * 10 + "]" * 10).encode("utf-32-be"), 9, True),
]


@pytest.mark.parametrize(
    ("text", "limit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_scan_finds_the_depth(text: bytes | str, limit: int, expected: bool) -> None:
    assert nests_deeper(text, limit) is expected


def _random_value(levels: int, rng: random.Random) -> Any:
    if levels == 0 or rng.random() < 0.2:
        return rng.choice([1, 2.5, None, True, 'a[{"\\', "\\", '"]]}', "ü[", '\\"[', "\u2028{"])
    if rng.random() < 0.5:
        return [_random_value(levels - 1, rng) for _ in range(rng.randint(0, 3))]
    keys = ["k", "[", '{"', "\\", "]}"]
    return {
        rng.choice(keys) + str(i): _random_value(levels - 1, rng) for i in range(rng.randint(0, 3))
    }


def test_the_scan_agrees_with_a_parser_on_random_documents() -> None:
    rng = random.Random(14)
    for _ in range(3000):
        value = _random_value(rng.randint(1, 12), rng)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        for encoding in ("utf-8", "utf-16"):
            for limit in (1, 2, 3, 4, 6):
                assert nests_deeper(text.encode(encoding), limit) is (depth(value) > limit), text
