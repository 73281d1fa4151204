"""Put a model's finding on the right line.

Small models name the right weakness but miscount lines. A template may ask each finding to
quote its line (``code``); such a finding, which also names a CWE, is moved to the nearest
line that holds a call the CWE is about (a sink), else to the line that best matches the
quote, within the analysed range.
The model still decides whether there is a finding and what it is: this only places it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

# Calls and constructs each weakness class is about (mostly Python, some generic).
SINKS: dict[str, re.Pattern[str]] = {
    "78": re.compile(r"\b(os\.system|os\.popen|subprocess\.|Popen\(|shell\s*=\s*True)"),
    "89": re.compile(
        r"(?i)\b(execute|executemany|executescript|raw)\s*\(|\b(select|insert|update|delete)\s"
    ),
    "22": re.compile(r"\b(open|send_file|send_from_directory|os\.path\.join|Path)\s*\("),
    "94": re.compile(r"\b(eval|exec|compile)\s*\("),
    "502": re.compile(
        r"\b(pickle|cPickle|marshal|shelve|jsonpickle|dill)\.|\byaml\.(load|unsafe_load)\b"
    ),
    "798": re.compile(r"(?i)(password|passwd|secret|token|api_?key)\w*\s*[:=]\s*['\"]"),
    "327": re.compile(r"(?i)\b(md5|sha1|des|rc4|ecb|arc4|blowfish)\b"),
    "328": re.compile(r"(?i)\b(md5|sha1)\b"),
    "330": re.compile(r"\brandom\.(random|randint|choice|choices|randrange|getrandbits|sample)\b"),
    "611": re.compile(r"\b(etree|lxml|minidom|sax|XMLParser|parseString|fromstring)\b"),
    "918": re.compile(r"\b(requests\.|urlopen|urllib\.request|httpx\.|http\.client)"),
}
# How far (in lines) a sink may be from where the model put the finding.
SINK_REACH = 12
QUOTE_MATCH = 0.6
_CWE = re.compile(r"(?i)cwe[-_ ]?(\d+)")


def cwe_number(rule: str) -> str:
    match = _CWE.search(rule)
    return match.group(1) if match else ""


def anchor_line(
    reported: object, quote: str, rule: str, lines: Sequence[str], first: int, last: int
) -> int | None:
    """The 1-based line in [first, last] the finding belongs on, or None if none fits."""
    valid = isinstance(reported, int) and first <= reported <= last
    around = reported if valid else None
    sink = SINKS.get(cwe_number(rule))
    quoted = _quoted_line(quote, lines, first, last)
    if around is None:
        around = quoted
    if sink is not None and around is not None:
        near = [
            n
            for n in range(max(first, around - SINK_REACH), min(last, around + SINK_REACH) + 1)
            if sink.search(lines[n - 1])
        ]
        if near:
            return min(near, key=lambda n: (abs(n - around), n < around))
    if quoted is not None:
        return quoted
    return reported if valid else None  # type: ignore[return-value]


def _quoted_line(quote: str, lines: Sequence[str], first: int, last: int) -> int | None:
    text = " ".join(quote.split())
    if not text:
        return None
    best, score = None, QUOTE_MATCH
    for n in range(first, last + 1):
        candidate = " ".join(lines[n - 1].split())
        if not candidate:
            continue
        ratio = difflib.SequenceMatcher(None, text, candidate).ratio()
        if ratio > score:
            best, score = n, ratio
    return best
