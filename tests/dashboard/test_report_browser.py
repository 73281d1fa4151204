"""The report opened in a real headless Chromium: offline, every chart drawn, the tables equal
to `codetune-lsp stats --json`, and readable with JavaScript off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import ReportHome

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # the tiny model session is set up once

STATS_TABLES = {"feature": "stats-feature", "model": "stats-model", "version": "stats-version"}

# Every chart: its Chart.js instance, how many values its datasets hold, and how many canvas
# pixels are painted with its data shown and with every dataset hidden (axes and labels only).
CHARTS_JS = """
() => Array.from(document.querySelectorAll('canvas')).map((canvas) => {
  const painted = () => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { count += 1; } }
    return count;
  };
  const chart = Chart.getChart(canvas);
  if (!chart) { return { id: canvas.id, drawn: false }; }
  const shown = painted();
  chart.data.datasets.forEach((d, i) => chart.hide(i));
  const bare = painted();
  chart.data.datasets.forEach((d, i) => chart.show(i));
  return {
    id: canvas.id,
    drawn: true,
    values: chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0),
    painted: shown,
    bare: bare,
  };
})
"""

TABLE_JS = """
(id) => Array.from(document.querySelectorAll('#' + id + ' tbody tr')).map((tr) => ({
  group: tr.querySelector('th').textContent.trim(),
  cells: Object.fromEntries(Array.from(tr.querySelectorAll('td[data-key]')).map(
    (td) => [td.dataset.key, td.hasAttribute('data-value') ? td.dataset.value : null])),
}))
"""


@pytest.fixture(scope="module")
def report(report_home: ReportHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("report-out") / "report.html"
    written = report_home.cli("report", "-o", str(target))
    assert written.stdout.strip() == str(target)
    return target


@pytest.fixture(scope="module")
def page(browser: Any, report: Path) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.problems = []  # console errors and warnings, page errors, network requests
    page.on(
        "console",
        lambda m: (
            page.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: None if r.url == report.as_uri() else page.problems.append(f"request: {r.url}"),
    )
    page.goto(report.as_uri())
    page.wait_for_selector("html[data-charts-drawn]", state="attached")
    yield page
    page.close()


def test_the_report_opens_offline_and_draws_every_chart(
    page: Any, report: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert page.problems == []
    charts = page.evaluate(CHARTS_JS)
    drawn = int(page.get_attribute("html", "data-charts-drawn"))
    assert drawn == int(page.get_attribute("html", "data-charts-total")) == len(charts)
    assert {c["id"] for c in charts} >= {
        "chart-executions", "chart-latency-feature", "chart-latency-model", "chart-ttft",
        "chart-cache", "chart-cache-feature", "chart-acceptance", "chart-experiment-1",
        "chart-eval-1", "chart-eval-2", "chart-model-latency", "chart-tokens", "chart-cost",
        "chart-errors", "chart-failures",
    }  # fmt: skip
    for chart in charts:
        assert chart["drawn"] and chart["values"] > 0, chart
        assert chart["painted"] > chart["bare"] + 500, chart  # the data is drawn, not just axes
    assert report.stat().st_size < 5 * 1024 * 1024
    artefacts = tmp_path_factory.mktemp("report-screenshot")
    shot = artefacts / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    print(f"report screenshot: {shot}")


@pytest.mark.parametrize("by", sorted(STATS_TABLES))
def test_the_tables_match_stats_json(page: Any, report_home: ReportHome, by: str) -> None:
    expected = report_home.stats(by)["rows"]
    shown = page.evaluate(TABLE_JS, STATS_TABLES[by])
    assert [row["group"] for row in shown] == [row["group"] for row in expected]
    for row, want in zip(shown, expected, strict=True):
        assert set(row["cells"]) <= set(want)
        for key, value in row["cells"].items():
            if want[key] is None:
                assert value is None, (row["group"], key)
            else:
                assert float(value) == pytest.approx(want[key], rel=1e-9), (row["group"], key)


def test_the_real_session_and_the_generated_history_are_both_reported(
    page: Any, report_home: ReportHome
) -> None:
    models = {row["group"]: row for row in page.evaluate(TABLE_JS, "stats-model")}
    assert models["tiny"]["cells"]["count"] not in (None, "0")  # the editor session's model
    assert "codet5p-220m-py" in models  # the generated history's
    features = page.evaluate(TABLE_JS, "stats-feature")
    assert {row["group"] for row in features} == {
        "completion", "code_action", "diagnostics", "(all)"
    }  # fmt: skip
    verdicts = page.inner_text("#chart-experiment-1-verdicts")
    assert "significant (p=" in verdicts
    assert "humaneval-mini" in page.inner_text("#eval-runs")


def test_without_javascript_every_table_is_shown(browser: Any, report: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(report.as_uri())
        assert page.is_visible("#stats-feature")
        assert page.is_visible("#chart-executions-table")  # the chart's table, not folded away
        assert not page.is_visible("#chart-executions")  # no empty chart frame
        assert "JavaScript is off" in page.inner_text("footer")
    finally:
        context.close()


def test_codetune_status_gives_editors_the_report_path(report_home: ReportHome) -> None:
    default = report_home.root / "data" / "report.html"
    assert report_home.status["report"]["path"] == str(default)
    written = report_home.cli("report", "--since", "2d", "--feature", "completion")
    assert written.stdout.strip() == str(default) and default.exists()
    html = default.read_text(encoding="utf-8")
    assert "feature</dt><dd>completion" in html.replace("\n", "").replace(" ", "")
