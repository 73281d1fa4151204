"""The three snippet sources and the service that combines them for one cursor."""

from __future__ import annotations

from pathlib import Path

from codetune_lsp.context.service import ContextSwitches, CrossFileContext
from codetune_lsp.context.sources import (
    OpenDocument,
    imported_modules,
    module_aliases,
    open_documents,
)


def workspace(root: Path, files: dict[str, str]) -> CrossFileContext:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    context = CrossFileContext()
    context.set_roots([root])
    assert context.ready.wait(30)
    return context


def gather(context: CrossFileContext, root: Path, relative: str, text: str):
    return context.gather(
        f"file://{root / relative}", root / relative, "python", text, len(text), ContextSwitches()
    )


def test_module_aliases_name_the_module_each_import_binds() -> None:
    text = "import networkx as nx\nfrom . import util\nfrom fsspec import asyn as fs_asyn\n"
    aliases = module_aliases(text, "app/views/page.py")
    assert aliases["nx"] == "networkx"
    assert aliases["util"] == "app.views.util"
    assert aliases["fs_asyn"] == "fsspec.asyn"


def test_relative_and_absolute_imports_resolve_to_module_names() -> None:
    text = "import os, json\nfrom . import util\nfrom ..core.models import User, Group\n"
    modules = imported_modules(text, "app/views/page.py")
    assert {"os", "json", "app.views", "app.views.util", "app.core.models"} <= set(modules)
    assert "app.core.models.User" in modules


def test_an_imported_definition_wins_over_others_of_the_same_name(tmp_path: Path) -> None:
    context = workspace(
        tmp_path,
        {
            "billing/tax.py": 'def compute(amount):\n    """Tax on an amount."""\n',
            "physics/motion.py": 'def compute(mass):\n    """Momentum."""\n',
            "app.py": "",
        },
    )
    text = "from billing.tax import compute\n\nresult = compute("
    snippets = gather(context, tmp_path, "app.py", text).snippets
    assert snippets[0].source == "definition" and snippets[0].path == "billing/tax.py"
    assert "Tax on an amount." in snippets[0].text
    assert all("Momentum" not in s.text for s in snippets if s.source == "definition")


def test_an_ambiguous_name_not_imported_gets_no_definition(tmp_path: Path) -> None:
    context = workspace(
        tmp_path,
        {"a.py": "def compute(x):\n    pass\n", "b.py": "def compute(y):\n    pass\n"},
    )
    snippets = gather(context, tmp_path, "c.py", "value = compute(").snippets
    assert [s for s in snippets if s.source == "definition"] == []


def test_names_defined_in_the_current_file_are_not_looked_up(tmp_path: Path) -> None:
    context = workspace(tmp_path, {"lib.py": "def helper(x):\n    pass\n"})
    text = "def helper(y):\n    return y\n\nhelper("
    snippets = gather(context, tmp_path, "app.py", text).snippets
    assert [s for s in snippets if s.source == "definition"] == []


def test_open_documents_give_their_most_similar_window() -> None:
    unrelated = "\n".join(f"noise_{n} = {n}" for n in range(60))
    relevant = (
        "def render_invoice(invoice, template_engine):\n    return template_engine.render(invoice)"
    )
    documents = [
        OpenDocument("a.py", "python", unrelated + "\n" + relevant),
        OpenDocument("b.js", "javascript", relevant),
    ]
    found = open_documents(documents, ["render_invoice", "invoice", "template_engine"], "python")
    assert len(found) == 1 and found[0].path == "a.py"
    assert "render_invoice" in found[0].text and found[0].line >= 50


def test_the_answer_is_reused_while_the_cursor_stays_on_its_line(tmp_path: Path) -> None:
    context = workspace(tmp_path, {"lib.py": "def scale_vector(v, k):\n    pass\n"})
    text = "from lib import scale_vector\nout = scale_vector("
    first = gather(context, tmp_path, "app.py", text)
    again = gather(context, tmp_path, "app.py", text + "v, ")
    assert again is first  # same line: the prompt's start stays the same as you type
    moved = gather(context, tmp_path, "app.py", text + "v, 2)\nnext_line = ")
    assert moved is not first


def test_a_module_dot_on_the_line_renews_the_answer_once(tmp_path: Path) -> None:
    context = workspace(tmp_path, {"units.py": "def metres(x):\n    pass\n", "app.py": ""})
    line = "import units\nlength = "
    first = gather(context, tmp_path, "app.py", line)
    at_dot = gather(context, tmp_path, "app.py", line + "units.")
    assert at_dot is not first and at_dot.members == ("metres",)
    typing = [line + "units.me", line + "units.metres(3", line + "units.metres(3) + 1"]
    assert all(gather(context, tmp_path, "app.py", t) is at_dot for t in typing)


