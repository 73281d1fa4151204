"""Prompt templates, immutable versions, labels with an event log, rollback, experiments."""

from __future__ import annotations

from collections import Counter

import pytest

from codetune_lsp.store import PromptStoreError, Store, choose_arm
from codetune_lsp.store import prompts as repo
from codetune_lsp.store.tables import ImmutableRowError, LabelEvent, PromptVersion


def test_versions_are_created_once_per_content(store: Store) -> None:
    v1 = store.create_version("completion.infill", "A {{prefix}}", {"max_new_tokens": 32}).result()
    again = store.create_version("completion.infill", "A {{prefix}}", {"max_new_tokens": 32})
    assert again.result() == v1
    v2 = store.create_version("completion.infill", "A {{prefix}}", {"max_new_tokens": 64}).result()
    v3 = store.create_version("completion.infill", "B {{prefix}}").result()
    other = store.create_version("diagnostics.security", "A {{prefix}}").result()
    assert (v1.version, v2.version, v3.version, other.version) == (1, 2, 3, 1)
    assert v1.content_hash == repo.content_hash("A {{prefix}}", {"max_new_tokens": 32})
    assert len({v1.content_hash, v2.content_hash, v3.content_hash}) == 3
    assert v2.config == {"max_new_tokens": 64}
    listed = store.read(lambda s: repo.list_versions(s, "completion.infill"))
    assert [v.version for v in listed] == [1, 2, 3]
    assert store.read(lambda s: repo.get_version(s, v3.id)) == v3
    assert store.read(lambda s: repo.find_version(s, "completion.infill", 2)) == v2


def test_versions_and_label_events_are_immutable(store: Store) -> None:
    v1 = store.create_version("t", "one").result()
    v2 = store.create_version("t", "two").result()
    store.set_label("t", "production", v1.id).result()

    def edit_version(session) -> None:  # type: ignore[no-untyped-def]
        session.get(PromptVersion, v1.id).body = "changed"
        session.flush()

    def delete_event(session) -> None:  # type: ignore[no-untyped-def]
        session.delete(session.query(LabelEvent).first())
        session.flush()

    with pytest.raises(ImmutableRowError):
        store.submit(edit_version).result()
    with pytest.raises(ImmutableRowError):
        store.submit(delete_event).result()
    assert store.read(lambda s: repo.get_version(s, v1.id)).body == "one"  # type: ignore[union-attr]
    assert v2.body == "two"


async def test_labels_move_with_events_and_roll_back(store: Store) -> None:
    v1 = store.create_version("completion.infill", "one").result()
    v2 = store.create_version("completion.infill", "two").result()
    v3 = store.create_version("completion.infill", "three").result()
    assert await store.resolve_label("completion.infill", "production") is None
    store.set_label("completion.infill", "production", v1.id, actor="ana").result()
    store.set_label("completion.infill", "production", v2.id, actor="ana", reason="better").result()
    moved = store.set_label("completion.infill", "production", v3.id, actor="bo").result()
    assert (moved.version, moved.previous_version_id) == (3, v2.id)
    same = store.set_label("completion.infill", "production", v3.id).result()  # no-op
    assert same.version_id == v3.id
    assert (await store.resolve_label("completion.infill", "production")) == v3
    back = store.rollback_label("completion.infill", "production", actor="bo").result()
    assert (back.version_id, back.previous_version_id) == (v2.id, v3.id)
    assert (await store.resolve_label("completion.infill", "production")) == v2
    history = store.read(lambda s: repo.label_history(s, "completion.infill", "production"))
    assert [(e.from_version_id, e.to_version_id) for e in history] == [
        (None, v1.id),
        (v1.id, v2.id),
        (v2.id, v3.id),
        (v3.id, v2.id),
    ]
    assert [e.actor for e in history] == ["ana", "ana", "bo", "bo"]
    assert history[-1].reason == "rollback"
    # Labels are per template and per name.
    store.set_label("completion.infill", "staging", v1.id).result()
    assert (await store.resolve_label("completion.infill", "staging")) == v1
    assert (await store.resolve_label("completion.infill", "production")) == v2


