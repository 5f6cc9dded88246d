"""The documentation cannot rot: every ```python block of docs/**/*.md and README.md runs here.

Each page runs in a fresh temporary working directory, its blocks in order and in one namespace (as a
reader would paste them into one script). A block that cannot run in a test (a GPU, a cluster, hours of
training, placeholders for the reader's own code) carries an HTML comment on the line right above it,

    <!-- no-test: needs a SLURM cluster -->

and only a small share of all blocks may be skipped that way. The command line's help names the docs
page that explains each command; those pages must exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from archtune.cli import build_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NO_TEST = re.compile(r"^\s*<!--\s*no-test:\s*(?P<reason>\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MAX_SKIPPED_SHARE = 0.25  # at most a quarter of the examples may be marked no-test


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the no-test reason, or None


def pages() -> list[Path]:
    found = [p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts]
    return sorted(found) + [ROOT / "README.md"]


def blocks(page: Path) -> list[Block]:
    """The fenced ```python blocks of a page (also inside list items), with their no-test marks."""
    lines = page.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        if info.split()[:1] == ["python"]:
            body = [
                line[len(indent) :] if line.startswith(indent) else line.lstrip()
                for line in lines[i + 1 : end]
            ]
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            mark = NO_TEST.match(previous)
            out.append(Block(page, i + 1, "\n".join(body) + "\n", mark["reason"] if mark else None))
        i = end + 1
    return out


ALL_BLOCKS = [b for page in pages() for b in blocks(page)]
PAGES_WITH_CODE = sorted({b.page for b in ALL_BLOCKS if b.skip is None})


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_id)
def test_the_page_code_runs(page: Path, tmp_path, monkeypatch):
    from archtune.spaces.registry import SPACES
    from archtune.strategy.registry import STRATEGIES

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}  # as a script of the reader's would run
    registries = [(r, dict(r)) for r in (STRATEGIES, SPACES)]  # a page may register its own: undone after
    try:
        for block in blocks(page):
            if block.skip is not None:
                continue
            code = compile(block.code, f"{_id(page)}:{block.line}", "exec")
            try:
                exec(code, namespace)
            except Exception as err:
                raise AssertionError(
                    f"the code block at {_id(page)}:{block.line} fails: {type(err).__name__}: {err}"
                ) from err
    finally:
        for registry, saved in registries:
            registry.clear()
            registry.update(saved)


def test_the_docs_have_code_and_few_blocks_are_skipped():
    skipped = [b for b in ALL_BLOCKS if b.skip is not None]
    assert len(ALL_BLOCKS) >= 30, "the docs lost their examples"
    share = len(skipped) / len(ALL_BLOCKS)
    listing = "\n".join(f"{_id(b.page)}:{b.line}: {b.skip}" for b in skipped)
    assert share <= MAX_SKIPPED_SHARE, (
        f"{len(skipped)} of {len(ALL_BLOCKS)} code blocks are no-test:\n{listing}"
    )


def test_every_no_test_mark_sits_right_above_a_python_block():
    """A mark anywhere else would skip nothing and hide a typo."""
    for page in pages():
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if "no-test" not in line:
                continue
            assert NO_TEST.match(line), f"{_id(page)}:{i + 1}: write <!-- no-test: reason -->"
            following = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
            assert following.strip() == "```python", (
                f"{_id(page)}:{i + 1}: the mark is not above a ```python block"
            )


def test_the_block_finder_reads_indented_fences_and_marks(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n- item:\n\n  ```python\n  x = 1\n  ```\n\n<!-- no-test: needs a GPU -->\n```python\n"
        "cuda()\n```\n\n```bash\nls\n```\n"
    )
    found = blocks(page)
    assert [(b.code, b.skip) for b in found] == [("x = 1\n", None), ("cuda()\n", "needs a GPU")]


def _subcommands() -> dict[str, str]:
    parser, commands = build_commands()
    helps = {"archtune": parser.format_help()}
    for name, sub in commands.items():
        helps[f"archtune {name}"] = sub.format_help()
    return helps


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_command_help_names_an_existing_docs_page(command):
    text = _subcommands()[command]
    named = re.findall(r"docs/[\w./-]+\.md", text)
    assert named, f"`{command} --help` names no docs page"
    for path in named:
        assert (ROOT / path).is_file(), f"`{command} --help` names {path}, which does not exist"
