"""Baseline for the feature benchmarks: a bare pygls server answering fixed results.

``textDocument/completion`` returns one fixed CompletionItem and ``textDocument/codeAction``
a fixed list of six actions, so a round trip against it is pygls + JSON-RPC + stdio and
nothing else.
"""

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare-completion", "0")

ITEM = types.CompletionItem(
    label="total = sum(values)",
    kind=types.CompletionItemKind.Snippet,
    insert_text="total = sum(values)",
    sort_text="0",
    preselect=True,
)
ACTIONS = [
    types.CodeAction(
        title=f"AI: action {i}",
        kind=types.CodeActionKind.RefactorRewrite,
        data={"uri": "file:///x.py", "version": 1, "template": f"t{i}", "range": [0, 0, 0, 0]},
    )
    for i in range(6)
]


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=[".", "(", "[", "{", ",", ":", " "]),
)
def completion(ls: LanguageServer, params: types.CompletionParams) -> types.CompletionList:
    return types.CompletionList(is_incomplete=True, items=[ITEM])


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION)
def code_action(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return ACTIONS


if __name__ == "__main__":
    server.start_io()