def test_label_errors(store: Store) -> None:
    v1 = store.create_version("a", "one").result()
    other = store.create_version("b", "one").result()
    with pytest.raises(PromptStoreError, match="no prompt template named 'zzz'"):
        store.set_label("zzz", "production", v1.id).result()
    with pytest.raises(PromptStoreError, match="not a version of 'a'"):
        store.set_label("a", "production", other.id).result()
    store.set_label("a", "production", v1.id).result()
    with pytest.raises(PromptStoreError, match="no earlier version"):
        store.rollback_label("a", "production").result()


async def test_experiments_and_arm_choice(store: Store) -> None:
    control = store.create_version("completion.infill", "control").result()
    variant = store.create_version("completion.infill", "variant").result()
    assert await store.active_experiment("completion.infill") is None
    experiment = store.create_experiment(
        "shorter-prompt",
        "completion.infill",
        [("control", control.id, 3.0), ("variant", variant.id, 1.0)],
    ).result()
    assert [(a.name, a.version_id, a.weight) for a in experiment.arms] == [
        ("control", control.id, 3.0),
        ("variant", variant.id, 1.0),
    ]
    assert await store.active_experiment("completion.infill") == experiment
    picks = Counter(choose_arm(experiment, f"file:///doc{i}.py").name for i in range(4000))
    assert 0.70 < picks["control"] / 4000 < 0.80
    # Deterministic per unit: the same document always gets the same arm.
    assert {choose_arm(experiment, "file:///a.py") for _ in range(10)} == {
        choose_arm(experiment, "file:///a.py")
    }
    stopped = store.submit(
        lambda s: repo.set_experiment_status(s, "shorter-prompt", "stopped")
    ).result()
    assert stopped.status == "stopped"
    assert await store.active_experiment("completion.infill") is None
    # An execution can name the arm it ran under.
    from tests.store.conftest import make_record

    arm_id = experiment.arms[1].id
    execution_id = store.record_execution(make_record(experiment_arm_id=arm_id)).result()
    assert execution_id


def test_experiment_validation(store: Store) -> None:
    v1 = store.create_version("t", "one").result()
    foreign = store.create_version("u", "one").result()
    with pytest.raises(PromptStoreError, match="at least one arm"):
        store.create_experiment("e", "t", []).result()
    with pytest.raises(PromptStoreError, match="unique"):
        store.create_experiment("e", "t", [("a", v1.id, 1), ("a", v1.id, 1)]).result()
    with pytest.raises(PromptStoreError, match="weights"):
        store.create_experiment("e", "t", [("a", v1.id, 0)]).result()
    with pytest.raises(PromptStoreError, match="not a version of 't'"):
        store.create_experiment("e", "t", [("a", foreign.id, 1)]).result()
    store.create_experiment("e", "t", [("a", v1.id, 1)]).result()
    with pytest.raises(PromptStoreError, match="already exists"):
        store.create_experiment("e", "t", [("a", v1.id, 1)]).result()


def test_concurrent_identical_versions_from_two_stores(store_factory) -> None:  # type: ignore[no-untyped-def]
    first, second = store_factory(), store_factory()
    pendings = [
        s.create_version("race", f"body {i % 3}") for i in range(12) for s in (first, second)
    ]
    versions = {(v.id, v.version, v.body) for v in (p.result(timeout=30) for p in pendings)}
    assert sorted(v[1] for v in versions) == [1, 2, 3]


def test_every_prompt_write_bumps_the_change_counter(store) -> None:
    start = store.prompt_change_counter()
    v1 = store.create_version("t.counter", "a").result()
    after_version = store.prompt_change_counter()
    assert after_version > start
    store.create_version("t.counter", "a").result()  # same content: no new version
    assert store.prompt_change_counter() == after_version
    v2 = store.create_version("t.counter", "b").result()
    store.set_label("t.counter", "production", v1.id).result()
    moved = store.prompt_change_counter()
    store.set_label("t.counter", "production", v1.id).result()  # no move: no change
    assert store.prompt_change_counter() == moved
    store.create_experiment("exp.counter", "t.counter", [("a", v1.id, 1), ("b", v2.id, 1)]).result()
    assert store.prompt_change_counter() > moved
