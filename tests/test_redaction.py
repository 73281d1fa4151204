"""Credentials are removed from text before it is logged or stored."""

from __future__ import annotations

import pytest

from codetune_lsp.redaction import REDACTED, mask_url, redact

CANARIES = {
    "aws access key": ("key = AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    "github token": ("auth ghp_" + "x" * 36, "ghp_" + "x" * 36),
    "github fine-grained": ("github_pat_" + "A" * 60, "github_pat_" + "A" * 60),
    "openai key": ("OPENAI sk-proj-" + "abc123XYZ" * 4, "sk-proj-" + "abc123XYZ" * 4),
    "slack token": ("xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    "huggingface token": ("hf_" + "Q" * 34, "hf_" + "Q" * 34),
    "bearer header": ("Authorization: Bearer abcdefghijklmnop.qrstuv", "abcdefghijklmnop.qrstuv"),
    "password assignment": ('DB_PASSWORD = "correct-horse-battery"', "correct-horse-battery"),
    "api key assignment": ("STRIPE_API_KEY=rk_live_51HxYz", "rk_live_51HxYz"),
    "secret in json": ('{"client_secret": "s3cr3t-value-99"}', "s3cr3t-value-99"),
    "url credentials": ("postgresql://admin:pa55w0rd@db/x", "pa55w0rd"),
    "private key block": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----",
        "MIIEow",
    ),
}


@pytest.mark.parametrize("name", sorted(CANARIES))
def test_canary_is_redacted(name: str) -> None:
    text, secret = CANARIES[name]
    cleaned = redact(f"before {text} after")
    assert secret not in cleaned
    assert REDACTED in cleaned
    assert cleaned.startswith("before ") and cleaned.endswith(" after")


def test_ordinary_code_is_left_alone() -> None:
    code = "def tokenize(text):\n    keys = sorted(d)\n    return [t for t in text.split()]\n"
    assert redact(code) == code


def test_key_names_stay_readable() -> None:
    assert redact("API_TOKEN=abcdef123456") == f"API_TOKEN={REDACTED}"


def test_mask_url_hides_only_the_password() -> None:
    assert (
        mask_url("postgresql+psycopg://u:p@h:5432/db")
        == f"postgresql+psycopg://u:{REDACTED}@h:5432/db"
    )
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    "code",
    [
        "token = get_token()",
        "tokenizer = 'bert-base-uncased'",
        "password = user.password",
        "secret = os.environ['SECRET_NAME']",
        "max_tokens = 4096",
        "api_key_env = MY_KEY_VAR",
    ],
)
def test_code_that_only_mentions_credentials_is_kept(code: str) -> None:
    assert redact(code) == code


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password: hunter22", "hunter22"),
        ("self.api_key = 'abcd-1234'", "abcd-1234"),
        ("PASSWORD=correcthorse", "correcthorse"),
    ],
)
def test_literal_credentials_in_code_and_config_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)
