"""llama.cpp's thread count follows how busy the rest of the machine is."""

from __future__ import annotations

from tests.needs import need

need("llama_cpp", "the llama.cpp runtime, extra 'llamacpp'")

from codetune_lsp.models import _llama  # noqa: E402


def chooser_with(samples: list[tuple[float, float, float]]) -> _llama.ThreadChooser:
    chooser = _llama.ThreadChooser(cores=4)
    feed = iter(samples)
    chooser._sample = lambda: next(feed)  # type: ignore[method-assign]
    return chooser


def test_every_core_while_the_others_are_idle() -> None:
    # 10 s apart: the machine was busy 30 core-seconds, all of them ours.
    chooser = chooser_with([(0.0, 0.0, 0.0), (10.0, 30.0, 30.0)])
    assert chooser.choose() == _llama.default_threads()  # no history yet
    assert chooser.choose() == 4


def test_one_core_fewer_per_core_that_other_processes_use() -> None:
    # Others used 15 core-seconds in 10 s: 1.5 cores, so 2 fewer threads.
    chooser = chooser_with([(0.0, 0.0, 0.0), (10.0, 45.0, 30.0)])
    chooser.choose()
    assert chooser.choose() == 2


def test_never_fewer_than_one_thread() -> None:
    chooser = chooser_with([(0.0, 0.0, 0.0), (10.0, 100.0, 0.0)])
    chooser.choose()
    assert chooser.choose() == 1
