"""The HTML report (``codetune-lsp report``): history, experiments and evaluations in one
self-contained file.

:func:`build_report` reads the store (all SQL lives in :mod:`codetune_lsp.store.dashboard`),
lays the numbers out as sections (:mod:`.sections`) and renders one HTML page with Chart.js
inlined (:mod:`.render`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from codetune_lsp.paths import Paths

if TYPE_CHECKING:
    from codetune_lsp.store import Store
    from codetune_lsp.store.history import HistoryFilter

REPORT_FILE = "report.html"


def default_report_path(paths: Paths) -> Path:
    """Where ``codetune-lsp report`` writes without ``-o`` (shown by ``codetune.status``)."""
    return paths.data_dir / REPORT_FILE


def build_report(store: Store, filters: HistoryFilter, now: datetime) -> str:
    """The report's HTML for the executions matching ``filters``, as of ``now``."""
    from codetune_lsp.dashboard.collect import collect
    from codetune_lsp.dashboard.render import render_html
    from codetune_lsp.dashboard.sections import build_sections
    from codetune_lsp.redaction import mask_url

    data = store.read(lambda session: collect(session, filters, now))
    period = (
        f"since {filters.since:%Y-%m-%d %H:%M} UTC" if filters.since else "all recorded history"
    )
    header = {"period": period, "store": mask_url(str(store.db_engine.url))}
    if filters.feature:
        header["feature"] = filters.feature
    header["generated"] = f"{now:%Y-%m-%d %H:%M} UTC"
    header["grouped by"] = data.unit
    return render_html(build_sections(data), header)


__all__ = ["REPORT_FILE", "build_report", "default_report_path"]
