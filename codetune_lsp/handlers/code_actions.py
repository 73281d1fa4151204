"""textDocument/codeAction (a cheap menu), codeAction/resolve, and the command fallback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcRequestCancelled,
)

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.code_actions import FIX_TEMPLATE, ActionOutcome, StaleDocument
from codetune_lsp.handlers.convert import flagged, workspace_edit
from codetune_lsp.handlers.feedback import FEEDBACK
from codetune_lsp.handlers.guard import describe, passive, user_triggered
from codetune_lsp.server import CodetuneServer

logger = logging.getLogger(__name__)
# A client that never answers window/showDocument must not hold a command open.
SHOW_DOCUMENT_TIMEOUT_S = 10.0

RUN_ACTION = "codetune.runAction"
OPTIONS = types.CodeActionOptions(
    code_action_kinds=[
        types.CodeActionKind.QuickFix,
        types.CodeActionKind.Refactor,
        types.CodeActionKind.RefactorRewrite,
        types.CodeActionKind.Source,
    ],
    resolve_provider=True,
)


def _wanted(kind: str, only: list[str] | None) -> bool:
    return not only or any(kind == k or kind.startswith(f"{k}.") for k in only)


def _data(
    uri: str,
    version: int,
    template: str,
    range_: types.Range,
    title: str,
    diagnostic: types.Diagnostic | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "uri": uri,
        "version": version,
        "template": template,
        "title": title,
        "range": [range_.start.line, range_.start.character, range_.end.line, range_.end.character],
    }
    if diagnostic is not None:
        data["diagnostic"] = {
            "message": diagnostic.message,
            "source": diagnostic.source or "",
            "range": [
                diagnostic.range.start.line,
                diagnostic.range.start.character,
                diagnostic.range.end.line,
                diagnostic.range.end.character,
            ],
        }
    return data


def _entry(
    title: str,
    kind: str,
    data: dict[str, Any],
    by_command: bool,
    diagnostic: types.Diagnostic | None = None,
) -> types.CodeAction | types.Command:
    """A lazily resolved CodeAction, or a plain Command for clients that cannot resolve
    (a CodeAction carrying a command object is read as a Command by some clients)."""
    if by_command:
        return types.Command(title=title, command=RUN_ACTION, arguments=[data])
    diagnostics = [diagnostic] if diagnostic is not None else None
    return types.CodeAction(title=title, kind=kind, diagnostics=diagnostics, data=data)


@passive(list)
async def on_code_action(
    ls: CodetuneServer, params: types.CodeActionParams
) -> list[types.CodeAction | types.Command]:
    snap = ls.documents.snapshot(params.text_document.uri)
    if not ls.settings.features.code_actions.enabled:
        return []
    catalogue = await ls.code_actions.catalogue()
    only = [str(k) for k in params.context.only] if params.context.only else None
    selected = params.range.start != params.range.end
    by_command = not ls.client.code_action_resolve
    actions: list[types.CodeAction | types.Command] = []
    for entry in catalogue:
        if not _wanted(entry.kind, only):
            continue
        if entry.needs_selection and not selected:
            continue
        if entry.languages and snap.language_id not in entry.languages:
            continue
        data = _data(snap.uri, snap.version, entry.template, params.range, entry.title)
        data["output"] = entry.output
        actions.append(_entry(entry.title, entry.kind, data, by_command))
    if _wanted(types.CodeActionKind.QuickFix, only):
        for diagnostic in params.context.diagnostics:
            title = f"AI: Fix \u201c{diagnostic.message[:60]}\u201d"
            data = _data(snap.uri, snap.version, FIX_TEMPLATE, diagnostic.range, title, diagnostic)
            data["output"] = "edit"
            kind = types.CodeActionKind.QuickFix
            actions.append(_entry(title, kind, data, by_command, diagnostic))
    return actions


def _parse_data(data: Any) -> tuple[str, int, str, types.Range, types.Diagnostic | None, str]:
    try:
        uri, version, template = data["uri"], data["version"], data["template"]
        a, b, c, d = data["range"]
        range_ = types.Range(
            start=types.Position(line=a, character=b), end=types.Position(line=c, character=d)
        )
        diagnostic = None
        if "diagnostic" in data:
            raw = data["diagnostic"]
            e, f, g, h = raw["range"]
            diagnostic = types.Diagnostic(
                range=types.Range(
                    start=types.Position(line=e, character=f),
                    end=types.Position(line=g, character=h),
                ),
                message=raw["message"],
                source=raw.get("source") or None,
            )
        if not (isinstance(uri, str) and isinstance(version, int) and isinstance(template, str)):
            raise TypeError
        return uri, version, template, range_, diagnostic, str(data.get("title", template))
    except (KeyError, TypeError, ValueError) as exc:
        raise JsonRpcInvalidParams("code action data is malformed; list the actions again") from exc


async def _run(
    ls: CodetuneServer, data: Any, cancel: Any = None
) -> tuple[ActionOutcome, types.WorkspaceEdit | None]:
    """Run the listed action; its outcome, and its edit as lsprotocol (None if none)."""
    uri, version, template, range_, diagnostic, _ = _parse_data(data)
    snap = ls.documents.snapshot(uri)
    if snap.version != version:
        raise JsonRpcContentModified("the document changed since this action was listed")
    selection = (snap.offset_at(range_.start), snap.offset_at(range_.end))
    fix = flagged(diagnostic) if diagnostic is not None else None
    try:
        outcome = await ls.code_actions.run(snap, template, selection, fix, cancel)
    except StaleDocument as exc:
        raise JsonRpcContentModified("the document changed while the model was running") from exc
    return outcome, _edit_of(snap, outcome)


def _edit_of(snap: DocumentSnapshot, outcome: ActionOutcome) -> types.WorkspaceEdit | None:
    return workspace_edit(snap, outcome.edit) if outcome.edit is not None else None


def _feedback(execution_id: str, kind: str) -> types.Command:
    return types.Command(
        title=f"codetune: {kind}", command=FEEDBACK, arguments=[execution_id, kind]
    )


@user_triggered
async def on_resolve(ls: CodetuneServer, action: types.CodeAction) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else {}
    answers_as_documents = ls.settings.features.code_actions.markdown_output == "document"
    if data.get("output") == "markdown" and answers_as_documents:
        # Nothing to edit: the answer is written and shown by the command, run after this.
        _parse_data(data)
        action.command = types.Command(title=action.title, command=RUN_ACTION, arguments=[data])
        return action
    outcome, edit = await _run(ls, action.data)
    if edit is None:
        ls.show(f"codetune: {outcome.message or 'nothing to apply'}", logging.INFO)
        return action
    action.edit = edit
    action.command = _feedback(outcome.execution_id, "applied")  # runs after the edit
    return action


APPLY_EDIT_TIMEOUT_S = 60.0


async def _apply(ls: CodetuneServer, params: types.ApplyWorkspaceEditParams) -> bool | None:
    """Send workspace/applyEdit; whether the client applied it, or None when unknown.

    A client that did not declare ``workspace.applyEdit`` gets the edit without our waiting
    for an answer: ALE applies it but never answers, which used to leave this command
    pending forever. A client that errs or does not answer in time is unknown too.
    """
    if not ls.client.apply_edit:
        ls.protocol.send_request(types.WORKSPACE_APPLY_EDIT, params)
        return None
    try:
        result = await asyncio.wait_for(ls.workspace_apply_edit_async(params), APPLY_EDIT_TIMEOUT_S)
    except Exception as exc:  # no answer in time, or an error for an answer
        logger.info("workspace/applyEdit got no usable answer: %r", exc)
        return None
    return bool(result and result.applied)


@user_triggered
async def run_action(ls: CodetuneServer, *args: Any) -> dict[str, Any]:
    """The command path: run, then apply with workspace/applyEdit or show the answer."""
    if not args:
        raise JsonRpcInvalidParams(f"{RUN_ACTION} needs the action's data as its argument")
    title = _parse_data(args[0])[5]
    outcome, edit = await _run_with_progress(ls, args[0], title)
    applied: bool | None = False
    services = await ls.services()
    if edit is not None:
        applied = await _apply(ls, types.ApplyWorkspaceEditParams(edit=edit, label=title))
        if applied is not None:
            kind = "applied" if applied else "dismissed"
            services.store.add_feedback(outcome.execution_id, kind)
    if outcome.show is not None:
        await _show_document(ls, outcome.show)
    elif outcome.message and outcome.edit is None:
        ls.show(f"codetune: {outcome.message}", logging.INFO)
    return {"executionId": outcome.execution_id, "applied": applied, "shown": outcome.show}


async def _run_with_progress(
    ls: CodetuneServer, data: Any, title: str
) -> tuple[ActionOutcome, types.WorkspaceEdit | None]:
    """Run under $/progress, whose cancel button (or $/cancelRequest) cancels the run."""
    task = asyncio.current_task()
    assert task is not None
    ls.protocol.track_cancellable(ls.protocol.msg_id, task)
    token = await ls.code_actions.begin_progress(title, task)
    try:
        ran = await _run(ls, data)
    except asyncio.CancelledError:
        ls.code_actions.end_progress(token, "cancelled")
        raise JsonRpcRequestCancelled("cancelled") from None
    except JsonRpcException:
        ls.code_actions.end_progress(token, "failed")
        raise
    except Exception as exc:
        ls.code_actions.end_progress(token, "failed")
        ls.show(f"codetune: {describe(exc)}", logging.ERROR)
        raise
    except BaseException:  # e.g. ContentModified: the progress must end all the same
        ls.code_actions.end_progress(token, "failed")
        raise
    ls.code_actions.end_progress(token, "done")
    return ran


async def _show_document(ls: CodetuneServer, uri: str) -> None:
    """Open ``uri`` in the editor; a client that cannot, fails, or gives no usable answer
    within ``SHOW_DOCUMENT_TIMEOUT_S`` gets a message naming it instead."""
    if ls.client.show_document:
        params = types.ShowDocumentParams(uri=uri, take_focus=True)
        try:
            result = await asyncio.wait_for(
                ls.window_show_document_async(params), SHOW_DOCUMENT_TIMEOUT_S
            )
        except Exception as exc:  # no answer in time, or an error for an answer
            logger.info("window/showDocument got no usable answer: %r", exc)
            result = None
        if result is not None and result.success:
            return
    ls.show(f"codetune: the answer is in {uri}", logging.INFO)


def on_progress_cancel(ls: CodetuneServer, params: types.WorkDoneProgressCancelParams) -> None:
    ls.code_actions.cancel_progress(params.token)
