"""What diagnostics analyse is capped: a huge file is skipped and a long one analysed in
part, each with a message, so one big file cannot flood the backend or the loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.engine import Engine
from codetune_lsp.features.diagnostics import Analyzer
from codetune_lsp.models.registry import create_backend
from codetune_lsp.paths import Paths
from codetune_lsp.prompts.library import PromptLibrary
from codetune_lsp.settings import ModelProfile, Settings
from tests.models.servers import FakeServer, Reply, Seen

FUNCTION = "def f{n}(x):\n    return x + {n}\n\n\n"


def answer(seen: Seen) -> Reply:
    return Reply(body={"choices": [{"text": '{"findings": []}', "finish_reason": "stop"}]})


@pytest.fixture
async def loopback(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeServer]]:
    from codetune_lsp.store import open_store

    with FakeServer(answer) as fake:
        profile = ModelProfile(
            backend="openai", url=fake.url + "/v1", id="m", context_length=1024, max_retries=0
        )
        settings = Settings(models={"loop": profile})
        store = open_store(settings, Paths(tmp_path / "c.toml", "t", tmp_path / "data", "t"))
        library = PromptLibrary(store)
        library.seed_builtins()
        engine = Engine(settings, store, library, create_backend)
        try:
            yield engine, fake
        finally:
            await engine.aclose()
            store.close()


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
