"""AI code actions: a cheap menu from the prompt library, and one way to run an action.

Listing reads the catalogue (kept in memory, refreshed when prompts change) and calls no
model. Running resolves the target region (the selection, or the definition around the
cursor), calls the engine, and turns the answer into one of three results. An ``edit``
answer becomes a minimal WorkspaceEdit of that region. A ``markdown`` answer becomes a
document to show (or a comment block). A ``new_file`` answer becomes a new test file beside
the source, inside the workspace. The same code serves ``codeAction/resolve`` and the
``workspace/executeCommand`` fallback. Results are plain data (offsets into the snapshot);
the handlers turn them into lsprotocol types.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pygls.uris import from_fs_path, to_fs_path

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.host import FeatureHost
from codetune_lsp.prompts.action_output import ActionAnswer
from codetune_lsp.redaction import redact

logger = logging.getLogger(__name__)

FIX_TEMPLATE = "code_action.fix_diagnostic"
_COMMENT = {"python": "# ", "ruby": "# ", "shellscript": "# ", "toml": "# ", "yaml": "# "}


class StaleDocument(Exception):
    """The document changed since the action was listed: nothing is applied."""


@dataclass(frozen=True)
class CatalogueEntry:
    template: str
    title: str
    kind: str
    output: str
    needs_selection: bool
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Flagged:
    """The diagnostic a quick fix is asked for."""

    message: str
    source: str | None
    line: int  # zero-based


@dataclass(frozen=True)
class TextChange:
    """Replace code points ``[start, end)`` of the document with ``new_text``."""

    start: int
    end: int
    new_text: str


@dataclass(frozen=True)
class ActionEdit:
    """Changes to one document: the requesting one at its version, or a new file."""

    uri: str
    version: int | None
    changes: tuple[TextChange, ...]
    create: bool = False  # a file to create (its one change inserts the whole text)

    def apply(self, text: str) -> str:
        """``text`` with the changes made (they never overlap)."""
        for change in sorted(self.changes, key=lambda c: (c.start, c.end), reverse=True):
            text = text[: change.start] + change.new_text + text[change.end :]
        return text


@dataclass(frozen=True)
class ActionOutcome:
    """What running an action produced: an edit to apply and/or a document to show."""

    execution_id: str
    edit: ActionEdit | None = None
    show: str | None = None  # a file URI to open with window/showDocument
    message: str = ""


def comment_block(text: str, language: str, indent: str) -> str:
    prefix = _COMMENT.get(language, "// ")
    return "".join(f"{indent}{prefix}{line}".rstrip() + "\n" for line in text.strip().splitlines())


class CodeActionFeature:
    def __init__(self, host: FeatureHost) -> None:
        self.host = host
        self._catalogue: list[CatalogueEntry] = []
        self._catalogue_counter: int | None = None
        self._progress_tasks: dict[Any, asyncio.Task[Any]] = {}

    # -- listing (no model, no write) ----------------------------------------------------

    async def catalogue(self) -> list[CatalogueEntry]:
        services = await self.host.services()
        counter = await services.store.aprompt_change_counter()
        if counter != self._catalogue_counter:
            self._catalogue = await asyncio.to_thread(self._load_catalogue, services.library)
            self._catalogue_counter = counter
        return self._catalogue

    @staticmethod
    def _load_catalogue(library: Any) -> list[CatalogueEntry]:
        entries = []
        for row in library.list():
            if row["feature"] != "code_action" or "production" not in row["labels"]:
                continue
            template = library.get(row["name"]).template
            action = template.action
            if action is None or template.name == FIX_TEMPLATE:
                continue
            entries.append(
                CatalogueEntry(
                    template.name,
                    action.title,
                    action.kind,
                    template.output,
                    action.needs_selection,
                    action.languages,
                )
            )
        return entries

    # -- running ------------------------------------------------------------------------

    def region(
        self,
        snap: DocumentSnapshot,
        start: int,
        end: int,
        definition: bool = False,
        outside: str = "document",
    ) -> tuple[int, int, int]:
        """(start offset, end offset, first line) of the code the action works on, from
        the selected offsets ``[start, end)``; with ``definition``, a selection holding no
        definition means the one around it. Where no definition is around the cursor, the
        region is the whole document, or with ``outside="selection"`` the selected lines."""
        from codetune_lsp.prompts.regions import enclosing_definition, starts_definition

        begin, stop = snap.position_at(start), snap.position_at(end)
        first, last = begin.line, stop.line
        if stop.character == 0 and last > first:
            last -= 1
        selected = start != end
        if selected and definition:  # a line inside a function: document that function
            selected = any(starts_definition(snap.line_text(i)) for i in range(first, last + 1))
        if not selected:  # the definition around the cursor
            lines = [snap.line_text(i) for i in range(snap.line_count)]
            found = enclosing_definition(lines, begin.line)
            if found:
                first, last = found
            elif outside != "selection" or start == end:
                first, last = 0, snap.line_count - 1
        from codetune_lsp.prompts.edits import Region

        region = Region.whole_lines(snap, first, last)
        return region.start, region.end, first

    async def run(
        self,
        snap: DocumentSnapshot,
        template_name: str,
        selection: tuple[int, int],
        flagged: Flagged | None = None,
        cancel: Any = None,
    ) -> ActionOutcome:
        """Run ``template_name`` on the selected offsets (a quick fix: for ``flagged``)."""
        from codetune_lsp.engine import EngineRequest

        services = await self.host.services()
        settings = self.host.settings.features.code_actions
        await self.host.models.ready(settings.model)
        request = EngineRequest(
            feature="code_action",
            template=template_name,
            model=settings.model,
            label=settings.label,
            variables={},
            document=snap,
            unit_key=f"{self._root()}|{snap.uri}",
            cancel=cancel,
        )
        # The version decides the region and how the answer is read; what is unusable is
        # recorded as such.
        resolved = await services.engine.resolve(request)
        # A docstring, and a fix (which needs the code around the flagged line), work on
        # the whole definition.
        fix = template_name == FIX_TEMPLATE
        whole = resolved.template.output == "docstring" or fix
        start, end, first_line = self.region(
            snap, *selection, definition=whole, outside="selection" if fix else "document"
        )
        code = snap.text[start:end]
        answer = ActionAnswer(resolved.template.output, snap.language_id, code, snap.text)
        variables = _variables(snap, code, first_line, flagged)
        request = replace(request, variables=variables, postprocess=answer)
        result = await services.engine.run(request, resolved)
        if not self.host.documents.is_current(snap.uri, snap.version):
            raise StaleDocument(snap.uri)
        output = result.template.output
        if output in ("edit", "docstring"):
            return self._edit(snap, start, end, result, answer.problem, answer.imports)
        if output == "new_file":
            return self._new_file(snap, start, end, result, answer.problem)
        return self._answer(snap, start, result, template_name)

    def _edit(
        self,
        snap: DocumentSnapshot,
        start: int,
        end: int,
        result: Any,
        problem: str,
        imports: list[str] | None = None,
    ) -> ActionOutcome:
        from codetune_lsp.prompts.edits import Region, minimal_edits
        from codetune_lsp.prompts.python_imports import import_insertion

        if not result.text:
            return ActionOutcome(result.execution_id, message=problem or "nothing to apply")
        text = result.text
        added: list[TextChange] = []
        if imports:  # standard-library modules the new code reads: imported at the top
            offset, lines = import_insertion(snap.text, imports)
            if offset < start:
                added.append(TextChange(offset, offset, lines))
            else:
                text = lines + text
        edits = minimal_edits(snap, Region(start, end), text)
        if not edits:
            return ActionOutcome(result.execution_id, message="the model suggested no change")
        changes = [
            TextChange(snap.offset_at(e.range.start), snap.offset_at(e.range.end), e.new_text)
            for e in edits
        ]
        return ActionOutcome(result.execution_id, edit=_in_document(snap, *added, *changes))

    def _new_file(
        self, snap: DocumentSnapshot, start: int, end: int, result: Any, problem: str
    ) -> ActionOutcome:
        from codetune_lsp.workspace import OutsideWorkspace

        code = result.text
        if not code:
            return ActionOutcome(result.execution_id, message=problem or "the model gave no tests")
        source = to_fs_path(snap.uri)
        settings = self.host.settings.features.code_actions
        if source and self.host.client.create_files and settings.tests_location == "new_file":
            target = self._test_path(Path(source))
            try:
                self.host.roots.resolve_inside(target)
            except OutsideWorkspace as exc:
                return ActionOutcome(
                    result.execution_id, message=f"refused to create {target}: {exc}"
                )
            uri = from_fs_path(str(target)) or target.as_uri()
            edit = ActionEdit(uri, None, (TextChange(0, 0, code),), create=True)
            return ActionOutcome(result.execution_id, edit=edit, show=uri)
        eol = "\r\n" if "\r\n" in snap.text else "\n"  # tests below the code they test
        insert = TextChange(end, end, eol + code.replace("\n", eol))
        return ActionOutcome(result.execution_id, edit=_in_document(snap, insert))

    @staticmethod
    def _test_path(source: Path) -> Path:
        candidate = source.with_name(f"test_{source.stem}{source.suffix}")
        serial = 2
        while candidate.exists():
            candidate = source.with_name(f"test_{source.stem}_{serial}{source.suffix}")
            serial += 1
        return candidate

    def _answer(
        self, snap: DocumentSnapshot, start: int, result: Any, template_name: str
    ) -> ActionOutcome:
        text = result.text.strip() or "(the model returned nothing)"
        settings = self.host.settings.features.code_actions
        if settings.markdown_output == "comment":
            first = snap.line_text(snap.position_at(start).line)
            indent = first[: len(first) - len(first.lstrip())]
            block = comment_block(text, snap.language_id, indent)
            eol = "\r\n" if "\r\n" in snap.text else "\n"
            insert = TextChange(start, start, block.replace("\n", eol))
            return ActionOutcome(result.execution_id, edit=_in_document(snap, insert))
        answers = self.host.paths.data_dir / "answers"
        answers.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", template_name.rsplit(".", 1)[-1].lower())
        path = answers / f"{result.execution_id}-{slug}.md"
        header = f"<!-- {template_name} v{result.version} on {snap.uri} -->\n\n"
        path.write_text(redact(header + text) + "\n", encoding="utf-8")
        self.host.tell(f"codetune: answer written to {path}")
        return ActionOutcome(result.execution_id, show=path.as_uri(), message=str(path))

    # -- progress (its cancel button cancels the running action) -------------------------

    async def begin_progress(self, title: str, task: asyncio.Task[Any]) -> str | None:
        """Start $/progress whose cancel button cancels ``task`` (None if unsupported)."""
        token = await self.host.begin_progress(title, "asking the model", cancellable=True)
        if token is not None:
            self._progress_tasks[token] = task
        return token

    def end_progress(self, token: str | None, message: str) -> None:
        self._progress_tasks.pop(token, None)
        self.host.end_progress(token, message)

    def cancel_progress(self, token: Any) -> None:
        task = self._progress_tasks.pop(token, None)
        if task is not None:
            task.cancel()

    def _root(self) -> str:
        roots = self.host.roots.paths
        return str(roots[0]) if roots else ""


def _variables(
    snap: DocumentSnapshot, code: str, first_line: int, flagged: Flagged | None
) -> dict[str, Any]:
    """The template variables of an action on ``code`` (starting at ``first_line``)."""
    file_name = posixpath.basename(snap.uri)
    variables: dict[str, Any] = {
        "code": code,
        "language": snap.language_id,
        "file_name": file_name,
        "first_line": first_line + 1,
        "module": file_name.rsplit(".", 1)[0],
    }
    if flagged is not None:
        variables |= {
            "diagnostic_message": flagged.message,
            "diagnostic_source": flagged.source or "a linter",
            "diagnostic_line": flagged.line + 1,
        }
    return variables


def _in_document(snap: DocumentSnapshot, *changes: TextChange) -> ActionEdit:
    return ActionEdit(snap.uri, snap.version, changes)
