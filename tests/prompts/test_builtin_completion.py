"""The built-in completion.infill template: a chat turn at an empty body, FIM elsewhere."""

from __future__ import annotations

from codetune_lsp.models.profiles import CHATML_QWEN, FAMILY_TABLE
from codetune_lsp.prompts.library import builtin_sources
from codetune_lsp.prompts.render import render
from codetune_lsp.prompts.template import parse_template

QWEN_FIM = {"prefix": "<|fim_prefix|>", "suffix": "<|fim_suffix|>", "middle": "<|fim_middle|>"}
BODY_PREFIX = 'def add(a, b):\n    """Add a and b."""\n    '


def _infill():
    source = dict(builtin_sources())["completion.infill.toml"]
    template, problems = parse_template(source)
    assert template is not None and not problems
    return template


QWEN_REPO = {"name": "<|repo_name|>", "file_sep": "<|file_sep|>"}
NO_REPO = {"name": "", "file_sep": ""}
SNIPPET = {
    "path": "geo/shapes.py",
    "text": "def area(w, h): ...",
    "source": "definition",
    "commented": "# geo/shapes.py\n# def area(w, h): ...",
}


def _render(
    cursor: str,
    chat: dict[str, str],
    prefix: str = BODY_PREFIX,
    context: list | None = None,
    repo: dict[str, str] = QWEN_REPO,
    middle: str = "",
) -> str:
    values = {"prefix": prefix, "suffix": "\n", "fim": QWEN_FIM, "cursor": cursor, "middle": middle}
    values |= {"context": context or [], "repo": repo, "repo_name": "proj", "file_path": "app.py"}
    return render(_infill().template, values | {"chat": chat, "language": "python"})


def test_an_empty_body_is_asked_as_a_chat_turn_whose_answer_starts_with_the_code() -> None:
    prompt = _render("body", CHATML_QWEN.cues())
    assert prompt.startswith("<|im_start|>system\n")
    assert "<|im_start|>user\nComplete the unfinished python function." in prompt
    # The answer is already under way: the fence and the code up to the cursor's line,
    # without the cursor line's indentation (the model writes it with the first token).
    assert prompt.endswith("<|im_start|>assistant\n```python\n" + BODY_PREFIX.rstrip(" "))
    assert "<|fim_" not in prompt


def test_elsewhere_the_prompt_is_fill_in_the_middle() -> None:
    prompt = _render("block", CHATML_QWEN.cues(), "def f(x):\n    y = 1\n    ")
    assert prompt == "<|fim_prefix|>def f(x):\n    y = 1\n    <|fim_suffix|>\n<|fim_middle|>"


def test_text_typed_since_the_last_request_starts_the_middle() -> None:
    prompt = _render("line", CHATML_QWEN.cues(), "def f(x):\n    y = ", middle="len(")
    assert prompt == "<|fim_prefix|>def f(x):\n    y = <|fim_suffix|>\n<|fim_middle|>len("


def test_a_model_without_a_chat_format_gets_fill_in_the_middle_at_a_body_too() -> None:
    assert _render("body", {}).startswith("<|fim_prefix|>")


def test_a_body_may_be_long_and_the_chat_answer_ends_at_its_fence() -> None:
    params = _infill().params
    assert params.max_new_tokens >= 384
    assert "\n```" in params.stop


def test_every_family_with_a_chat_format_gives_all_the_cues() -> None:
    for row in FAMILY_TABLE.values():
        if row.chat_format is not None:
            assert set(row.chat_format.cues()) >= {"system", "user", "assistant", "end"}


def test_other_files_come_in_the_repository_format_before_the_current_file() -> None:
    prompt = _render("block", CHATML_QWEN.cues(), "x = ", [SNIPPET])
    assert prompt == (
        "<|repo_name|>proj\n<|file_sep|>geo/shapes.py\ndef area(w, h): ...\n"
        "<|file_sep|>app.py\n<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"
    )


def test_without_a_repository_format_other_files_are_comments() -> None:
    prompt = _render("block", CHATML_QWEN.cues(), "x = ", [SNIPPET], NO_REPO)
    assert prompt == (
        "# geo/shapes.py\n# def area(w, h): ...\n\n<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"
    )


def test_a_body_chat_turn_shows_other_files_before_the_request() -> None:
    prompt = _render("body", CHATML_QWEN.cues(), context=[SNIPPET])
    assert "<|im_start|>user\nFrom geo/shapes.py:\n```python\ndef area(w, h): ...\n```\n" in prompt
    assert "```\nComplete the unfinished python function.<|im_end|>" in prompt
    assert prompt == _render("body", CHATML_QWEN.cues()).replace(
        "<|im_start|>user\n",
        "<|im_start|>user\nFrom geo/shapes.py:\n```python\ndef area(w, h): ...\n```\n",
    )
