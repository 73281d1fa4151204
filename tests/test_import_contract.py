"""The house's layers, checked over the package's source (every import, lazy ones included).

Lower layers never import higher ones; heavy or specialised dependencies stay in the one
place that owns them: torch and transformers in the local backend, SQLAlchemy and alembic
in ``store/``, Jinja in the renderer. The features speak plain data: lsprotocol types are
built and read in the LSP layer, never in ``features/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import codetune_lsp

PACKAGE = Path(codetune_lsp.__file__).parent

# Lowest first. A module may import its own layer's modules only where the layer says so.
LAYERS: list[tuple[set[str], bool]] = [  # (top-level names, siblings may import each other)
    (
        {"", "paths", "redaction", "settings", "documents", "framing", "scheduling"}
        | {"workspace", "parent", "logs", "client"},
        True,
    ),
    ({"store", "models", "context", "rules"}, False),
    ({"prompts"}, False),
    ({"engine"}, False),
    ({"services"}, False),
    ({"features"}, False),
    ({"report", "dashboard"}, False),
    ({"evaluation"}, False),  # drives the features exactly as an editor does
    ({"server", "protocol", "handlers", "transports"}, True),  # the LSP layer
    ({"cli", "__main__"}, True),
]
LOCAL_BACKEND = {"models._hf", "models.local", "models._llama"}
NATIVE_MODELS = "models.codet5p"  # model implementations the local backend runs


def _local(module: str) -> bool:
    return module in LOCAL_BACKEND or module.startswith(NATIVE_MODELS)


OWNERS = {  # third-party package -> where it may be imported
    "torch": _local,
    "transformers": _local,
    "sqlalchemy": lambda m: m.startswith("store"),
    "alembic": lambda m: m.startswith("store"),
    # Only the cross-file context reads workspace files, and only it reads .gitignore.
    "pathspec": lambda m: m == "context.files",
    # Prompt templates render in the sandboxed renderer; the HTML report's own (package-owned,
    # autoescaped) page template renders in the dashboard.
    "jinja2": lambda m: m in {"prompts.render", "prompts._sizes", "dashboard.render"},
}
# third-party package -> modules that may not import it (not even under TYPE_CHECKING)
BANNED = {"lsprotocol": lambda m: m == "features" or m.startswith("features.")}


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), ast.parse(path.read_text(encoding="utf-8"))


def imports(tree: ast.Module) -> Iterator[str]:
    """Absolute module names imported anywhere in ``tree``, relative to nothing."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "codetune_lsp":
                yield from (f"codetune_lsp.{alias.name}" for alias in node.names)
            else:
                yield node.module


def layer_of(module: str) -> int:
    top = module.split(".", 1)[0]
    for index, (names, _) in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"codetune_lsp.{module} belongs to no layer: add it to LAYERS")


def test_every_module_has_a_layer() -> None:
    for module, _ in modules():
        layer_of(module)


def test_no_module_imports_a_higher_layer_or_a_sibling_package() -> None:
    wrong = []
    for module, tree in modules():
        here, top = layer_of(module), module.split(".", 1)[0]
        for name in imports(tree):
            if not name.startswith("codetune_lsp.") or name == "codetune_lsp.__version__":
                continue
            target = name.removeprefix("codetune_lsp.")
            there, other = layer_of(target), target.split(".", 1)[0]
            siblings_ok = LAYERS[here][1]
            if there > here or (there == here and other != top and not siblings_ok):
                wrong.append(f"codetune_lsp.{module} imports {name}")
    assert wrong == []


def test_heavy_dependencies_stay_with_their_owner() -> None:
    wrong = []
    for module, tree in modules():
        for name in imports(tree):
            owner = OWNERS.get(name.split(".", 1)[0])
            if owner is not None and not owner(module):
                wrong.append(f"codetune_lsp.{module} imports {name}")
    assert wrong == []


def banned_imports(module: str, tree: ast.Module) -> list[str]:
    """The imports in ``tree`` that ``module`` may not make."""
    found = []
    for name in imports(tree):
        banned = BANNED.get(name.split(".", 1)[0])
        if banned is not None and banned(module):
            found.append(name)
    return found


def test_features_do_not_import_lsprotocol() -> None:
    wrong = [
        f"codetune_lsp.{module} imports {name}"
        for module, tree in modules()
        for name in banned_imports(module, tree)
    ]
    assert wrong == []


def test_a_lazy_lsprotocol_import_is_caught_in_a_feature_only() -> None:
    tree = ast.parse("def f():\n    from lsprotocol import types\n")
    assert banned_imports("features.example", tree) == ["lsprotocol"]
    assert banned_imports("handlers.example", tree) == []
