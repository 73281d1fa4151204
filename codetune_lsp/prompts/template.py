"""The prompt template file format (TOML) and its validation.

A template file describes one prompt: which feature it serves, the model family it was
written for, sampling params, the system text and the Jinja template, few-shot examples,
declared variables, and the output contract (a JSON Schema for diagnostics; an edit, a
Markdown answer or a new file for code actions). Problems are reported with the line they
concern, so they can be shown as diagnostics in the file while the user edits it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from codetune_lsp.prompts.render import RenderError, variables_used

Feature = Literal["completion", "code_action", "diagnostics"]
FEATURES: tuple[str, ...] = ("completion", "code_action", "diagnostics")
OUTPUTS: dict[str, tuple[str, ...]] = {
    "completion": ("text",),
    "code_action": ("edit", "markdown", "new_file", "docstring"),
    "diagnostics": ("json",),
}
VARIABLE_TYPES = ("str", "int", "float", "bool", "list", "dict")
TOP_LEVEL_KEYS = frozenset(
    {
        "name",
        "feature",
        "description",
        "notes",
        "model",
        "params",
        "system",
        "template",
        "examples",
        "variables",
        "output",
        "schema",
        "action",
    }
)
PARAM_KEYS = frozenset({"temperature", "max_new_tokens", "top_p", "stop"})
ACTION_KEYS = frozenset({"title", "kind", "needs_selection", "languages"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


@dataclass(frozen=True)
class Params:
    temperature: float = 0.0
    max_new_tokens: int = 256
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass(frozen=True)
class Action:
    """How a code-action template appears in the editor's menu."""

    title: str
    kind: str = "refactor.rewrite"
    needs_selection: bool = False
    languages: tuple[str, ...] = ()  # empty: every language

    def applies_to(self, language_id: str, has_selection: bool) -> bool:
        if self.needs_selection and not has_selection:
            return False
        return not self.languages or language_id in self.languages


@dataclass(frozen=True)
class PromptTemplate:
    """One immutable prompt version's content."""

    name: str
    feature: str
    template: str
    description: str = ""
    notes: str = ""
    model: str = ""
    system: str = ""
    params: Params = field(default_factory=Params)
    examples: tuple[Example, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    output: str = "text"
    schema: dict[str, Any] | None = None
    action: Action | None = None

    def canonical(self) -> dict[str, Any]:
        """Every field, as plain JSON data in a stable order (``notes`` excluded)."""
        data = asdict(self)
        data.pop("notes")
        return data

    def content_hash(self) -> str:
        """Identity of the content: equal files give equal hashes, so no new version."""
        payload = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class TemplateProblem:
    """A mistake in a template file, with the 0-based line it concerns."""

    message: str
    line: int = 0
    severity: Literal["error", "warning"] = "error"


class TemplateInvalid(ValueError):
    def __init__(self, problems: list[TemplateProblem], origin: str = "") -> None:
        self.problems = problems
        first = problems[0]
        where = f"{origin}:{first.line + 1}: " if origin else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}{first.message}{more}")


def _file_line(file_source: str, key: str, text: str, line: int | None) -> int | None:
    """0-based line of the file holding line ``line`` (1-based) of the string ``key``."""
    if line is None or not file_source:
        return None
    wanted = text.splitlines()[line - 1 : line]
    start = _line_of(file_source, key)
    file_lines = file_source.splitlines()
    if wanted and wanted[0].strip():
        for index in range(start, len(file_lines)):
            if file_lines[index] == wanted[0]:
                return index
    return None


def _line_of(source: str, key: str) -> int:
    """0-based line where ``key = `` or ``[key]`` first appears (0 if not found)."""
    pattern = re.compile(rf"^[ \t]*(\[+[ \t]*)?{re.escape(key)}[ \t]*(=|\]|\.)", re.MULTILINE)
    found = pattern.search(source)
    return source.count("\n", 0, found.start()) if found else 0


def parse_template(
    source: str, *, check_content: bool = True
) -> tuple[PromptTemplate | None, list[TemplateProblem]]:
    """Parse and validate TOML source; return the template (if usable) and all problems.

    ``check_content=False`` leaves out the costly checks of the Jinja text and the JSON
    Schema (the shape of every field is still checked): for the package's own built-ins,
    which the test suite validates in full, so that start-up does not pay for them."""
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            match = re.search(r"line (\d+)", str(exc))
            line = int(match.group(1)) if match else 1
        return None, [TemplateProblem(f"TOML error: {exc}", max(line - 1, 0))]
    return _from_raw(raw, source, check_content)


