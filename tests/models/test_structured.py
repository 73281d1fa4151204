"""Structured output: lenient parsing, schema validation, constrained local decoding."""

from __future__ import annotations

import asyncio
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
    finally:
        await backend.close()


@pytest.mark.timeout(180)
async def test_constrained_rows_share_a_batch_each_under_its_own_grammar(tiny_llama: Path):
    """Diagnostics chunks run together: each row gets its own grammar matcher, a row that
    stops early (its own token budget) leaves the others' grammars intact, and a row
    without a schema in the same batch stays free."""
    need("xgrammar", "constrained decoding with transformers")
    backend = LocalBackend("tiny", ModelProfile(id=str(tiny_llama)))
    short = {"type": "string", "maxLength": 8}
    other = {**FINDING, "properties": {**FINDING["properties"], "message": short}}
    prompts = ["Report: ", "Findings for app.py: ", "Audit: ", "def f():\n"]

    def constrained(prompt: str, schema: dict = FINDING, budget: int = 120) -> GenerationRequest:
        return GenerationRequest(prompt=prompt, max_new_tokens=budget, json_schema=schema)

    try:
        alone = [(await backend.generate(constrained(p))).text for p in prompts[:3]]
        assert set(backend.batch_sizes) == {1}
        together = await asyncio.gather(
            backend.generate(constrained(prompts[0])),
            backend.generate(constrained(prompts[1])),
            backend.generate(constrained(prompts[2], other)),
            backend.generate(constrained(prompts[0], budget=4)),  # stops mid-JSON
            backend.generate(GenerationRequest(prompt=prompts[3], max_new_tokens=30)),
        )
        assert max(backend.batch_sizes) > 1  # they really shared a generate call
        first, second, third, cut, free = together
        assert [first.text, second.text] == alone[:2]  # the same as generated alone
        for result in (first, second, third):
            assert result.finish_reason == "stop" and result.error == "", result
            assert set(result.json) == {"line", "severity", "message"}
        assert all(1 <= r.json["line"] <= 500 for r in (first, second, third))
        assert len(third.json["message"]) <= 8  # its own schema, not the others'
        assert cut.tokens_out == 4  # its budget, mid-JSON
        assert cut.json is None and "not JSON" in cut.error
        assert free.json is None and free.tokens_out == 30  # never constrained
    finally:
        await backend.close()
