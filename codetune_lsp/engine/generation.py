"""From a template and values to the generation a backend runs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from codetune_lsp.engine.request import EngineError
from codetune_lsp.models.base import CancelToken, ChatMessage, GenerationRequest
from codetune_lsp.prompts.render import RenderError, render
from codetune_lsp.prompts.template import PromptTemplate

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


def fim_markers(layout: str | None) -> dict[str, str]:
    """Split a FIM layout like ``A{prefix}B{suffix}C`` into its three markers."""
    if not layout:
        return {"prefix": "", "suffix": "", "middle": ""}
    before, _, rest = layout.partition("{prefix}")
    middle_marker, _, after = rest.partition("{suffix}")
    return {"prefix": before, "suffix": middle_marker, "middle": after}


def repo_markers(markers: tuple[str, str] | None) -> dict[str, str]:
    """The repository-level markers a template uses as ``repo.name`` and ``repo.file_sep``."""
    name, file_sep = markers or ("", "")
    return {"name": name, "file_sep": file_sep}


def check_variables(template: PromptTemplate, values: Mapping[str, Any]) -> dict[str, Any]:
    """The declared variables, type-checked; a missing one is the feature's bug, named."""
    chosen = {}
    for name, kind in template.variables.items():
        if name not in values:
            raise EngineError(
                f"template {template.name} needs variable {name!r}, which the "
                f"{template.feature} feature does not provide; use a template written for it"
            )
        value = values[name]
        if not isinstance(value, _TYPES[kind]) or (kind == "int" and isinstance(value, bool)):
            raise EngineError(f"variable {name!r} of {template.name} must be {kind}")
        chosen[name] = value
    return chosen


# Where features share a local model: completions first (someone waits at the cursor),
# then code actions, then background diagnostics.
FEATURE_PRIORITY = {"completion": 0, "code_action": 1, "diagnostics": 2}


def max_new_tokens(template: PromptTemplate, requested: int | None) -> int:
    """The template's limit, lowered by a feature's setting."""
    limit = template.params.max_new_tokens
    return min(limit, requested or limit)


def build_generation(
    template: PromptTemplate,
    values: Mapping[str, Any],
    max_new: int | None,
    cancel: CancelToken | None,
    end_when: Callable[[str], bool] | None = None,
    first_word: tuple[str, ...] = (),
    starts_with: str = "",
) -> GenerationRequest:
    """Render the template into a raw prompt (FIM) or a chat with few-shot turns."""
    try:
        body = render(template.template, values)
        system = render(template.system, values) if template.system else ""
    except RenderError as exc:
        raise EngineError(f"template {template.name}: {exc}", kind="template") from exc
    params = template.params
    common: dict[str, Any] = {
        "max_new_tokens": max_new_tokens(template, max_new),
        "temperature": params.temperature,
        "top_p": params.top_p,
        "stop": params.stop,
        "json_schema": template.schema,
        "cancel": cancel,
        "end_when": end_when,
        "first_word": first_word,
        "starts_with": starts_with,
        "priority": FEATURE_PRIORITY.get(template.feature, 1),
    }
    if not system and not template.examples:
        return GenerationRequest(prompt=body, **common)
    messages = [ChatMessage("system", system)] if system else []
    for example in template.examples:
        messages += [ChatMessage("user", example.input), ChatMessage("assistant", example.output)]
    messages.append(ChatMessage("user", body))
    return GenerationRequest(messages=tuple(messages), **common)


def prompt_text(generation: GenerationRequest) -> str:
    """The prompt as one text, for the history and the cache key."""
    if generation.prompt is not None:
        return generation.prompt
    return "\n".join(f"{m.role.upper()}: {m.content}" for m in generation.messages)


def generation_params(generation: GenerationRequest) -> dict[str, Any]:
    params = {
        "temperature": generation.temperature,
        "top_p": generation.top_p,
        "max_new_tokens": generation.max_new_tokens,
        "stop": list(generation.stop),
        "seed": generation.seed,
        "chat": generation.prompt is None,
    }
    if generation.first_word:  # part of the cache key: another word list, another answer
        words = "\n".join(sorted(generation.first_word)).encode()
        params["first_word"] = (
            f"{len(generation.first_word)}:{hashlib.sha256(words).hexdigest()[:16]}"
        )
    if generation.starts_with:  # the answer's required start is not in the prompt
        params["starts_with"] = generation.starts_with
    return params
