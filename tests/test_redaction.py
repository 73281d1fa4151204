"""Credentials are removed from text before it is logged or stored."""

from __future__ import annotations

import base64
import json
import random

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


def _fake_key_lines(seed: int) -> list[str]:
    """The base64 body of a (fake) PEM private key, 64 characters a line."""
    rng = random.Random(seed)
    body = base64.b64encode(rng.randbytes(900)).decode()
    return [body[i : i + 64] for i in range(0, len(body), 64)]


@pytest.mark.parametrize("seed", range(20))
def test_private_key_lines_without_the_begin_line_are_redacted(seed: int) -> None:
    lines = _fake_key_lines(seed)
    rng = random.Random(seed)
    cut = rng.randrange(1, 60)
    windows = {
        "window starting inside the key": lines[0][cut:] + "\n" + "\n".join(lines[1:]),
        "selected key lines": "\n".join(lines[2:9]),
        "lines then the END line": "\n".join(lines) + "\n-----END PRIVATE KEY-----\nx = 1",
        "quoted in code": 'PEM = (\n    "' + '"\n    "'.join(lines) + '"\n)',
        "JSON-escaped in a log": json.dumps({"text": "a = 1\n" + "\n".join(lines) + "\nb = 2"}),
    }
    for where, text in windows.items():
        cleaned = redact(text)
        leaked = [line for line in lines if line[cut // 2 : cut // 2 + 12] in cleaned]
        assert not leaked, where


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('DB_PASS = "s3cret-value"', "s3cret-value"),
        ("MYSQL_PASS=hunter2hunter2", "hunter2hunter2"),
        (json.dumps({"text": 'password = "hunter22!"'}), "hunter22!"),
        (
            json.dumps(
                {"text": 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'}
            ),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (json.dumps(json.dumps({"db_password": "pa55-word-9"})), "pa55-word-9"),
    ],
)
def test_pass_names_and_json_escaped_quotes_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)


@pytest.mark.parametrize(
    "code",
    [
        'bypass = "always"',
        "compass = 'north-east'",
        "pass  # nothing to do",
        "digest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
        "    return self._render_template_with_context_and_examples(request)",
    ],
)
def test_words_and_lines_that_only_resemble_credentials_are_kept(code: str) -> None:
    assert redact(code) == code
