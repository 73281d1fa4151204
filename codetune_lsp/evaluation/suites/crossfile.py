"""Cross-file completion: lines held out of real packages, where the missing line uses a
name that another file of the same package defines and this file imports.

The packages are pure-Python libraries that come with the ``local`` extra and that the
product never runs (NetworkX, fsspec, huggingface_hub, mpmath, markdown-it-py); none was
written here. Per package, one-line statements of function bodies are drawn by a generator
seeded with the package's name, at most a few per file, so the suite is the same wherever
the same versions are installed (the suite hash covers each file's sha256). The editor's
view: the package folder is the workspace, the held-out line is empty but for its
indentation, the cursor after it. Scored by exact match and edit similarity of the
completion's first line, in mode ``context`` (cross-file context on) or ``no-context``
(off), same model and template.

``crossfile-api`` holds out what cannot be read from the file itself, in the manner of
CrossCodeEval: the rest of a line from an attribute of a name the file imports from its own
package (``UploadInfo.from_path(...)``, ``libmp.to_int``), where that attribute is defined
in the package and appears nowhere in the file before the line. The cursor stands after the
dot, where a user waits for the suggestion.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import itertools
import random
import re
from pathlib import Path

from codetune_lsp.context.files import FileLimits, read_source, walk_sources
from codetune_lsp.context.symbols import python_definitions
from codetune_lsp.evaluation.suites import Item, Suite, SuiteError

PACKAGES = ("fsspec", "markdown_it", "huggingface_hub", "networkx", "mpmath")
PER_PACKAGE = 24
PER_FILE = 2
MIN_CHARS, MAX_CHARS = 12, 100
IMPORT_LINE = re.compile(r"\s*(?:from|import)\s")
WORD = re.compile(r"[A-Za-z_]\w*")


def package_root(name: str) -> Path | None:
    """Where an installed package's source lies, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _sibling_imports(tree: ast.Module, package: str, defined: set[str]) -> set[str]:
    """Names this file imports from the package's own modules that the package defines."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        own = node.level > 0 or (node.module or "").split(".")[0] == package
        for alias in node.names if own else []:
            if alias.name in defined and not alias.name.startswith("_"):
                names.add(alias.asname or alias.name)
    return names


def _statements(tree: ast.Module) -> list[ast.stmt]:
    """One-line statements inside function bodies (docstrings aside)."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.stmt) or node is function:
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue
            if node.lineno == node.end_lineno:
                found.append(node)
    return found


