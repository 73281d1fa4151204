"""Fit the text around the cursor into a model's context window, with its real tokenizer.

Whole lines are added outwards from the cursor, above and below, until the token budget
is spent. The budget is the window minus the reserve for special tokens, the template's
own text and ``max_new_tokens``. Only lines near the cursor are tokenized (in batches), so
a 10,000-line file costs no more than a short one. A final count of the joined text makes
sure the window is never exceeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Counts tokens for several texts at once (a batched call into the model's tokenizer).
TokenCounter = Callable[[Sequence[str]], list[int]]
BATCH_LINES = 48
# A prefix cut at the top starts on a multiple of a step of lines, so that typing (a few
# more tokens) does not move its first line: the model's cached state for the prompt's
# start stays valid until the cursor's needs cross the next boundary. The step is a power
# of two near 1/16 of the lines kept (at most this many), so at most about 6% is given up.
SNAP_LINES = 32


@dataclass(frozen=True)
class FittedContext:
    prefix: str
    suffix: str
    prefix_tokens: int
    suffix_tokens: int
    truncated: bool


def snap_step(kept_lines: int) -> int:
    """The step a cut prefix's first line snaps to, for ``kept_lines`` lines kept."""
    return min(SNAP_LINES, 1 << max((kept_lines // 16).bit_length() - 1, 0))


def _snap_start(
    above: list[str], kept: list[str], used: int, count: TokenCounter
) -> tuple[list[str], int]:
    """Where the prefix is cut at the top (``kept`` is nearest first), drop the farthest
    lines until the first one kept is a multiple of ``snap_step`` into the file."""
    if len(kept) == len(above) or not kept:
        return kept, used
    first = len(above) - len(kept)
    drop = -first % snap_step(len(kept))
    if drop == 0 or drop >= len(kept):
        return kept, used
    dropped = kept[len(kept) - drop :]
    return kept[: len(kept) - drop], used - sum(count(dropped))


def _take(lines: list[str], budget: int, count: TokenCounter) -> tuple[list[str], int]:
    """Take lines in order while their token counts fit the budget."""
    taken: list[str] = []
    used = 0
    for start in range(0, len(lines), BATCH_LINES):
        batch = lines[start : start + BATCH_LINES]
        for line, tokens in zip(batch, count(batch), strict=True):
            if used + tokens > budget:
                return taken, used
            taken.append(line)
            used += tokens
    return taken, used


def fit_context(
    prefix: str,
    suffix: str,
    budget: int,
    count: TokenCounter,
    suffix_share: float = 0.25,
) -> FittedContext:
    """Keep the lines nearest the cursor that fit ``budget`` tokens.

    The line holding the cursor is always kept whole on both sides if it fits at all.
    The suffix gets ``suffix_share`` of the budget first, and the prefix the rest. What the
    suffix leaves unused goes to the prefix, but not the other way: near the top of a file
    the prompt is shorter instead. While you type, the model's state is reused up to the
    cursor, and everything after it is read again on each request.
    """
    if budget <= 0:
        return FittedContext("", "", 0, 0, bool(prefix or suffix))
    above = prefix.splitlines(keepends=True)[::-1]  # nearest first
    below = suffix.splitlines(keepends=True)
    suffix_budget = int(budget * suffix_share)
    kept_below, below_used = _take(below, suffix_budget, count)
    kept_above, above_used = _take(above, budget - below_used, count)
    kept_above, above_used = _snap_start(above, kept_above, above_used, count)
    fitted_prefix = "".join(reversed(kept_above))
    fitted_suffix = "".join(kept_below)
    # Per-line counts can differ slightly from the joined text's: check and trim.
    while kept_above or kept_below:
        total = sum(count([fitted_prefix, fitted_suffix]))
        if total <= budget:
            break
        if kept_below and (len(kept_below) > len(kept_above) or not kept_above):
            kept_below.pop()
        else:
            kept_above.pop()
        fitted_prefix = "".join(reversed(kept_above))
        fitted_suffix = "".join(kept_below)
    truncated = len(kept_above) < len(above) or len(kept_below) < len(below)
    prefix_tokens, suffix_tokens = count([fitted_prefix, fitted_suffix])
    return FittedContext(fitted_prefix, fitted_suffix, prefix_tokens, suffix_tokens, truncated)
