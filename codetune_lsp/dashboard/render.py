"""The report as one self-contained HTML file: markup, styles, data and Chart.js inlined.

Nothing is fetched when it opens: a Content-Security-Policy allows no network source at all,
so a stray reference would fail loudly (and the browser test would see it). Every table is
in the markup, so the page reads the same with JavaScript off; the charts are drawn by
``assets/report.js`` from a JSON block.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from codetune_lsp import __version__
from codetune_lsp.dashboard.model import Figure, KeyFigure, Note, Section, Table

CHART_JS = "chart.umd.min.js"
CHART_JS_VERSION = "4.6.1"
_SOURCE_MAP = re.compile(r"^//# sourceMappingURL=.*$", re.MULTILINE)


@cache
def _asset(folder: str, name: str) -> str:
    return (resources.files("codetune_lsp.dashboard") / folder / name).read_text("utf-8")


def chart_js() -> str:
    """The vendored Chart.js build, without its source-map comment (nothing to fetch)."""
    script = _SOURCE_MAP.sub("", _asset("vendor", CHART_JS))
    if "</script" in script.lower():  # pragma: no cover - guards a future update of the file
        raise RuntimeError("the vendored Chart.js cannot be inlined: it contains </script")
    return script


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _asset("assets", name)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests.update(
        figure=lambda b: isinstance(b, Figure),
        table=lambda b: isinstance(b, Table),
        note=lambda b: isinstance(b, Note),
        key_figures=lambda b: isinstance(b, list) and all(isinstance(k, KeyFigure) for k in b),
    )
    return env


def render_html(sections: list[Section], header: dict[str, str]) -> str:
    """The page for ``sections``; ``header`` holds the period, store and filters shown on top."""
    charts = [chart.spec() for section in sections for chart in section.charts()]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            sections=sections,
            header=header,
            version=__version__,
            chart_js_version=CHART_JS_VERSION,
            css=_asset("assets", "report.css"),
            chart_js=chart_js(),
            app_js=_asset("assets", "report.js"),
            charts_json=script_json(charts),
        )
    )