def _from_raw(
    raw: dict[str, Any], source: str, check_content: bool = True
) -> tuple[PromptTemplate | None, list[TemplateProblem]]:
    problems: list[TemplateProblem] = []

    def problem(message: str, key: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(TemplateProblem(message, _line_of(source, key), severity))

    for key in sorted(set(raw) - TOP_LEVEL_KEYS):
        problem(f"unknown field {key!r} (known: {', '.join(sorted(TOP_LEVEL_KEYS))})", key)

    def text(key: str, required: bool = False) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            problem(f"{key!r} must be a string", key)
            return ""
        if required and not value.strip():
            problem(f"{key!r} is required", key)
        return value

    name = text("name", required=True)
    if name and not _NAME.match(name):
        problem("name must be lower-case words joined by dots, e.g. 'code_action.explain'", "name")
    feature = text("feature", required=True)
    if feature and feature not in FEATURES:
        problem(f"feature must be one of {', '.join(FEATURES)}", "feature")
    body = text("template", required=True)
    system = text("system")

    params = _params(raw.get("params", {}), problem)
    examples = _examples(raw.get("examples", []), problem)
    variables = _variables(raw.get("variables", {}), problem)

    allowed = OUTPUTS.get(feature, ())
    output = raw.get("output", allowed[0] if allowed else "text")
    if allowed and output not in allowed:
        problem(f"output for {feature} must be one of {', '.join(allowed)}", "output")

    schema = raw.get("schema")
    if feature == "diagnostics" and schema is None:
        problem("diagnostics templates need a [schema] (JSON Schema of the findings)", "feature")
    if schema is not None:
        schema = _check_schema(schema, problem, check_content)

    action = None
    if feature == "code_action":
        action = _action(raw.get("action"), problem)
    elif "action" in raw:
        problem("[action] only applies to code_action templates", "action", "warning")

    if check_content:
        _check_variables(body, system, examples, variables, problem, source, problems)

    if any(p.severity == "error" for p in problems):
        return None, problems
    return (
        PromptTemplate(
            name=name,
            feature=feature,
            template=body,
            description=text("description"),
            notes=text("notes"),
            model=text("model"),
            system=system,
            params=params,
            examples=examples,
            variables=variables,
            output=output,
            schema=schema,
            action=action,
        ),
        problems,
    )


def _params(raw: Any, problem: Any) -> Params:
    if not isinstance(raw, dict):
        problem("[params] must be a table", "params")
        return Params()
    for key in sorted(set(raw) - PARAM_KEYS):
        problem(f"unknown param {key!r} (known: {', '.join(sorted(PARAM_KEYS))})", key)
    defaults = Params()
    temperature = raw.get("temperature", defaults.temperature)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        problem("temperature must be a number from 0 to 2", "temperature")
        temperature = defaults.temperature
    max_new = raw.get("max_new_tokens", defaults.max_new_tokens)
    if not isinstance(max_new, int) or isinstance(max_new, bool) or not 1 <= max_new <= 32768:
        problem("max_new_tokens must be a whole number from 1 to 32768", "max_new_tokens")
        max_new = defaults.max_new_tokens
    top_p = raw.get("top_p", defaults.top_p)
    if not isinstance(top_p, int | float) or not 0 < top_p <= 1:
        problem("top_p must be a number in (0, 1]", "top_p")
        top_p = defaults.top_p
    stop = raw.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        problem("stop must be a list of non-empty strings", "stop")
        stop = []
    return Params(float(temperature), max_new, float(top_p), tuple(stop))


def _examples(raw: Any, problem: Any) -> tuple[Example, ...]:
    if not isinstance(raw, list):
        problem("examples must be an array of tables ([[examples]])", "examples")
        return ()
    examples = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or set(item) != {"input", "output"}
            or not all(isinstance(v, str) for v in item.values())
        ):
            problem("each [[examples]] needs exactly `input` and `output` strings", "examples")
            continue
        examples.append(Example(item["input"], item["output"]))
    return tuple(examples)


def _variables(raw: Any, problem: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        problem("[variables] must be a table of name = type", "variables")
        return {}
    variables = {}
    for name, kind in raw.items():
        if kind not in VARIABLE_TYPES:
            problem(f"variable {name!r}: type must be one of {', '.join(VARIABLE_TYPES)}", name)
            continue
        variables[name] = kind
    return variables


def _check_schema(schema: Any, problem: Any, check_content: bool = True) -> dict[str, Any] | None:
    if not isinstance(schema, dict):
        problem("[schema] must be a table holding a JSON Schema", "schema")
        return None
    if not check_content:
        return schema
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        problem(f"[schema] is not a valid JSON Schema: {exc.message}", "schema")
        return None
    return schema


def _action(raw: Any, problem: Any) -> Action | None:
    if not isinstance(raw, dict):
        problem("code_action templates need an [action] table with at least a title", "feature")
        return None
    for key in sorted(set(raw) - ACTION_KEYS):
        problem(f"unknown [action] field {key!r} (known: {', '.join(sorted(ACTION_KEYS))})", key)
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        problem("[action] title is required", "action")
        return None
    kind = raw.get("kind", "refactor.rewrite")
    languages = raw.get("languages", [])
    needs_selection = raw.get("needs_selection", False)
    if not isinstance(kind, str) or not isinstance(needs_selection, bool):
        problem("[action] kind must be a string and needs_selection true or false", "action")
        return None
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        problem("[action] languages must be a list of language ids", "languages")
        languages = []
    return Action(title, kind, needs_selection, tuple(languages))


def _check_variables(
    body: str,
    system: str,
    examples: tuple[Example, ...],
    declared: dict[str, str],
    problem: Any,
    file_source: str = "",
    problems: list[TemplateProblem] | None = None,
) -> None:
    used: set[str] = set()
    for key, source in (("template", body), ("system", system)):
        try:
            used |= variables_used(source)
        except RenderError as exc:
            line = _file_line(file_source, key, source, exc.line)
            if line is None or problems is None:
                problem(str(exc), key)
            else:
                problems.append(TemplateProblem(str(exc), line))
    for name in sorted(used - set(declared)):
        problem(f"variable {name!r} is used but not declared in [variables]", "template")
    for name in sorted(set(declared) - used):
        problem(f"variable {name!r} is declared but never used", name, "warning")
