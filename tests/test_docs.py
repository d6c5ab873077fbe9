"""The documentation's links: every relative link of README.md and docs/ points at a file that exists, and each
docs/ page is reachable from the README (linked once from it, or from a page it links)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _links(page: Path) -> list[Path]:
    return [(page.parent / target).resolve() for target in LINK.findall(page.read_text(encoding="utf-8"))
            if "://" not in target]


def test_relative_links_resolve():
    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in pages for target in _links(page)
              if not target.exists()]
    assert not broken, broken


def test_every_docs_page_is_linked_once_from_the_readme_or_its_pages():
    readme_links = _links(ROOT / "README.md")
    top = [p for p in readme_links if p.suffix == ".md" and (ROOT / "docs") in p.parents]
    assert len(top) == len(set(top)), "a docs/ page linked twice from the README"
    reachable = set(top)
    for page in top:
        reachable.update(p for p in _links(page) if p.suffix == ".md")
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")}
    assert pages - reachable == set()
