"""The template file format: fields, validation with line numbers, content identity."""

from __future__ import annotations

from importlib import resources

import pytest

from codetune_lsp.prompts.render import render
from codetune_lsp.prompts.template import parse_template

VALID = '''name = "code_action.rename"
feature = "code_action"
description = "Suggest better names."
model = "whiterabbitneo"
output = "edit"
system = "You rename things."
template = """Rename in {{ language }}:
{{ code }}"""

[params]
temperature = 0.2
max_new_tokens = 300
stop = ["USER:"]

[variables]
code = "str"
language = "str"

[[examples]]
input = "def f(a): return a"
output = "def identity(value): return value"

[action]
title = "AI: Rename"
kind = "refactor.rewrite"
needs_selection = true
languages = ["python"]
'''


def test_a_valid_file_parses_into_every_field() -> None:
    template, problems = parse_template(VALID)
    assert problems == []
    assert template is not None
    assert (template.name, template.feature, template.output) == (
        "code_action.rename",
        "code_action",
        "edit",
    )
    assert template.params.temperature == 0.2 and template.params.stop == ("USER:",)
    assert template.examples[0].output.startswith("def identity")
    assert template.variables == {"code": "str", "language": "str"}
    assert template.action is not None and template.action.needs_selection
    assert template.action.applies_to("python", has_selection=True)
    assert not template.action.applies_to("python", has_selection=False)
    assert not template.action.applies_to("rust", has_selection=True)


def test_content_hash_ignores_notes_but_not_content() -> None:
    base, _ = parse_template(VALID)
    noted, _ = parse_template(
        VALID.replace('model = "whiterabbitneo"', 'notes = "v2"\nmodel = "whiterabbitneo"')
    )
    changed, _ = parse_template(VALID.replace("temperature = 0.2", "temperature = 0.3"))
    assert base and noted and changed
    assert base.content_hash() == noted.content_hash()
    assert base.content_hash() != changed.content_hash()


def line_of(problems, fragment: str) -> int:
    return next(p.line for p in problems if fragment in p.message)


def test_toml_errors_point_at_their_line() -> None:
    template, problems = parse_template('name = "x"\nfeature = \n')
    assert template is None
    assert problems[0].message.startswith("TOML error") and problems[0].line == 1


def test_unknown_fields_and_variable_mismatches_are_reported_where_they_are() -> None:
    source = (
        VALID.replace("[params]", 'colour = "blue"\n\n[params]')
        .replace('language = "str"', 'language = "str"\nunused = "str"')
        .replace("Rename in {{ language }}", "Rename in {{ language }} {{ undeclared }}")
    )
    template, problems = parse_template(source)
    assert template is None  # an undeclared variable is an error
    lines = source.splitlines()
    assert "colour" in lines[line_of(problems, "unknown field 'colour'")]
    assert "unused" in lines[line_of(problems, "'unused' is declared but never used")]
    assert any("'undeclared' is used but not declared" in p.message for p in problems)
    warning = next(p for p in problems if "never used" in p.message)
    assert warning.severity == "warning"


def test_diagnostics_templates_need_a_valid_json_schema() -> None:
    source = """name = "diagnostics.x"
feature = "diagnostics"
template = "{{ numbered_code }}"
[variables]
numbered_code = "str"
[schema]
type = "objekt"
"""
    template, problems = parse_template(source)
    assert template is None
    assert any("not a valid JSON Schema" in p.message for p in problems)
    assert source.splitlines()[line_of(problems, "JSON Schema")] == "[schema]"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("temperature = 0.2", "temperature = 5"), "temperature must be"),
        (("max_new_tokens = 300", "max_new_tokens = 0"), "max_new_tokens must be"),
        (('output = "edit"', 'output = "json"'), "output for code_action"),
        (('feature = "code_action"', 'feature = "chat"'), "feature must be one of"),
        (('name = "code_action.rename"', 'name = "Bad Name"'), "name must be"),
        (('title = "AI: Rename"', 'title = ""'), "title is required"),
    ],
)
def test_bad_values_are_errors(change: tuple[str, str], message: str) -> None:
    template, problems = parse_template(VALID.replace(*change))
    assert template is None
    assert any(message in p.message for p in problems)


def builtin_sources() -> list[tuple[str, str]]:
    folder = resources.files("codetune_lsp.prompts") / "builtin"
    return sorted(
        (f.name, f.read_text(encoding="utf-8"))
        for f in folder.iterdir()
        if f.name.endswith(".toml")
    )


def test_every_feature_has_its_builtin_templates() -> None:
    names = {name.removesuffix(".toml") for name, _ in builtin_sources()}
    assert names >= {
        "completion.infill",
        "completion.chat",
        "code_action.explain",
        "code_action.review",
        "code_action.security_audit",
        "code_action.optimize",
        "code_action.docstring",
        "code_action.tests",
        "code_action.fix_diagnostic",
        "diagnostics.security",
        "diagnostics.quality",
    }


@pytest.mark.parametrize(("file_name", "source"), builtin_sources())
def test_builtins_are_valid_and_render_code_verbatim(file_name: str, source: str) -> None:
    template, problems = parse_template(source)
    assert template is not None and problems == [], problems
    assert f"{template.name}.toml" == file_name
    code = "x = '{{ not a variable }}'  # 😀\n"
    sample = {"str": code, "int": 3, "float": 1.0, "bool": True, "list": [], "dict": {}}
    values = {name: sample[kind] for name, kind in template.variables.items()}
    if "fim" in values:
        values["fim"] = {"prefix": "<P>", "suffix": "<S>", "middle": "<M>"}
    rendered = render(template.template, values)
    assert "{{ not a variable }}" in rendered


def test_the_start_up_parse_of_built_ins_checks_shape_but_not_jinja_or_schema() -> None:
    source = (
        'name = "code_action.x"\nfeature = "code_action"\ntemplate = "{{ undeclared }}"\n'
        '[action]\ntitle = "X"\n'
    )
    assert parse_template(source)[0] is None  # full check: the variable is not declared
    assert parse_template(source, check_content=False)[0] is not None
    bad_shape = source.replace('title = "X"', "title = 3")
    assert parse_template(bad_shape, check_content=False)[0] is None
