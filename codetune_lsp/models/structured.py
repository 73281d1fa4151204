"""Structured output: constrained decoding for local models, validation for every backend.

Local models decode under a JSON-Schema grammar compiled by xgrammar (free whitespace off).
Whatever a backend returns, local or remote, is parsed leniently (code fences, prose around
the value) and validated with ``jsonschema``; a server's claim to have honoured a schema is
never trusted, numeric bounds included.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codetune_lsp.models._hf import LoadedModel

# strict=False: raw control characters inside strings are accepted (grammars allow them).
_DECODER = json.JSONDecoder(strict=False)


def parse_lenient(text: str) -> Any:
    """The first JSON object or array in ``text``; raises ``ValueError`` if there is none."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    try:
        return _DECODER.decode(stripped)
    except ValueError:
        pass
    for index, char in enumerate(stripped):
        if char in "{[":
            try:
                value, _ = _DECODER.raw_decode(stripped, index)
                return value
            except ValueError:
                continue
    raise ValueError("no JSON value found in the output")


def validation_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``path: message`` lines (empty when valid)."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def check_output(text: str, schema: Mapping[str, Any] | None) -> tuple[Any, str]:
    """(parsed value, "") when ``text`` satisfies ``schema``; (None, reason) when not."""
    if schema is None:
        return None, ""
    try:
        value = parse_lenient(text)
    except ValueError as exc:
        return None, f"output is not JSON: {exc}"
    errors = validation_errors(value, schema)
    if errors:
        return None, "output does not match the schema: " + "; ".join(errors[:5])
    return value, ""


_COMPILE_LOCK = threading.Lock()


def compiled_json_grammar(loaded: LoadedModel, schema: Mapping[str, Any]) -> Any:
    """``schema`` compiled by xgrammar for this model's tokenizer (once per schema)."""
    try:
        import xgrammar as xgr
    except ImportError as exc:
        from codetune_lsp.models.base import BackendError

        raise BackendError(
            loaded.name,
            f"JSON-schema constrained decoding needs xgrammar ({exc})",
            "install it with `pip install --no-deps xgrammar==0.2.8 apache-tvm-ffi` (as "
            "scripts/setup does), or drop the schema from the request",
        ) from exc
    key = json.dumps(schema, sort_keys=True)
    with _COMPILE_LOCK:
        compiler = loaded.extras.get("xgr_compiler")
        if compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(
                loaded.tokenizer,
                vocab_size=int(loaded.model.config.get_text_config().vocab_size),
                stop_token_ids=list(loaded.eos_ids),
            )
            compiler = loaded.extras["xgr_compiler"] = xgr.GrammarCompiler(info)
        cache: dict[str, Any] = loaded.extras.setdefault("xgr_grammars", {})
        compiled = cache.get(key)
        if compiled is None:
            compiled = cache[key] = compiler.compile_json_schema(
                key, any_whitespace=False, strict_mode=True
            )
    return compiled


class RowGrammars:
    """A transformers logits processor with one grammar matcher per row of a batch.

    ``grammars[i]`` is row i's compiled grammar, or None for a row generated freely. A row
    whose slot has finished (its own stop rule or token budget, while others go on) gets
    padding from ``generate``: its matcher is left alone from then on. Build one per
    ``generate`` call.
    """

    def __init__(self, grammars: Sequence[Any], finished: Callable[[int], bool]) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        self.finished = finished
        self.masked = [False] * len(grammars)  # the row's last token was drawn under its mask
        vocab = next(g for g in grammars if g is not None).tokenizer_info.vocab_size
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        rows = []
        for row, matcher in enumerate(self.matchers):
            if matcher is None:
                continue
            if self.masked[row]:
                token = int(input_ids[row, -1])
                if not matcher.accept_token(token):
                    raise RuntimeError(f"row {row}: token {token} broke its grammar")
                self.masked[row] = False
            if self.finished(row) or matcher.is_terminated():
                continue
            matcher.fill_next_token_bitmask(self.bitmask, row)
            self.masked[row] = True
            rows.append(row)
        if not rows:
            return scores
        apply = self._xgr.apply_token_bitmask_inplace
        if scores.device.type == "cuda":  # xgrammar masks on CUDA or on the CPU
            apply(scores, self.bitmask.to(scores.device), indices=rows)
        elif scores.device.type == "cpu":
            apply(scores, self.bitmask, indices=rows)
        else:
            on_cpu = scores.to("cpu")
            apply(on_cpu, self.bitmask, indices=rows)
            scores = on_cpu.to(scores.device)
        return scores
