"""Structured output: lenient parsing, schema validation, constrained local decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from codetune_lsp.models.base import GenerationRequest
from codetune_lsp.models.local import LocalBackend
from codetune_lsp.models.structured import check_output, parse_lenient, validation_errors
from codetune_lsp.settings import ModelProfile
from tests.needs import need

FINDING = {
    "type": "object",
    "properties": {
        "line": {"type": "integer", "minimum": 1, "maximum": 500},
        "severity": {"enum": ["low", "high"]},
        "message": {"type": "string", "maxLength": 40},
    },
    "required": ["line", "severity", "message"],
    "additionalProperties": False,
}


def test_parse_lenient_accepts_fences_and_prose_around_the_value():
    assert parse_lenient('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_lenient('Sure! Here it is: {"a": [1, 2]} hope that helps') == {"a": [1, 2]}
    assert parse_lenient("[1, 2]") == [1, 2]
    assert parse_lenient('{"s": "a\x0fb"}') == {"s": "a\x0fb"}  # raw control character
    with pytest.raises(ValueError):
        parse_lenient("no json here {")


def test_numeric_bounds_are_checked_not_trusted():
    value = {"line": 9000, "severity": "low", "message": "x"}
    errors = validation_errors(value, FINDING)
    assert errors == ["line: 9000 is greater than the maximum of 500"]
    parsed, error = check_output('{"line": 0, "severity": "low", "message": "x"}', FINDING)
    assert parsed is None and "less than the minimum of 1" in error
    parsed, error = check_output('{"line": 3, "severity": "high", "message": "ok"}', FINDING)
    assert (parsed, error) == ({"line": 3, "severity": "high", "message": "ok"}, "")
    assert check_output("anything", None) == (None, "")


@pytest.mark.timeout(120)
async def test_local_decoding_is_constrained_to_the_schema(tiny_llama: Path):
    need("xgrammar", "constrained decoding with transformers")
    backend = LocalBackend("tiny", ModelProfile(id=str(tiny_llama)))
    try:
        free = await backend.generate(GenerationRequest(prompt="Report: ", max_new_tokens=60))
        assert check_output(free.text, FINDING)[0] is None  # the random model alone: no JSON
        result = await backend.generate(
            GenerationRequest(prompt="Report: ", max_new_tokens=120, json_schema=FINDING)
        )
        assert result.finish_reason == "stop", result
        assert result.error == ""
        assert set(result.json) == {"line", "severity", "message"}
        assert 1 <= result.json["line"] <= 500
        assert "\n" not in result.text  # free whitespace is off
        assert backend.batch_sizes[-1] == 1  # schema requests run on their own
    finally:
        await backend.close()