def candidates(text: str, package: str, defined: set[str]) -> list[tuple[int, str, str]]:
    """(line, target, name): one-line statements in function bodies that use a name the
    file imports from a sibling module of the package."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    names = _sibling_imports(tree, package, defined)
    lines = text.split("\n")
    found = {}
    for node in _statements(tree):
        used = sorted(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in names)
        target = lines[node.lineno - 1].strip()
        if used and MIN_CHARS <= len(target) <= MAX_CHARS and not target.endswith(":"):
            found[node.lineno - 1] = (node.lineno - 1, target, used[0])
    return [found[line] for line in sorted(found)]


def _own_imports(tree: ast.Module, package: str) -> set[str]:
    """Every name this file binds by importing from its own package (modules too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level > 0 or (node.module or "").split(".")[0] == package:
                names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package:
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def _words_before(lines: list[str], number: int) -> set[str]:
    """The identifiers of the file's lines before ``number``, import statements aside."""
    kept = (line for line in lines[:number] if not IMPORT_LINE.match(line))
    return set(WORD.findall("\n".join(kept)))


def api_candidates(text: str, package: str, defined: set[str]) -> list[tuple[int, int, str, str]]:
    """(line, column, target, name): the rest of a one-line statement from the first
    ``name.attribute`` whose name the file imports from its own package, whose attribute the
    package defines, and whose attribute the file has not used before that line."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    names = _own_imports(tree, package)
    lines = text.split("\n")
    found = {}
    for node in _statements(tree):
        number = node.lineno - 1
        line = lines[number]
        seen: set[str] | None = None
        for attribute in sorted(
            (n for n in ast.walk(node) if isinstance(n, ast.Attribute)),
            key=lambda n: n.col_offset,
        ):
            base = attribute.value
            if not (isinstance(base, ast.Name) and base.id in names):
                continue
            if attribute.attr not in defined or attribute.attr.startswith("_"):
                continue
            seen = _words_before(lines, number) if seen is None else seen
            if attribute.attr in seen:
                continue
            column = len(line.encode("utf-8")[: base.end_col_offset].decode("utf-8")) + 1
            target = line[column:].rstrip()
            if line[column - 1] == "." and MIN_CHARS // 2 <= len(target) <= MAX_CHARS:
                found[number] = (number, column, target, f"{base.id}.{attribute.attr}")
            break
    return [found[number] for number in sorted(found)]


def _package_items(name: str, root: Path, api: bool = False) -> list[Item]:
    rng = random.Random(f"crossfile/{name}" + ("/api" if api else ""))
    sources = {}
    for path in walk_sources([root], FileLimits()):
        relative = path.relative_to(root).as_posix()
        source = read_source(path, [root], FileLimits())
        if path.suffix == ".py" and "test" not in relative and source is not None:
            sources[relative] = source
    defined = {d.name for s in sources.values() for d in python_definitions(s.text)}
    pool: list[Item] = []
    for relative, source in sources.items():
        digest = hashlib.sha256(source.data).hexdigest()
        if api:
            for number, column, target, used in rng.sample(
                found := api_candidates(source.text, name, defined), min(PER_FILE, len(found))
            ):
                data = {"package": name, "path": relative, "line": number, "column": column}
                data |= {"target": target, "name": used, "sha256": digest}
                pool.append(Item(f"{name}/{relative}:{number + 1}:{column + 1}", data))
            continue
        found = candidates(source.text, name, defined)
        for number, target, used in rng.sample(found, min(PER_FILE, len(found))):
            data = {"package": name, "path": relative, "line": number, "target": target}
            data |= {"name": used, "sha256": digest}
            pool.append(Item(f"{name}/{relative}:{number + 1}", data))
    rng.shuffle(pool)
    return sorted(pool[:PER_PACKAGE], key=lambda item: item.id)


def crossfile_suite(mode: str, api: bool = False) -> Suite:
    per_package: list[list[Item]] = []
    missing = []
    for name in PACKAGES:
        root = package_root(name)
        if root is None:
            missing.append(name)
            continue
        per_package.append(_package_items(name, root, api))
    # Interleaved, so that ``--limit N`` keeps every package in the sample.
    items = [item for row in itertools.zip_longest(*per_package) for item in row if item]
    if not items:
        raise SuiteError(
            f"none of the packages of the cross-file suite is installed ({', '.join(PACKAGES)}): "
            "install the local extra (pip install 'codetune-lsp[local]')"
        )
    suite_name = "crossfile-api" if api else "crossfile"
    return Suite(suite_name, "crossfile", mode, tuple(items), {"missing": missing})


def document_for(item: Item) -> tuple[Path, Path, str, int]:
    """The workspace root, the file, its text with the line held out, and the cursor."""
    root = package_root(item.data["package"])
    if root is None:
        raise SuiteError(f"package {item.data['package']} is not installed")
    path = root / item.data["path"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != item.data["sha256"]:
        raise SuiteError(f"{path} changed since the suite was built (another version?)")
    lines = data.decode("utf-8").split("\n")
    line = lines[item.data["line"]]
    kept = (
        line[: item.data["column"]]
        if "column" in item.data
        else line[: len(line) - len(line.lstrip())]
    )
    prefix = "\n".join(lines[: item.data["line"]]) + "\n" + kept
    suffix = "\n" + "\n".join(lines[item.data["line"] + 1 :])
    return root, path, prefix + suffix, len(prefix)
