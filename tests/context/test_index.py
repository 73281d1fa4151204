"""The workspace index: BM25 over line windows, Python definitions, module names."""

from __future__ import annotations

from pathlib import Path

from codetune_lsp.context.files import FileLimits, read_source
from codetune_lsp.context.index import WorkspaceIndex, module_names, parse_file, terms
from codetune_lsp.context.symbols import python_definitions


def add(index: WorkspaceIndex, root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    source = read_source(path, [root], FileLimits())
    language = "python" if path.suffix == ".py" else "javascript"
    index.add(parse_file(path, relative, language, source))
    return path


FILLER = "".join(f"value_{n} = compute(value_{n - 1})\n" for n in range(1, 60))


def test_search_finds_the_window_sharing_rare_names(tmp_path: Path) -> None:
    index = WorkspaceIndex()
    add(index, tmp_path, "noise.py", FILLER)
    target = "def invoice_total(ledger):\n    return sum(entry.amount for entry in ledger)\n"
    add(index, tmp_path, "billing.py", FILLER + target + FILLER)
    current = add(index, tmp_path, "app.py", "totals = invoice_total(ledger)\n")
    hits = index.search(terms("invoice_total(ledger)"), "python", current, 3)
    assert [h.relative for h in hits] == ["billing.py"]
    assert hits[0].start_line <= 59 < hits[0].end_line  # the window holding the function


def test_other_languages_and_the_current_file_are_left_out(tmp_path: Path) -> None:
    index = WorkspaceIndex()
    current = add(index, tmp_path, "a.py", "rare_widget_name = 1\n")
    add(index, tmp_path, "b.js", "const rare_widget_name = 1;\n")
    assert index.search(["rare_widget_name"], "python", current, 5) == []
    assert [h.relative for h in index.search(["rare_widget_name"], "javascript", None, 5)] == [
        "b.js"
    ]


def test_replacing_and_removing_a_file_updates_postings_and_definitions(tmp_path: Path) -> None:
    index = WorkspaceIndex()
    path = add(index, tmp_path, "m.py", "def old_helper():\n    pass\n")
    assert index.definitions("old_helper")
    add(index, tmp_path, "m.py", "def new_helper():\n    pass\n")
    assert not index.definitions("old_helper") and index.definitions("new_helper")
    assert index.search(["old_helper"], "python", None, 5) == []
    index.remove(path)
    assert index.file_count == 0 and index.window_count == 0
    assert index.search(["new_helper"], "python", None, 5) == []


def test_many_updates_compact_without_losing_results(tmp_path: Path, monkeypatch) -> None:
    import codetune_lsp.context.index as index_module

    monkeypatch.setattr(index_module, "COMPACT_AFTER", 10)
    index = WorkspaceIndex()
    add(index, tmp_path, "keep.py", "def stable_lookup_name():\n    pass\n" + FILLER)
    for round_ in range(30):
        add(index, tmp_path, "churn.py", FILLER + f"round_marker_{round_} = 1\n")
    assert len(index._window_file) < 40  # removed windows were dropped
    assert [h.relative for h in index.search(["stable_lookup_name"], "python", None, 1)] == [
        "keep.py"
    ]
    assert [h.relative for h in index.search(["round_marker_29"], "python", None, 1)] == [
        "churn.py"
    ]


def test_module_names_cover_roots_above_the_package() -> None:
    assert module_names("src/pkg/mod.py") == ["src.pkg.mod", "pkg.mod", "mod"]
    assert module_names("pkg/__init__.py") == ["pkg"]
    assert module_names("main.js") == []


def test_definitions_show_signatures_docstrings_and_public_methods() -> None:
    text = (
        "RATE_LIMIT: int = 10\n"
        "def area(width: float,\n         height: float) -> float:\n"
        '    """Area of a rectangle.\n\n    More words.\n    """\n    return width * height\n'
        "class Account(Base):\n"
        '    """A bank account."""\n'
        "    def __init__(self, owner):\n        self.owner = owner\n"
        "    def _private(self):\n        pass\n"
        "    def deposit(self, amount: int) -> None:\n        pass\n"
        "def bare(x):\n    return x\n"
    )
    found = {d.name: d for d in python_definitions(text)}
    assert found["RATE_LIMIT"].text == "RATE_LIMIT: int = 10"
    assert found["area"].text.startswith("def area(width: float,\n         height: float)")
    assert "Area of a rectangle." in found["area"].text
    account = found["Account"].text
    assert "def __init__(self, owner): ..." in account and "deposit(self, amount: int)" in account
    assert "_private" not in account
    assert found["bare"].text == "def bare(x): ..."
    assert found["Account"].kind == "class" and found["area"].line == 1


def test_a_file_defining_a_name_twice_is_replaced_cleanly(tmp_path: Path) -> None:
    index = WorkspaceIndex()
    text = "class Ruler:\n    pass\n\n\nclass Ruler:  # redefined\n    pass\n"
    add(index, tmp_path, "ruler.py", text)
    add(index, tmp_path, "ruler.py", text)  # re-indexing used to fail here
    assert len(index.definitions("Ruler")) == 2
