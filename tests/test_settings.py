"""Settings: defaults, precedence, privileged keys, and one clear problem per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from codetune_lsp.paths import resolve_paths
from codetune_lsp.settings import (
    Layer,
    Settings,
    SettingsSources,
    cli_values,
    editor_values,
    env_values,
    resolve,
)


def test_every_key_has_a_default() -> None:
    settings = resolve([]).settings
    assert settings == Settings()
    assert settings.features.completion.debounce_ms == 150
    assert settings.store.url == ""
    assert {"codet5p-220m-py", "whiterabbitneo-7b"} <= set(settings.models)


def test_later_layers_win_and_origins_are_tracked() -> None:
    resolved = resolve(
        [
            Layer("file", {"features": {"completion": {"debounce_ms": 100}}}, privileged=True),
            Layer("editor", {"features": {"completion": {"debounce_ms": 50}}}, privileged=False),
        ]
    )
    assert resolved.settings.features.completion.debounce_ms == 50
    assert resolved.origins["features.completion.debounce_ms"] == "editor"
    assert resolved.problems == []


def test_editor_cannot_set_privileged_keys() -> None:
    resolved = resolve(
        [
            Layer(
                "editor settings",
                {
                    "store": {"url": "postgresql+psycopg://attacker/db", "record_text": False},
                    "models": {"evil": {"backend": "openai", "url": "http://evil.example/v1"}},
                    "workspace": {"trusted": ["/"]},
                },
                privileged=False,
            )
        ]
    )
    settings = resolved.settings
    assert settings.store.url == ""
    assert settings.store.record_text is False  # the non-privileged key still applies
    assert "evil" not in settings.models
    assert settings.workspace.trusted == []
    assert len(resolved.problems) == 1  # one warning listing every dropped key
    problem = resolved.problems[0]
    assert "store.url" in problem.key and "models" in problem.key
    assert "privileged" in problem.message


def test_user_file_may_set_privileged_keys_and_add_profiles() -> None:
    resolved = resolve(
        [
            Layer(
                "config file",
                {
                    "store": {"url": "sqlite:////tmp/x.db"},
                    "models": {"mine": {"family": "codet5p", "id": "/models/codet5p"}},
                },
                privileged=True,
            )
        ]
    )
    assert resolved.settings.store.url == "sqlite:////tmp/x.db"
    assert resolved.settings.models["mine"].family == "codet5p"
    assert "whiterabbitneo-7b" in resolved.settings.models  # built-ins stay


@pytest.mark.parametrize(
    ("raw", "key", "expected_phrase"),
    [
        ({"features": {"completion": {"debounce_ms": "fast"}}}, "debounce_ms", "whole number"),
        ({"features": {"completion": {"debounce_ms": -5}}}, "debounce_ms", "whole number"),
        ({"features": {"completion": {"enabled": 1}}}, "enabled", "true or false"),
        ({"models": {"m": {"quantization": "nf3"}}}, "quantization", "'nf4'"),
        ({"features": {"diagnostics": {"run_on": ["save", "typing"]}}}, "run_on", "'save'"),
        ({"server": {"log_levle": "debug"}}, "log_levle", "unknown key"),
    ],
)
def test_a_bad_value_names_the_key_and_keeps_the_default(
    raw: dict, key: str, expected_phrase: str
) -> None:
    resolved = resolve([Layer("config file", raw, privileged=True)])
    assert len(resolved.problems) == 1
    problem = resolved.problems[0]
    assert problem.key.endswith(key)
    assert expected_phrase in problem.message
    assert problem.source == "config file"
    if "models" in raw:  # the profile exists, with the bad key at its default
        assert resolved.settings.models["m"].quantization == "none"
    else:
        assert resolved.settings == Settings()


def test_bad_value_does_not_claim_its_source() -> None:
    resolved = resolve(
        [Layer("env", {"features": {"completion": {"debounce_ms": "x"}}}, privileged=True)]
    )
    assert "features.completion.debounce_ms" not in resolved.origins


def test_env_and_cli_values_parse_toml_scalars() -> None:
    env = env_values(
        {
            "CODETUNE__FEATURES__COMPLETION__DEBOUNCE_MS": "75",
            "CODETUNE__STORE__URL": "sqlite:////tmp/a.db",
            "CODETUNE_HOME": "/ignored",
        }
    )
    assert env == {
        "features": {"completion": {"debounce_ms": 75}},
        "store": {"url": "sqlite:////tmp/a.db"},
    }
    values, problems = cli_values(["features.diagnostics.run_on=['save']", "oops"])
    assert values == {"features": {"diagnostics": {"run_on": ["save"]}}}
    assert len(problems) == 1 and "KEY=VALUE" in problems[0].message


def test_editor_values_accept_a_codetune_section_or_bare_settings() -> None:
    inner = {"features": {"completion": {"enabled": False}}}
    assert editor_values({"codetune": inner}) == inner
    assert editor_values(inner) == inner
    assert editor_values(None) == {}
    assert editor_values(["not", "a", "table"]) == {}


def test_broken_config_file_is_reported_and_ignored(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    config.write_text("[store\nurl = 'x'\n")
    resolved = SettingsSources.load(resolve_paths()).resolve()
    assert resolved.settings == Settings()
    assert len(resolved.problems) == 1
    assert "not valid TOML" in resolved.problems[0].message


def test_sources_precedence_file_env_cli_editor(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / "config.toml").write_text(
        "[features.completion]\ndebounce_ms = 10\nmax_new_tokens = 10\ntimeout_ms = 10\n"
        "label = 'file'\n"
    )
    monkeypatch.setenv("CODETUNE__FEATURES__COMPLETION__MAX_NEW_TOKENS", "20")
    monkeypatch.setenv("CODETUNE__FEATURES__COMPLETION__TIMEOUT_MS", "20")
    sources = SettingsSources.load(
        resolve_paths(), ["features.completion.timeout_ms=30", "features.completion.label=cli"]
    )
    resolved = sources.resolve(
        {
            "initializationOptions": {
                "features": {"completion": {"label": "init", "enabled": False}}
            },
            "workspace configuration": {"features": {"completion": {"label": "workspace"}}},
        }
    )
    completion = resolved.settings.features.completion
    assert (completion.debounce_ms, completion.max_new_tokens) == (10, 20)
    assert (completion.timeout_ms, completion.label) == (30, "workspace")
    assert completion.enabled is False  # both editor layers apply; the later one wins
    assert resolved.origins["features.completion.label"] == "workspace configuration"


USER_STORE = Layer("user config", {"store": {"url": "sqlite:////data/team.db"}}, privileged=True)


@pytest.mark.parametrize("wrong", [0, "x", [], True, None])
def test_a_wrong_type_for_a_privileged_section_is_dropped(wrong: object) -> None:
    resolved = resolve([USER_STORE, Layer("initializationOptions", {"store": wrong}, False)])
    assert resolved.settings.store.url == "sqlite:////data/team.db"
    assert any(p.key == "store" and "privileged" in p.message for p in resolved.problems)


def test_the_editor_may_set_ordinary_store_keys() -> None:
    editor = Layer("initializationOptions", {"store": {"cache_enabled": False}}, False)
    resolved = resolve([USER_STORE, editor])
    assert resolved.settings.store.cache_enabled is False
    assert resolved.settings.store.url == "sqlite:////data/team.db"


@pytest.mark.parametrize("loosen", [True, "yes", 1, 0])
def test_a_privacy_setting_cannot_be_loosened_from_the_editor(loosen: object) -> None:
    user = Layer("user config", {"store": {"record_text": False}}, privileged=True)
    editor = Layer("initializationOptions", {"store": {"record_text": loosen}}, False)
    resolved = resolve([user, editor])
    assert resolved.settings.store.record_text is False
    (problem,) = resolved.problems
    assert problem.key == "store.record_text" and "only be tightened" in problem.message


def test_a_privacy_setting_can_be_tightened_from_the_editor() -> None:
    editor = Layer("workspace configuration", {"store": {"record_text": False}}, False)
    resolved = resolve([editor])
    assert resolved.settings.store.record_text is False
    assert resolved.problems == []
    again = resolve(
        [editor, Layer("initializationOptions", {"store": {"record_text": True}}, False)]
    )
    assert again.settings.store.record_text is False  # tightened by one editor layer stays so
