"""Failures stay contained: a passive request answers empty, a user-triggered one explains."""

from __future__ import annotations

from pathlib import Path

from .raw import SERVER_CMD, RawServer, notification, request

DOC = {"uri": "file:///w/a.py", "languageId": "python", "version": 1, "text": "x = 1\n"}


def start(home: Path, config: str, options: dict) -> RawServer:
    (home / "config.toml").write_text(config)
    server = RawServer(
        cmd=SERVER_CMD,
        env={"CODETUNE_HOME": str(home), "CODETUNE_CONFIG": str(home / "config.toml")},
    )
    server.initialized(initializationOptions=options)
    server.send(notification("textDocument/didOpen", {"textDocument": DOC}))
    return server


def stop(server: RawServer) -> None:
    try:
        server.send(request(99, "shutdown") + notification("exit"))
        server.wait(10)
    finally:
        server.kill()


def completion(msg_id: int) -> bytes:
    params = {
        "textDocument": {"uri": DOC["uri"]},
        "position": {"line": 0, "character": 4},
        "context": {"triggerKind": 1},
    }
    return request(msg_id, "textDocument/completion", params)


def test_a_completion_model_that_names_no_profile_answers_empty_and_is_reported_once(
    tmp_path: Path,
) -> None:
    options = {"features": {"completion": {"model": "no-such-profile"}}}
    server = start(tmp_path, '[features.diagnostics]\nrun_on = ["off"]\n', options)
    try:
        answers = []
        for msg_id in (2, 3):
            server.send(completion(msg_id))
            answers.append(server.response(msg_id))
        server.send(notification("workspace/didChangeConfiguration", {"settings": options}))
        shown = server.notifications("window/showMessage", wait=1.0)
    finally:
        stop(server)
    for answer in answers:
        assert "error" not in answer and answer["result"]["items"] == []
    about = [m for m in shown if "features.completion.model" in m["params"]["message"]]
    assert len(about) == 1 and "no-such-profile" in about[0]["params"]["message"]
    log = (tmp_path / "logs" / "codetune-lsp.log").read_text()
    assert "Traceback" not in log
    assert "on_completion answered empty" in log


def test_a_failing_action_model_answers_request_failed_with_the_reason(tmp_path: Path) -> None:
    config = (
        f'[models.broken]\nfamily = "whiterabbitneo"\nid = "{tmp_path / "no-such-model"}"\n\n'
        '[features.diagnostics]\nrun_on = ["off"]\n'
    )
    options = {"features": {"code_actions": {"model": "broken"}}}
    server = start(tmp_path, config, options)
    data = {
        "uri": DOC["uri"],
        "version": 1,
        "template": "code_action.explain",
        "range": [0, 0, 0, 5],
        "title": "AI: Explain",
        "output": "markdown",
    }
    try:
        params = {"command": "codetune.runAction", "arguments": [data]}
        server.send(request(2, "workspace/executeCommand", params))
        answer = server.response(2, timeout=60)
    finally:
        stop(server)
    error = answer["error"]
    assert error["code"] == -32803  # RequestFailed, not InvalidParams or an internal error
    assert "broken" in error["message"] and "traceback" not in str(error).lower()
