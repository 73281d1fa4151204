"""Context fitting: nearest lines first, the budget is never exceeded, big files are cheap."""

from __future__ import annotations

import time

from codetune_lsp.prompts.context import fit_context, snap_step


def words(texts):
    """A stand-in tokenizer for unit tests: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def test_everything_fits_when_the_budget_allows() -> None:
    fitted = fit_context("a b\nc d\n", "e f\n", budget=100, count=words)
    assert (fitted.prefix, fitted.suffix, fitted.truncated) == ("a b\nc d\n", "e f\n", False)


def test_lines_nearest_the_cursor_are_kept() -> None:
    prefix = "".join(f"line{i} x\n" for i in range(100)) + "cur"
    suffix = " rest\n" + "".join(f"after{i} y\n" for i in range(100))
    fitted = fit_context(prefix, suffix, budget=40, count=words)
    assert fitted.prefix.endswith("line99 x\ncur")
    assert fitted.suffix.startswith(" rest\nafter0 y\n")
    assert "line0 " not in fitted.prefix and "after99" not in fitted.suffix
    assert fitted.truncated
    assert sum(words([fitted.prefix, fitted.suffix])) <= 40


def test_unused_suffix_budget_goes_to_the_prefix() -> None:
    prefix = "".join(f"w{i} w\n" for i in range(52))  # the 20 lines kept start at line 32
    fitted = fit_context(prefix, "", budget=40, count=words)
    assert fitted.prefix_tokens == 40


def test_the_suffix_never_takes_more_than_its_share() -> None:
    """Near the top of a file the prefix leaves budget unused; the suffix, read again on
    every keystroke, does not take it."""
    suffix = "".join(f"after{i} y\n" for i in range(200))
    fitted = fit_context("import os\n", suffix, budget=400, count=words)
    assert fitted.suffix_tokens == 100  # a quarter of the budget
    assert fitted.suffix.startswith("after0 y\n") and fitted.truncated


def test_a_cut_prefix_keeps_its_first_line_while_you_type() -> None:
    lines = "".join(f"w{i} w\n" for i in range(2000))
    suffix = "".join(f"after{i} x\n" for i in range(40))
    starts = set()
    for typed in ["", "a", "a b", "a b c", "a b c d e"]:  # tokens added at the cursor
        fitted = fit_context(lines + typed, suffix, budget=1000, count=words)
        assert fitted.prefix.endswith(typed) and fitted.truncated
        starts.add(fitted.prefix.split("\n", 1)[0])
    assert len(starts) == 1  # the prompt's start, and so the model's cached state, holds
    (start,) = starts
    kept = fitted.prefix.count("\n")
    assert snap_step(kept) == 16 and int(start[1:].split(" ", 1)[0]) % 16 == 0


def test_the_snap_gives_up_at_most_a_sixteenth_of_the_lines() -> None:
    assert [snap_step(n) for n in (10, 31, 32, 64, 200, 512, 5000)] == [1, 1, 2, 4, 8, 32, 32]
    assert all(snap_step(n) <= max(n / 16, 1) for n in range(1, 2000))


def test_joined_count_is_enforced_even_if_lines_undercount() -> None:
    def merging(texts):  # joined text costs more than its lines: like a BPE merge quirk
        return [len(t.split()) + t.count("\n") for t in texts]

    prefix = "".join(f"a{i}\n" for i in range(30))
    fitted = fit_context(prefix, "", budget=20, count=merging)
    assert sum(merging([fitted.prefix, fitted.suffix])) <= 20


def test_zero_budget_gives_nothing() -> None:
    fitted = fit_context("a\n", "b\n", budget=0, count=words)
    assert (fitted.prefix, fitted.suffix, fitted.truncated) == ("", "", True)


def test_a_ten_thousand_line_file_is_fitted_quickly() -> None:
    prefix = "".join(f"    value_{i} = compute({i}, other={i * 2})\n" for i in range(9000))
    suffix = "".join(f"    more_{i} = {i}\n" for i in range(1000))
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return words(texts)

    started = time.perf_counter()
    fitted = fit_context(prefix, suffix, budget=2000, count=counting)
    elapsed = time.perf_counter() - started
    assert fitted.truncated and fitted.prefix_tokens + fitted.suffix_tokens <= 2000
    assert sum(calls) < 1500  # only lines near the cursor were tokenized
    assert elapsed < 0.05  # the real-tokenizer timing target (< 5 ms) is in benchmarks/
