"""AI code actions: a cheap menu from the prompt library, and one way to run an action.

Listing reads the catalogue (kept in memory, refreshed when prompts change) and calls no
model. Running resolves the target region (the selection, or the definition around the
cursor), calls the engine, and turns the answer into one of three results. An ``edit``
answer becomes a minimal WorkspaceEdit of that region. A ``markdown`` answer becomes a
document to show (or a comment block). A ``new_file`` answer becomes a new test file beside
the source, inside the workspace. The same code serves ``codeAction/resolve`` and the
``workspace/executeCommand`` fallback.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features import progress
from codetune_lsp.prompts.action_output import ActionAnswer
from codetune_lsp.redaction import redact

logger = logging.getLogger(__name__)

FIX_TEMPLATE = "code_action.fix_diagnostic"
SHOW_DOCUMENT_TIMEOUT_S = 10.0
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
class ActionOutcome:
    """What running an action produced: an edit to apply and/or a document to show."""

    execution_id: str
    edit: types.WorkspaceEdit | None = None
    show: str | None = None  # a file URI to open with window/showDocument
    message: str = ""


def comment_block(text: str, language: str, indent: str) -> str:
    prefix = _COMMENT.get(language, "// ")
    return "".join(f"{indent}{prefix}{line}".rstrip() + "\n" for line in text.strip().splitlines())


class CodeActionFeature:
    def __init__(self, server: Any) -> None:
        self.server = server
        self._catalogue: list[CatalogueEntry] = []
        self._catalogue_counter: int | None = None
        self._progress_tasks: dict[Any, asyncio.Task[Any]] = {}

    # -- listing (no model, no write) ----------------------------------------------------

    async def catalogue(self) -> list[CatalogueEntry]:
        services = await self.server.services()
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
        self, snap: DocumentSnapshot, selection: types.Range, definition: bool = False
    ) -> tuple[int, int, int]:
        """(start offset, end offset, first line) of the code the action works on; with
        ``definition``, a selection holding no definition means the one around it."""
        from codetune_lsp.prompts.regions import enclosing_definition, starts_definition

        first, last = selection.start.line, selection.end.line
        if selection.end.character == 0 and last > first:
            last -= 1
        selected = snap.offset_at(selection.start) != snap.offset_at(selection.end)
        if selected and definition:  # a line inside a function: document that function
            selected = any(starts_definition(snap.line_text(i)) for i in range(first, last + 1))
        if not selected:  # the definition around the cursor
            lines = [snap.line_text(i) for i in range(snap.line_count)]
            found = enclosing_definition(lines, selection.start.line)
            first, last = found if found else (0, snap.line_count - 1)
        from codetune_lsp.prompts.edits import Region

        region = Region.whole_lines(snap, first, last)
        return region.start, region.end, first

    async def run(
        self,
        snap: DocumentSnapshot,
        template_name: str,
        selection: types.Range,
        diagnostic: types.Diagnostic | None = None,
        cancel: Any = None,
    ) -> ActionOutcome:
        from codetune_lsp.engine import EngineRequest

        services = await self.server.services()
        settings = self.server.settings.features.code_actions
        await self.server.models.ready(settings.model)
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
        whole = resolved.template.output == "docstring"
        start, end, first_line = self.region(snap, selection, definition=whole)
        code = snap.text[start:end]
        file_name = posixpath.basename(snap.uri)
        variables: dict[str, Any] = {
            "code": code,
            "language": snap.language_id,
            "file_name": file_name,
            "first_line": first_line + 1,
            "module": file_name.rsplit(".", 1)[0],
        }
        if diagnostic is not None:
            variables |= {
                "diagnostic_message": diagnostic.message,
                "diagnostic_source": diagnostic.source or "a linter",
                "diagnostic_line": diagnostic.range.start.line + 1,
            }
        answer = ActionAnswer(resolved.template.output, snap.language_id, code, snap.text)
        request = replace(request, variables=variables, postprocess=answer)
        result = await services.engine.run(request, resolved)
        if not self.server.documents.is_current(snap.uri, snap.version):
            raise StaleDocument(snap.uri)
        output = result.template.output
        if output in ("edit", "docstring"):
            return self._edit(snap, start, end, result, answer.problem)
        if output == "new_file":
            return self._new_file(snap, start, end, result, answer.problem)
        return self._answer(snap, start, result, template_name)

    def _edit(
        self, snap: DocumentSnapshot, start: int, end: int, result: Any, problem: str
    ) -> ActionOutcome:
        from codetune_lsp.prompts.edits import Region, minimal_edits

        if not result.text:
            return ActionOutcome(result.execution_id, message=problem or "nothing to apply")
        edits = minimal_edits(snap, Region(start, end), result.text)
        if not edits:
            return ActionOutcome(result.execution_id, message="the model suggested no change")
        return ActionOutcome(result.execution_id, edit=self._document_edit(snap, edits))

    def _document_edit(
        self, snap: DocumentSnapshot, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        identifier = types.OptionalVersionedTextDocumentIdentifier(
            uri=snap.uri, version=snap.version
        )
        return types.WorkspaceEdit(
            document_changes=[types.TextDocumentEdit(text_document=identifier, edits=edits)]
        )

    def _new_file(
        self, snap: DocumentSnapshot, start: int, end: int, result: Any, problem: str
    ) -> ActionOutcome:
        from codetune_lsp.workspace import OutsideWorkspace

        code = result.text
        if not code:
            return ActionOutcome(result.execution_id, message=problem or "the model gave no tests")
        source = to_fs_path(snap.uri)
        workspace = self.server.client_capabilities.workspace
        edit_caps = workspace.workspace_edit if workspace else None
        can_create = bool(
            edit_caps
            and edit_caps.resource_operations
            and types.ResourceOperationKind.Create in edit_caps.resource_operations
        )
        settings = self.server.settings.features.code_actions
        if source and can_create and settings.tests_location == "new_file":
            target = self._test_path(Path(source))
            try:
                self.server.roots.resolve_inside(target)
            except OutsideWorkspace as exc:
                return ActionOutcome(
                    result.execution_id, message=f"refused to create {target}: {exc}"
                )
            uri = from_fs_path(str(target)) or target.as_uri()
            insert = types.TextEdit(
                range=types.Range(
                    start=types.Position(line=0, character=0),
                    end=types.Position(line=0, character=0),
                ),
                new_text=code,
            )
            edit = types.WorkspaceEdit(
                document_changes=[
                    types.CreateFile(
                        uri=uri,
                        options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    ),
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=uri, version=None
                        ),
                        edits=[insert],
                    ),
                ]
            )
            return ActionOutcome(result.execution_id, edit=edit, show=uri)
        position = snap.position_at(end)  # tests below the code they test
        eol = "\r\n" if "\r\n" in snap.text else "\n"
        insert = types.TextEdit(
            range=types.Range(start=position, end=position), new_text=eol + code.replace("\n", eol)
        )
        return ActionOutcome(result.execution_id, edit=self._document_edit(snap, [insert]))

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
        settings = self.server.settings.features.code_actions
        if settings.markdown_output == "comment":
            line_start = snap.position_at(start)
            first = snap.line_text(line_start.line)
            indent = first[: len(first) - len(first.lstrip())]
            block = comment_block(text, snap.language_id, indent)
            eol = "\r\n" if "\r\n" in snap.text else "\n"
            insert = types.TextEdit(
                range=types.Range(start=line_start, end=line_start),
                new_text=block.replace("\n", eol),
            )
            return ActionOutcome(result.execution_id, edit=self._document_edit(snap, [insert]))
        answers = self.server.paths.data_dir / "answers"
        answers.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", template_name.rsplit(".", 1)[-1].lower())
        path = answers / f"{result.execution_id}-{slug}.md"
        header = f"<!-- {template_name} v{result.version} on {snap.uri} -->\n\n"
        path.write_text(redact(header + text) + "\n", encoding="utf-8")
        self.server.tell(f"codetune: answer written to {path}")
        return ActionOutcome(result.execution_id, show=path.as_uri(), message=str(path))

    # -- progress and showing answers ----------------------------------------------------

    async def begin_progress(self, title: str, task: asyncio.Task[Any]) -> str | None:
        """Start $/progress whose cancel button cancels ``task`` (None if unsupported)."""
        token = await progress.begin(self.server, title, "asking the model", cancellable=True)
        if token is not None:
            self._progress_tasks[token] = task
        return token

    def end_progress(self, token: str | None, message: str) -> None:
        self._progress_tasks.pop(token, None)
        progress.end(self.server, token, message)

    def cancel_progress(self, token: Any) -> None:
        task = self._progress_tasks.pop(token, None)
        if task is not None:
            task.cancel()

    async def show_document(self, uri: str) -> None:
        """Ask the client to open ``uri``; a client that does not answer within
        ``SHOW_DOCUMENT_TIMEOUT_S`` (or fails) gets a message naming it instead."""
        window = self.server.client_capabilities.window
        if window and window.show_document and window.show_document.support:
            params = types.ShowDocumentParams(uri=uri, take_focus=True)
            try:
                result = await asyncio.wait_for(
                    self.server.window_show_document_async(params), SHOW_DOCUMENT_TIMEOUT_S
                )
            except Exception as exc:  # no answer in time, or an error for an answer
                logger.info("window/showDocument got no usable answer: %r", exc)
                result = None
            if result is not None and result.success:
                return
        self.server.show(f"codetune: the answer is in {uri}", logging.INFO)

    def _root(self) -> str:
        roots = self.server.roots.paths
        return str(roots[0]) if roots else ""
