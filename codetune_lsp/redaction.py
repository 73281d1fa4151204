"""Remove what looks like a credential from text before it is logged or stored."""

from __future__ import annotations

import re
from collections import OrderedDict
from threading import Lock
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"

# ``name: Type =`` annotations, then the assignment or mapping separator.
_SEPARATOR = (
    r"""\\?["']?(?:[ \t]*:[ \t]*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?(?:[ \t]*\|[ \t]*None)?)?"""
    r"[ \t]*(?::=|==|=|:)[ \t]*"
)
# An unquoted value that is code, not a secret: a literal, a call, an attribute, an index.
_NOT_CODE = (
    r"(?!\[REDACTED\])(?!(?:None|True|False|null|nil|undefined|lambda|self|this)\b)"
    r"(?![A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*[ \t]*[(\[.])"
)
# NAME = value, where NAME ends in a word that names a secret. ``password``-like words always
# name one; ``key`` and ``token`` only after a telling prefix (``api_key``, ``auth_token``),
# otherwise they are too often plain code (``key = item.key``) and the value must also look
# random (letters and digits, 8+ characters, no spaces).
_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>pass(?:wd|word|phrase)|(?<![a-z])pass|pwd|secret|credential|key|token)s?\b"
    + _SEPARATOR
    + r"""(?:(?P<q>\\?["'])(?P<quoted>(?!\[REDACTED\])(?:(?!(?P=q))[^\n]){4,})(?P=q)"""
    + rf"""|(?P<bare>{_NOT_CODE}[^\s"']{{4,}}))"""
)
_STRONG_PREFIX = re.compile(
    r"(?i)(?:api|access|private|secret|account|master|signing|encryption|client|auth|refresh"
    r"|bearer|session|id)[_\-]?\Z"
)
_RANDOM_VALUE = re.compile(r"""(?=[^\s"']*\d)(?=[^\s"']*[A-Za-z])[^\s"']{8,}""")


def _assignment(match: re.Match[str]) -> str:
    group = "quoted" if match.group("quoted") is not None else "bare"
    value = match.group(group)
    if match.group("name").lower() in ("key", "token"):
        before = match.string[max(0, match.start() - 12) : match.start()]
        if not _STRONG_PREFIX.search(before) and not _RANDOM_VALUE.fullmatch(value):
            return match.group(0)
    start, end = match.span(group)
    offset = match.start()
    return match.group(0)[: start - offset] + REDACTED + match.group(0)[end - offset :]


# Base64 lines of a private key's body, found without the BEGIN line (a context window or a
# selection that starts inside the key). A full line is 40+ base64 characters mixing digits
# and both cases, alone on its line (indented or quoted at most); lines break on a newline
# or on a JSON-escaped ``\n``. A cut-off first line (at the start of the text) and a short
# last line next to full ones go too.
_B64 = r"[A-Za-z0-9+/]"
_KEY_LINE = (
    rf"[ \t]*[\"']?(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z]){_B64}{{40,}}"
    r"={0,2}"
)
_LINE_BREAK = r"""["']?,?[ \t]*(?:\r?\n|(?:\\r)?\\n)"""
_KEY_BODY = re.compile(
    rf"(?:\A{_B64}{{1,39}}={{0,2}}{_LINE_BREAK})?"
    rf"(?:^|(?<=\\n)){_KEY_LINE}(?:{_LINE_BREAK}{_KEY_LINE})*"
    rf"(?:{_LINE_BREAK}[ \t]*[\"']?{_B64}{{1,39}}={{0,2}}(?=[\"'\\]|[ \t]*$))?",
    re.MULTILINE,
)
_KEY_BODY_MIN = 40
# A lone 40-character base64 word mixing digits and both cases: the shape of an AWS secret
# access key, which a model's prose may quote without any name next to it.
_B64_WORD_40 = re.compile(
    r"(?<![A-Za-z0-9+/=])(?=[A-Za-z0-9+/]{0,39}\d)(?=[A-Za-z0-9+/]{0,39}[a-z])"
    r"(?=[A-Za-z0-9+/]{0,39}[A-Z])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])"
)

# Each rule: a pattern that replaces its match (or its group "secret") with REDACTED, and the
# lower-case strings one of which must occur for it to match at all (a cheap pre-check that
# keeps redaction of a long prompt fast).
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        ("private key",),
    ),
    (
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
    ),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"), ("github_pat_",)),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), ("glpat-",)),
    (re.compile(r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}"), ("sk-",)),
    (
        re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
    ),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"), ("xox",)),
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"), ("hooks.slack.com",)),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), ("hf_",)),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), ("aiza",)),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), ("npm_",)),
    (re.compile(r"\bpypi-[A-Za-z0-9_\-]{50,}"), ("pypi-",)),
    (re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"), ("sg.",)),
    (re.compile(r"\bdop_v1_[a-f0-9]{64}\b"), ("dop_v1_",)),
    # JSON Web Tokens: header.payload.signature, both first parts base64url JSON.
    (
        re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        ("eyj",),
    ),
    (
        re.compile(
            r"(?i)\b(?:authorization\s*[:=]\s*)?bearer\s+(?P<secret>[A-Za-z0-9._~+/=\-]{16,})"
        ),
        ("bearer",),
    ),
    (re.compile(r"(?i)\bbasic\s+(?P<secret>[A-Za-z0-9+/]{12,}={0,2})"), ("basic",)),
    # password = "correct horse battery staple", "api_key": "abcd", PASSWORD=hunter22
    (_ASSIGNMENT, ("pass", "pwd", "secret", "credential", "key", "token")),
    # scheme://user:password@host (the user may be empty: redis://:password@host)
    (re.compile(r"://[^\s/:@]*:(?P<secret>[^\s/@]+)@"), ("://",)),
)


# Both base64 rules above need a run of 40 base64 characters: one linear scan for such a run
# lets ordinary code skip them (they try lookaheads at every position, ~10x slower).
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{40}")
# One request redacts the same prompt several times (the cache's secret check on lookup and
# on store, the history row): long texts remember their last results.
_MEMO_MIN_CHARS = 512
_MEMO_SIZE = 16
_memo: OrderedDict[str, str] = OrderedDict()
_memo_lock = Lock()


def redact(text: str) -> str:
    """Return ``text`` with every credential-looking span replaced by ``[REDACTED]``."""
    if len(text) < _MEMO_MIN_CHARS:
        return _redact(text)
    with _memo_lock:
        done = _memo.get(text)
        if done is not None:
            _memo.move_to_end(text)
            return done
    done = _redact(text)
    with _memo_lock:
        _memo[text] = done
        if len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return done


def _redact(text: str) -> str:
    lowered = text.lower()
    for pattern, needles in _RULES:
        if not any(needle in lowered for needle in needles):
            continue
        replaced = pattern.sub(_assignment if pattern is _ASSIGNMENT else _replacement, text)
        if replaced != text:
            text = replaced
            lowered = text.lower()
    # After the rules, so a whole BEGIN…END block goes first.
    if len(text) >= _KEY_BODY_MIN and _B64_RUN.search(text):
        text = _B64_WORD_40.sub(REDACTED, _KEY_BODY.sub(REDACTED, text))
    return text


def _replacement(match: re.Match[str]) -> str:
    if "secret" not in match.re.groupindex or match.group("secret") is None:
        return REDACTED
    start, end = match.span("secret")
    whole_start = match.start()
    return match.group(0)[: start - whole_start] + REDACTED + match.group(0)[end - whole_start :]


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host/...``; keep the rest readable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:{REDACTED}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
