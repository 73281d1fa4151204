"""Secrets never reach the store: the redaction canaries, alone and written through the store
(then looked for in the raw bytes of the SQLite file and its WAL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, String, Text, select

from codetune_lsp.paths import Paths
from codetune_lsp.redaction import REDACTED, redact
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import CachedResponse, CacheRequest, Store, open_store
from tests.store.conftest import make_record

# (text with a secret, the secret that must disappear). All values are fake.
CANARIES: list[tuple[str, str]] = [
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("key id ASIAY34FZKBOKMUTVV7A in a sentence", "ASIAY34FZKBOKMUTVV7A"),
    (
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "token ghp_16C7e42F292c6912E7710c838347Ae178B4a ok",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
    ),
    ("glpat-xR4nd0mT0k3nV4lu3Zz9 in ci", "glpat-xR4nd0mT0k3nV4lu3Zz9"),
    ("OPENAI_API_KEY=sk-proj-abcDEF1234567890ghijKLMNopq", "sk-proj-abcDEF1234567890ghijKLMNopq"),
    (
        "client = OpenAI(api_key='sk-abcdefghijklmnopqrstuvwxyz012345')",
        "sk-abcdefghijklmnopqrstuvwxyz012345",
    ),
    (
        "anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz",
    ),
    ("stripe.api_key = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
    ),
    (
        "url https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    ("HF_TOKEN hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"),
    ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu end", "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
    (
        "//registry.npmjs.org/:_authToken=npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    ),
    (
        "password = pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz",
        "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz",
    ),
    (
        "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",
        "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    ),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("Authorization: Bearer abcdef0123456789abcdef0123", "abcdef0123456789abcdef0123"),
    ("Authorization: Basic dXNlcjpodW50ZXIyMjIy", "dXNlcjpodW50ZXIyMjIy"),
    ("PASSWORD=hunter2hunter2", "hunter2hunter2"),
    ("export DB_PASSWORD='s3cr3t-Pa55'", "s3cr3t-Pa55"),
    ('password = "correct horse battery staple"', "correct horse battery staple"),
    ('{"api_key": "abcd1234efgh5678"}', "abcd1234efgh5678"),
    ("client_secret: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
    ('secret_token: str = "tok-7f3a9b2c"', "tok-7f3a9b2c"),
    ("if password == 'letmein99':", "letmein99"),
    ("DefaultEndpointsProtocol=https;AccountKey=Zm9vYmFyYmF6cXV4MTIz==;", "Zm9vYmFyYmF6cXV4MTIz=="),
    ("cache_key = 'a8f5f167f44f4964e6c998dee827110c'", "a8f5f167f44f4964e6c998dee827110c"),
    ("postgresql://app:Sup3rS3cret@db.internal:5432/prod", "Sup3rS3cret"),
    ("redis://:r3d1sP4ss@cache:6379/0", "r3d1sP4ss"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98ZxYw\nQ2VhbGx5IGZha2U=\n"
        "-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7bq98ZxYw",
    ),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n(truncated, no end line)",
        "b3BlbnNzaC1rZXktdjEAAAAA",
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0fakefakefake\n"
        "-----END PGP PRIVATE KEY BLOCK-----",
        "lQOYBF0fakefakefake",
    ),
]

CANARIES += [
    ('DB_PASS = "db-Pa55-canary"', "db-Pa55-canary"),
    # Key lines without their BEGIN line, as a context window or a selection holds them.
    (
        "kVWm6pMiHDXXAa0RCTAaMB8GA1UdIwQYMBaAFHU2nE0eLzPB3vyqMgtIJ4eyA0XR\n"
        "MA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAGfhEJbV7gCanary\n",
        "MA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAGfhEJbV7gCanary",
    ),
]

# Ordinary code must come through unchanged (else prompts are mangled and never cached).
PLAIN_CODE = [
    "for key, value in mapping.items():",
    "key = item.key",
    "key = cache_key(request)",
    "token = tokenizer(text)",
    "tokens: list[str] = []",
    "max_tokens=1024",
    "max_new_tokens: int = 64",
    "primary_key=True",
    "sort_key=lambda r: r.id",
    'key = "user_id"',
    "password_field = forms.CharField()",
    "def check_password(self, raw_password):",
    "secret = os.environ['APP_SECRET']",
    "token = self.next_token()",
    "api_key = settings.api_key",
    "https://example.com/path?q=1",
    "x = {'a': 1, 'b': 2}",
]


@pytest.mark.parametrize(("text", "secret"), CANARIES, ids=[c[1][:12] for c in CANARIES])
def test_canary_is_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned
    assert redact(cleaned) == cleaned  # idempotent


@pytest.mark.parametrize("text", PLAIN_CODE)
def test_plain_code_is_left_alone(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    index=st.integers(0, len(CANARIES) - 1),
)
def test_canaries_are_redacted_in_any_surroundings(before: str, after: str, index: int) -> None:
    text, secret = CANARIES[index]
    assert secret not in redact(f"{before}\n{text}\n{after}")


MARKER = "VISIBLE-MARKER-7731"


def _write_canaries(store: Store) -> None:
    everything = "\n".join(text for text, _ in CANARIES)
    for text, _secret in CANARIES:
        pending = store.record_execution(
            make_record(
                rendered_prompt=f"{MARKER} prompt\n{text}",
                output=f"{MARKER} output {text}",
                served_output=f"{MARKER} served {text}",
                success=False,
                error_class="BackendError",
                error_message=f"backend said: {text}",
                document_uri="https://user:Sup3rS3cret@git.example.com/repo/app.py",
            )
        )
        store.add_feedback(pending.id or "", "rating", rating=2, comment=f"see {text}")
        store.cache_put(
            CacheRequest(backend="local", model_id="m", prompt=f"cache {text}"),
            CachedResponse(f"answer {text}"),
        )
    store.cache_put(
        CacheRequest(backend="local", model_id="m", prompt=f"{MARKER} clean prompt"),
        CachedResponse(f"{MARKER} {everything}"),
    )
    store.flush().result(timeout=30)


def _text_dump(store: Store) -> str:
    """Every string value in every table."""
    metadata = MetaData()
    metadata.reflect(store.db_engine)
    chunks: list[str] = []
    with store.db_engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in conn.execute(select(*columns)) if columns else []:
                chunks.extend(str(v) for v in row if v is not None)
    return "\n".join(chunks)


def test_canaries_written_through_the_store_are_not_in_the_database(store: Store) -> None:
    _write_canaries(store)
    dump = _text_dump(store)
    assert MARKER in dump  # the rows are there...
    for _text, secret in CANARIES:
        assert secret not in dump  # ...without their secrets
    assert "Sup3rS3cret" not in dump


def test_canaries_are_not_in_the_sqlite_file_or_its_wal(tmp_path: Path, paths: Paths) -> None:
    db = tmp_path / "canary.db"
    store = open_store(StoreSettings(url=f"sqlite:///{db}"), paths)
    # Keep the WAL from being checkpointed away so its bytes can be read too.
    with store.db_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
    _write_canaries(store)
    wal = db.with_name(db.name + "-wal")
    files: dict[str, bytes] = {"db": db.read_bytes(), "wal": wal.read_bytes()}
    assert MARKER.encode() in files["wal"]  # the data really is in the bytes we grep
    store.close()
    files["db after checkpoint"] = db.read_bytes()
    assert MARKER.encode() in files["db after checkpoint"]
    for name, data in files.items():
        for _text, secret in CANARIES:
            assert secret.encode() not in data, f"{secret[:12]}... found in the {name}"


def test_record_text_false_writes_no_prompt_or_output_bytes(tmp_path: Path, paths: Paths) -> None:
    db = tmp_path / "notext.db"
    store = open_store(StoreSettings(url=f"sqlite:///{db}", record_text=False), paths)
    with store.db_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
    ids = [
        store.record_execution(
            make_record(rendered_prompt=f"PROMPT-TEXT-{i}", output=f"OUTPUT-TEXT-{i}")
        ).id
        for i in range(20)
    ]
    store.flush().result(timeout=10)
    data = db.read_bytes() + db.with_name(db.name + "-wal").read_bytes()
    assert str(ids[0]).encode() in data  # the executions are there
    assert b"PROMPT-TEXT-" not in data
    assert b"OUTPUT-TEXT-" not in data
    store.close()


def test_every_text_column_is_covered(store: Store) -> None:
    """A new text column must be considered here: either redacted or harmless metadata."""
    reviewed: dict[str, set[str]] = {
        "executions": {
            "id",
            "feature",
            "document_uri",
            "language_id",
            "template_name",
            "requested_label",
            "backend",
            "model_profile",
            "model_id",
            "model_revision",
            "params_hash",
            "params_json",
            "rendered_prompt_hash",
            "output",
            "served_output",
            "context_json",  # snippet paths and token counts, redacted like document URIs
            "finish_reason",
            "error_class",
            "error_message",
        },
        "feedback": {"execution_id", "kind", "comment"},
        "prompt_texts": {"hash", "text"},
        "cache_entries": {"key", "backend", "model_id", "output", "finish_reason"},
        "prompt_templates": {"name", "description"},
        "prompt_versions": {"content_hash", "body", "config_json", "note"},
        "prompt_labels": {"name"},
        "label_events": {"label", "actor", "reason"},
        "experiments": {"name", "status"},
        "experiment_arms": {"name"},
        "prompt_changes": set(),  # a counter only
        # Evaluation runs: names and hashes; item outputs and reasons are redacted on write.
        "eval_runs": {
            "id",
            "suite",
            "suite_hash",
            "mode",
            "template_name",
            "model_profile",
            "model_id",
            "model_revision",
            "quantization",
            "params",
            "status",
            "summary",
        },
        "eval_items": {"run_id", "item_id", "verdict", "raw_output", "served_output", "reason"},
        "alembic_version": {"version_num"},
    }
    metadata = MetaData()
    metadata.reflect(store.db_engine)
    found: dict[str, Any] = {
        t.name: {c.name for c in t.columns if isinstance(c.type, String | Text)}
        for t in metadata.sorted_tables
    }
    assert found == reviewed
