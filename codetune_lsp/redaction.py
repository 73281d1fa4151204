"""Remove what looks like a credential from text before it is logged or stored."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"

# Names whose value is a secret whatever it looks like.
_STRONG_NAME = (
    r"[\w.\-]*(?:passwd|password|passphrase|pwd|secret|credential"
    r"|(?:api|access|private|secret|account|master|signing|encryption|client)[_\-]?key"
    r"|(?:auth|access|refresh|api|bearer|session|id|client)[_\-]?token)s?"
)
# Names that are often plain code (``key = item.key``): the value must also look random.
_WEAK_NAME = r"[\w.\-]*(?:key|token)"
# ``name: Type =`` annotations, then the assignment or mapping separator.
_SEPARATOR = (
    r"""["']?(?:\s*:\s*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?(?:\s*\|\s*None)?)?"""
    r"\s*(?::=|==|=|:)\s*"
)
# An unquoted value that is code, not a secret: a literal, a call, an attribute, an index.
_NOT_CODE = (
    r"(?!\[REDACTED\])(?!(?:None|True|False|null|nil|undefined|lambda|self|this)\b)"
    r"(?![A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\s*[(\[.])"
)
_RANDOM_LOOKING = r"(?=[^\s\"']*\d)(?=[^\s\"']*[A-Za-z])"

# Each pattern replaces its match (or group "secret" when present) with REDACTED.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.DOTALL,
    ),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bpypi-[A-Za-z0-9_\-]{50,}"),
    re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"),
    re.compile(r"\bdop_v1_[a-f0-9]{64}\b"),
    # JSON Web Tokens: header.payload.signature, both first parts base64url JSON.
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\b(?:authorization\s*[:=]\s*)?bearer\s+(?P<secret>[A-Za-z0-9._~+/=\-]{16,})"),
    re.compile(r"(?i)\bbasic\s+(?P<secret>[A-Za-z0-9+/]{12,}={0,2})"),
    # password = "correct horse battery staple", "api_key": "abcd", PASSWORD='x y'
    re.compile(
        rf"""(?i)\b{_STRONG_NAME}\b{_SEPARATOR}"""
        r"""(?P<q>["'])(?P<secret>(?!\[REDACTED\])(?:(?!(?P=q))[^\n]){4,})(?P=q)"""
    ),
    # PASSWORD=hunter22, password: hunter22 (unquoted: up to the next space or quote)
    re.compile(rf"""(?i)\b{_STRONG_NAME}\b{_SEPARATOR}(?P<secret>{_NOT_CODE}[^\s"']{{4,}})"""),
    # key = "a8f5f167f44f4964e6c998dee827110c" (only when the value looks random)
    re.compile(
        rf"""(?i)\b{_WEAK_NAME}\b{_SEPARATOR}(?P<q>["']?)"""
        rf"""(?P<secret>{_NOT_CODE}{_RANDOM_LOOKING}[^\s"']{{8,}})(?P=q)"""
    ),
    re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)[^\s/:@]*:(?P<secret>[^\s/@]+)@", re.I),
)


def redact(text: str) -> str:
    """Return ``text`` with every credential-looking span replaced by ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(_replacement, text)
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
