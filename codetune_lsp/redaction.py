"""Remove what looks like a credential from text before it is logged or stored."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"

# Each pattern replaces its match (or group "secret" when present) with REDACTED.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"(?i)\b(?:authorization\s*[:=]\s*)?bearer\s+(?P<secret>[A-Za-z0-9._~+/=\-]{16,})"),
    # NAME_KEY = "value", password: value, "api_token": "value" ...
    re.compile(
        r"""(?ix)
        \b[\w.\-]*(?:key|token|secret|passwd|password|pwd|credential)s?\b["']?
        \s*(?::=|=|:)\s*
        (?P<q>["']?)(?P<secret>(?!\[REDACTED\])[^\s"',;]{4,})(?P=q)
        """
    ),
    re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)[^\s/:@]+:(?P<secret>[^\s/@]+)@", re.I),
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
