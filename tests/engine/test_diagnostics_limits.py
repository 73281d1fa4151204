"""What diagnostics analyse is capped: a huge file is skipped and a long one analysed in
part, each with a message, so one big file cannot flood the backend or the loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.engine import Engine
from codetune_lsp.features.diagnostics import Analyzer
from tests.engine.conftest import loopback_engine
from tests.models.servers import FakeServer, Reply, Seen

FUNCTION = "def f{n}(x):\n    return x + {n}\n\n\n"


def answer(seen: Seen) -> Reply:
    return Reply(body={"choices": [{"text": '{"findings": []}', "finish_reason": "stop"}]})


@pytest.fixture
async def loopback(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeServer]]:
    async with loopback_engine(tmp_path, answer) as pair:
        yield pair


def doc(text: str) -> DocumentSnapshot:
    return DocumentSnapshot("file:///w/big.py", 1, "python", text)


async def test_a_file_over_the_size_limit_is_not_analysed_and_says_why(loopback) -> None:
    engine, fake = loopback
    analyzer = Analyzer(engine, "loop", ["diagnostics.security"], max_chars=10_000)
    analysis = await analyzer.analyse(doc("x = 1\n" * 5_000))
    assert analysis.findings == [] and not fake.seen
    assert "big.py is not analysed" in analysis.note and "max_file_chars" in analysis.note


async def test_a_long_file_is_analysed_in_part_and_says_so(loopback) -> None:
    engine, fake = loopback
    text = "".join(FUNCTION.format(n=n) for n in range(2_000))
    analyzer = Analyzer(engine, "loop", ["diagnostics.security"], max_chunks=3)
    analysis = await analyzer.analyse(doc(text))
    assert len(fake.seen) == 3
    assert "only the first 3 of" in analysis.note and "max_chunks" in analysis.note
