"""The README and docs/ hold together: every relative link resolves, and every shell
example is a marked block that a test runs as written, from any directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.readme import DOCUMENTS, ROOT, marked_blocks

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n.*?^```$", re.S | re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
BASH_FENCE = re.compile(r"^```bash$", re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCE.sub("", document.read_text()))}


def links(document: Path) -> list[str]:
    """The relative links of a document, code blocks left out."""
    prose = FENCE.sub("", document.read_text())
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in links(document):
        path, _, fragment = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading #{fragment} in {file.name}")
    assert not broken, f"{document.name}: {broken}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    assert not pages - linked, f"docs pages the README does not link: {pages - linked}"


def test_links_are_found() -> None:
    # The link pattern itself: a relative link, an anchor, and an absolute URL left out.
    sample = ROOT / "README.md"
    found = links(sample)
    assert "docs/connections.md" in found and "#quick-start" in found
    assert not [t for t in found if t.startswith("http")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_bash_example_is_a_marked_block(document: Path) -> None:
    text = document.read_text()
    marked = sum(1 for d, _ in marked_blocks().values() if d == document)
    assert len(BASH_FENCE.findall(text)) == marked, (
        f"{document.name}: a ```bash block without <!-- name:start/end --> markers is never "
        "run by the tests; mark it (and run it in tests/e2e) or fence a template as ```sh"
    )


@pytest.mark.parametrize("name", sorted(marked_blocks()))
def test_a_marked_block_stops_at_its_first_failure_and_needs_no_working_directory(
    name: str,
) -> None:
    document, text = marked_blocks()[name]
    assert text.startswith("set -euo pipefail\n"), f"{document.name}: {name} lacks set -e"
    assert "$PWD" not in text and "./.conveyor" not in text, (
        f"{document.name}: {name} depends on the directory it runs from"
    )
    assert "curl -s " not in text, f"{document.name}: {name} has a curl without --fail"


@pytest.mark.parametrize("name", sorted(marked_blocks()))
def test_a_marked_block_is_run_by_an_end_to_end_test(name: str) -> None:
    sources = "".join(p.read_text() for p in (ROOT / "tests" / "e2e").glob("test_*.py"))
    assert f'run_block("{name}"' in sources, f"no test in tests/e2e runs the {name} block"


ARCHITECTURE = ROOT / "docs" / "architecture.md"
TREE_PATH = re.compile(r"(?<![\w/])((?:conveyor|tests|bench|deploy)/[\w./-]*\w)")


def test_the_architecture_names_only_paths_that_exist() -> None:
    named = set(TREE_PATH.findall(ARCHITECTURE.read_text()))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names what the tree lacks: {missing}"


def test_the_architecture_names_every_part_of_the_package() -> None:
    named = set(TREE_PATH.findall(ARCHITECTURE.read_text()))
    parts = {
        f"conveyor/{p.name}"
        for p in (ROOT / "conveyor").iterdir()
        if not p.name.startswith("_") and p.name != "py.typed" and p.name != "__pycache__"
    }
    unnamed = sorted(parts - named)
    assert not unnamed, f"docs/architecture.md does not say what these are: {unnamed}"
