"""What a code action can use of the model's answer, decided before anything is offered.

One post-processor per run, chosen by the template's output kind. It returns the text the
action applies (the region's new code, or a new test file), or ``""`` with ``problem`` set
when nothing usable came back, so that the execution is recorded as unsuccessful and the
user reads why. Python answers must parse: an edit that would break a region that parsed,
or a test file that does not compile, is refused rather than offered.
"""

from __future__ import annotations

import re

from codetune_lsp.prompts.docstrings import docstring_text, insert_docstring, keep_docstring
from codetune_lsp.prompts.edits import (
    extract_code,
    parsing_prefix,
    python_problem,
    reindent,
    unterminated_fence_body,
)

_HAS_TEST = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def[ \t]+test|class[ \t]+Test)", re.MULTILINE)


class ActionAnswer:
    """Callable post-processor: raw answer -> usable text ("" when none, see ``problem``)."""

    def __init__(self, output: str, language: str, code: str) -> None:
        self.output = output
        self.python = language == "python"
        self.language = language
        self.code = code
        self.problem = ""

    def __call__(self, raw: str) -> str:
        self.problem = ""
        if self.output == "edit":
            return self._edit(raw)
        if self.output == "docstring":
            return self._docstring(raw)
        if self.output == "new_file":
            return self._new_file(raw)
        return raw

    def _refuse(self, why: str) -> str:
        self.problem = why
        return ""

    def _edit(self, raw: str) -> str:
        code = extract_code(raw, self.language)
        if code is None:
            return self._refuse("the model gave no code to apply")
        if self.python and python_problem(self.code) is None:
            problem = python_problem(code)
            if problem:
                return self._refuse(f"the model's code does not parse ({problem}); nothing applied")
            code = keep_docstring(self.code, code)
        return reindent(code, self.code)

    def _docstring(self, raw: str) -> str:
        text = docstring_text(raw)
        if text is None:
            return self._refuse("the model gave no docstring")
        new = insert_docstring(self.code, text)
        if new is None:
            return self._refuse("found no function or class with a body to document here")
        return new

    def _new_file(self, raw: str) -> str:
        code = extract_code(raw, self.language)
        if code is None and self.python:
            code = unterminated_fence_body(raw)  # cut off: its complete tests may do
        if code is None:
            return self._refuse("the model gave no tests")
        if not self.python:
            return code
        usable = parsing_prefix(code)
        if usable is None:
            why = python_problem(code) or "empty"
            return self._refuse(f"the generated test file does not parse ({why}); not written")
        if not _HAS_TEST.search(usable):
            return self._refuse("the generated file has no test function; not written")
        return usable
