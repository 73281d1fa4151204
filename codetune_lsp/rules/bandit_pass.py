"""bandit's checks, in process, on one document's text.

bandit reads files, so the text goes to a private temporary file for the run (a few
milliseconds; the import costs about 0.1 s once). Its results are kept when they report a
weakness and dropped when they are audit notes (an import of ``pickle`` or ``subprocess``, a
subprocess call without a shell, ``assert``, a ``/tmp`` path, a request without a timeout):
a live editor should not show those as security findings. Each kept result names the CWE
class the diagnostics use; where bandit files a weakness under a neighbouring CWE, the table
below says which.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from codetune_lsp.rules import RuleHit, RulesUnavailable

# bandit test id -> the CWE the finding is reported under (bandit's own id otherwise).
CWE_OF_TEST = {
    "B102": "CWE-94",  # exec_used
    "B105": "CWE-798",  # hardcoded_password_string (bandit: CWE-259, a child of CWE-798)
    "B106": "CWE-798",  # hardcoded_password_funcarg
    "B107": "CWE-798",  # hardcoded_password_default
    "B307": "CWE-94",  # eval (bandit: CWE-78)
    "B506": "CWE-502",  # yaml_load (bandit: CWE-20)
    "B614": "CWE-502",  # pytorch_load
}

# Audit notes, not weaknesses. The xml parser notes (B313-B320, B405-B411) are here too:
# since Python 3.7.1 the standard parsers do not resolve external entities unless asked,
# and the flow rules report the code that asks (python_flow, CWE-611).
AUDIT_NOTES = frozenset(
    {
        "B101",  # assert_used
        "B104",  # hardcoded_bind_all_interfaces
        "B108",  # hardcoded_tmp_directory
        "B110",  # try_except_pass
        "B112",  # try_except_continue
        "B113",  # request_without_timeout
        "B310",  # urllib_urlopen (URL schemes); server-side request forgery is a flow rule
        *{f"B{n}" for n in range(313, 321)},
        *{f"B{n}" for n in range(401, 416)},  # imports of risky modules
        "B603",  # subprocess_without_shell_equals_true
        "B606",  # start_process_with_no_shell
        "B607",  # start_process_with_partial_path
    }
)

# Injection checks whose interpolated values the flow rules may show to be validated.
INJECTION_TESTS = frozenset({"B602", "B604", "B605", "B608", "B609"})

# What to do instead, per CWE: bandit says what it found, not how to fix it.
REMEDY = {
    "CWE-78": "Run the program with an argument list and no shell.",
    "CWE-89": "Pass the values as query parameters, not in the SQL text.",
    "CWE-94": "Do not run text as code: use ast.literal_eval or a table of allowed actions.",
    "CWE-327": "Use a current algorithm: SHA-256 or better, AES-GCM.",
    "CWE-330": "Use the secrets module for security values.",
    "CWE-502": "Load data formats (json, yaml.safe_load), not objects.",
    "CWE-798": "Read the secret from the environment or a secret store.",
}
_SEVERITY = {"HIGH": "error", "MEDIUM": "warning", "LOW": "warning"}
_lock = threading.Lock()  # bandit's extension manager is a process-wide singleton


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's logger for a block (stevedore logs an ERROR for each optional
    bandit report format whose package is missing; the checks do not need them)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def bandit_results(text: str) -> list[Any]:
    """bandit's issues (its ``Issue`` objects) for ``text``, every severity and confidence."""
    try:
        with warnings.catch_warnings(), _quiet("stevedore"):
            warnings.simplefilter("ignore", DeprecationWarning)  # stevedore's, not ours
            from bandit.core import config as bandit_config
            from bandit.core import manager as bandit_manager
    except ImportError as exc:
        raise RulesUnavailable(
            "the python-security rules need bandit: pip install 'bandit>=1.8'"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="codetune-rules-") as folder:
        path = os.path.join(folder, "document.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        with _lock, warnings.catch_warnings(), _quiet("stevedore"):
            warnings.simplefilter("ignore", DeprecationWarning)  # stevedore's, not ours
            manager = bandit_manager.BanditManager(bandit_config.BanditConfig(), "file", quiet=True)
            manager.discover_files([path])
            manager.run_tests()
        return list(manager.get_issue_list())


def to_hit(issue: Any) -> RuleHit | None:
    """A bandit issue as a hit, or None for an audit note."""
    test = str(issue.test_id)
    if test in AUDIT_NOTES:
        return None
    own = getattr(getattr(issue, "cwe", None), "id", 0)
    rule = CWE_OF_TEST.get(test, f"CWE-{own}" if own else "")
    if not rule:
        return None
    line = int(issue.lineno)
    lines = [int(n) for n in (issue.linerange or [line])]
    return RuleHit(
        line=line,
        end_line=max([line, *lines]),
        rule=rule,
        severity=_SEVERITY.get(str(issue.severity), "warning"),
        message=" ".join(filter(None, (f"{issue.text} ({issue.test})", REMEDY.get(rule)))),
        check=f"bandit {test}",
    )