def test_documents_outside_the_allowed_roots_get_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    context = workspace(root, {"lib.py": "def helper(x):\n    pass\n"})
    outside = tmp_path / "other.py"
    assert context.gather("u", outside, "python", "helper(", 7, ContextSwitches()) is None
    context.edited("file://x", outside, "python", "secret_function = 1")
    inside = gather(context, root, "app.py", "from lib import helper\nsecret_function + helper(")
    assert all("secret_function" not in s.text for s in inside.snippets)


def test_imported_names_used_around_the_cursor_are_looked_up_too(tmp_path: Path) -> None:
    context = workspace(
        tmp_path,
        {
            "util.py": 'def slugify(text):\n    """URL-safe form of a title."""\n',
            "other.py": 'def unused_helper():\n    """Not needed here."""\n',
        },
    )
    text = (
        "from util import slugify\nfrom other import unused_helper\n\ndef page(title):\n    name = "
    )
    after = "\n    return slugify(title) + name\n"
    found = context.gather(
        "file://x", tmp_path / "app.py", "python", text + after, len(text), ContextSwitches()
    )
    definitions = [s for s in found.snippets if s.source == "definition"]
    assert definitions[0].path == "util.py"  # used just below the cursor: first


def test_file_events_update_the_index(tmp_path: Path) -> None:
    context = workspace(tmp_path, {"a.py": "def first_helper():\n    pass\n"})
    (tmp_path / "b.py").write_text("def second_helper():\n    pass\n")
    context.file_changed(tmp_path / "b.py")
    assert context.wait_idle(30)
    assert context.index.definitions("second_helper")
    (tmp_path / "a.py").unlink()
    context.file_deleted(tmp_path / "a.py")
    assert context.wait_idle(30)
    assert not context.index.definitions("first_helper") and context.index.file_count == 1


def test_new_roots_replace_the_old_index(tmp_path: Path) -> None:
    context = workspace(tmp_path / "one", {"a.py": "def only_in_one():\n    pass\n"})
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "b.py").write_text("def only_in_two():\n    pass\n")
    context.set_roots([tmp_path / "two"])
    assert context.ready.wait(30)
    assert not context.index.definitions("only_in_one")
    assert context.index.definitions("only_in_two")


def test_the_members_of_a_module_cover_every_name_it_binds(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    context = workspace(
        root,
        {
            "__init__.py": "from .prices import *\nfrom shop.tax import vat_rate as vat\n",
            "prices.py": "def net_price(p):\n    pass\ncurrency = 'EUR'\nMAX_ITEMS: int = 9\n",
            "tax.py": "def vat_rate():\n    pass\n",
            "io/__init__.py": "",
            "views/cart.py": "",
        },
    )
    text = "import shop\n\ntotal = shop."
    found = gather(context, root, "views/cart.py", text)
    assert found.members_of == "shop"
    assert set(found.members) == {
        "net_price", "currency", "MAX_ITEMS",  # through the star import
        "vat",  # re-exported under another name
        "prices", "tax", "io", "views",  # submodules
    }  # fmt: skip
    elsewhere = gather(context, root, "views/cart.py", "import shop\n\n\ntotal = 1 + ")
    assert elsewhere.members == ()


def test_a_completion_after_a_module_dot_must_begin_with_one_of_its_names() -> None:
    from codetune_lsp.context.service import CursorContext
    from codetune_lsp.features.completion import member_words

    cursor = CursorContext((), "shop", "cart.py", "shop", ("net_price", "net_total", "tax"))
    assert member_words("x = shop.", cursor) == ("net_price", "net_total", "tax")
    assert member_words("x = shop.net_", cursor) == ("price", "total")  # less what is typed
    assert member_words("x = shop.vat", cursor) == ()  # nothing fits: the model is free
    assert member_words("x = other.", cursor) == ()
    assert member_words("x = shop.net_price(", cursor) == ()


def test_the_names_follow_star_imports_from_a_root_package(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    context = workspace(
        root,
        {
            "__init__.py": "from shapes.polygons import *\nfrom .circles import *\n",
            "polygons.py": "def polygon_area(p):\n    pass\n",
            "circles.py": "def circle_area(r):\n    pass\n",
            "plots/draw.py": "",
        },
    )
    text = "import shapes as sh\n\ndef draw(p):\n    size = sh.c"
    found = gather(context, root, "plots/draw.py", text)
    assert found.members_of == "sh"
    assert {"polygon_area", "circle_area", "polygons", "circles", "plots"} <= set(found.members)
