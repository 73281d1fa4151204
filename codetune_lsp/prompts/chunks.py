"""Split a long document into chunks that fit the model's window, at top-level definitions.

Diagnostics run per chunk (the local backend batches them) and findings map back to
document lines through each chunk's first line. A chunk starts where a line begins in
column 0 (a new top-level statement, decorator or definition), so a function is not cut in
two unless it alone is larger than the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]
_TOP_LEVEL = re.compile(r"^[^\s#)\]}]")


@dataclass(frozen=True)
class Chunk:
    first_line: int  # 0-based document line of the chunk's first line
    lines: tuple[str, ...]  # without line endings

    @property
    def last_line(self) -> int:
        return self.first_line + len(self.lines) - 1

    def numbered(self) -> str:
        """The chunk with 1-based document line numbers, as the model is shown it."""
        width = len(str(self.last_line + 1))
        return "\n".join(
            f"{n:>{width}}| {line}" for n, line in enumerate(self.lines, self.first_line + 1)
        )


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """[start, end) line spans, each beginning at a top-level line."""
    starts = [0]
    decorated = False
    for index, line in enumerate(lines):
        if index and _TOP_LEVEL.match(line) and not decorated:
            starts.append(index)
        decorated = line.startswith("@")
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def chunk_document(text: str, budget: int, count: TokenCounter) -> list[Chunk]:
    """Chunks of whole top-level blocks, each at most ``budget`` tokens when numbered."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return []
    costs = count([f"{n}| {line}" for n, line in enumerate(lines, 1)])
    chunks: list[Chunk] = []
    start = end = 0
    used = 0
    for block_start, block_end in _blocks(lines):
        block_cost = sum(costs[block_start:block_end])
        if used and used + block_cost > budget:
            chunks.append(Chunk(start, tuple(lines[start:end])))
            start, used = block_start, 0
        if block_cost > budget:  # one block alone is too big: cut it by lines
            for index in range(block_start, block_end):
                if used and used + costs[index] > budget:
                    chunks.append(Chunk(start, tuple(lines[start:index])))
                    start, used = index, 0
                used += costs[index]
        else:
            used += block_cost
        end = block_end
    chunks.append(Chunk(start, tuple(lines[start:end])))
    return chunks
