"""From :class:`ReportData` to the report's sections: key figures, charts and their tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from codetune_lsp.dashboard.collect import ReportData
from codetune_lsp.dashboard.model import (
    DASH,
    Chart,
    Figure,
    KeyFigure,
    Note,
    Section,
    Table,
    colours,
    cost,
    count,
    number,
    percent,
    text,
    when,
)
from codetune_lsp.store.dashboard import (
    Acceptance,
    EvalRun,
    ExperimentResult,
    TimePoint,
    leaderboard,
)
from codetune_lsp.store.history import StatsRow

UNIT_NAMES = {"hour": "hour", "day": "day", "month": "month"}
CI_FILL = "rgba(0, 114, 178, 0.22)"
POINT = "#0072B2"
RECENT_RUNS = 30


def build_sections(data: ReportData) -> list[Section]:
    sections = [
        overview(data),
        activity(data),
        cache(data),
        feedback(data),
        evaluations(data),
        models(data),
        errors(data),
    ]
    return [section.lay_out() for section in sections]


def compact(value: float) -> str:
    """12,345 stays; 156,390 becomes 156k; 2,016,653 becomes 2.02M."""
    if value < 100_000:
        return f"{value:,.0f}"
    if value < 1_000_000:
        return f"{value / 1000:.0f}k"
    return f"{value / 1_000_000:.3g}M"


def duration(ms: float | None) -> str:
    if ms is None:
        return DASH
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# -- shared pieces ---------------------------------------------------------------------------
STATS_HEADERS = [
    "executions",
    "succeeded",
    "p50 ms",
    "p95 ms",
    "TTFT p50 ms",
    "tokens in",
    "tokens out",
    "est. cost",
    "cache hits",
    "accepted",
]


def stats_table(table_id: str, caption: str, group: str, rows: Sequence[StatsRow]) -> Table:
    """The rows of ``codetune-lsp stats --by GROUP``, one cell per JSON field."""
    return Table(
        table_id,
        caption,
        [group, *STATS_HEADERS],
        [
            [
                text(r.group),
                count(r.count, "count"),
                percent(r.success_rate, "success_rate"),
                number(r.latency_p50_ms, "latency_p50_ms"),
                number(r.latency_p95_ms, "latency_p95_ms"),
                number(r.ttft_p50_ms, "ttft_p50_ms"),
                count(r.tokens_in, "tokens_in"),
                count(r.tokens_out, "tokens_out"),
                cost(r.estimated_cost, "estimated_cost"),
                percent(r.cache_hit_rate, "cache_hit_rate"),
                percent(r.acceptance_rate, "acceptance_rate"),
            ]
            for r in rows
        ],
    )


def _interval(acceptance: Acceptance) -> str:
    found = acceptance.interval
    return DASH if found is None else f"{100 * found[0]:.1f}{DASH}{100 * found[1]:.1f}%"


def acceptance_chart(chart_id: str, labels: list[str], values: list[Acceptance]) -> Chart:
    """Each label's acceptance rate as a point inside a bar spanning its 95% interval."""
    intervals = [a.interval for a in values]
    return Chart(
        chart_id,
        "bar",
        labels,
        [
            {
                "label": "95% interval",
                "data": [[100 * i[0], 100 * i[1]] if i else None for i in intervals],
                "color": CI_FILL,
                "border": POINT,
            },
            {
                "label": "acceptance",
                "type": "line",
                "showLine": False,
                "data": [None if a.rate is None else 100 * a.rate for a in values],
                "color": POINT,
                "pointRadius": 6,
            },
        ],
        y_title="accepted or applied, % of decided",
        y_format="percent",
        horizontal=True,
        y_max=100,
        height=max(160, 46 * len(labels) + 70),
    )


def _series_lines(
    labels: list[str],
    points: Sequence[TimePoint],
    metric: Callable[[TimePoint], float | None],
    dashed: bool,
    suffix: str,
) -> list[dict[str, Any]]:
    names = sorted({p.series for p in points})
    palette = colours(names)
    index = {label: i for i, label in enumerate(labels)}
    datasets = []
    for name in names:
        values: list[float | None] = [None] * len(labels)
        for p in points:
            if p.series == name and p.bucket in index:
                values[index[p.bucket]] = metric(p)
        if any(v is not None for v in values):
            datasets.append(
                {
                    "label": f"{name} {suffix}".strip(),
                    "data": values,
                    "color": palette[name],
                    "dashed": dashed,
                }
            )
    return datasets


# -- sections --------------------------------------------------------------------------------
def overview(data: ReportData) -> Section:
    total = data.total
    section = Section("overview", "Overview")
    if total.count == 0:
        section.blocks.append(Note("No executions recorded in this period."))
        return section
    section.blocks.append(
        [
            KeyFigure(
                "executions",
                compact(total.count),
                f"{total.count:,}" if total.count >= 100_000 else "",
            ),
            KeyFigure("succeeded", percent(total.success_rate).text),
            KeyFigure("latency p50", duration(total.latency_p50_ms)),
            KeyFigure("latency p95", duration(total.latency_p95_ms)),
            KeyFigure("1st token p50", duration(total.ttft_p50_ms)),
            KeyFigure("cache hits", percent(total.cache_hit_rate).text),
            KeyFigure(
                "accepted", percent(total.acceptance_rate).text, f"of {total.decided:,} decided"
            ),
            KeyFigure(
                "tokens",
                compact(total.tokens_in + total.tokens_out),
                f"{compact(total.tokens_in)} in, {compact(total.tokens_out)} out",
            ),
            KeyFigure("est. cost", cost(total.estimated_cost).text),
        ]
    )
    section.blocks.append(
        stats_table(
            "stats-feature", "Per feature (as `stats --by feature`)", "feature", data.by_feature
        )
    )
    return section


def activity(data: ReportData) -> Section:
    unit = UNIT_NAMES[data.unit]
    section = Section(
        "activity",
        "Executions and latency over time",
        f"One point per {unit} (UTC). Latency is the whole request; time to first token is "
        "measured where the backend streams.",
    )
    if not data.feature_timeline:
        section.blocks.append(Note("No executions recorded in this period."))
        return section
    labels, points = data.buckets, data.feature_timeline
    features = sorted({p.series for p in points})
    palette = colours(features)
    index = {label: i for i, label in enumerate(labels)}
    per_feature = {name: [0] * len(labels) for name in features}
    for p in points:
        per_feature[p.series][index[p.bucket]] += p.count
    section.blocks.append(
        Figure(
            f"Executions per {unit}, by feature",
            Chart(
                "chart-executions",
                "bar",
                labels,
                [
                    {"label": name, "data": per_feature[name], "color": palette[name]}
                    for name in features
                ],
                y_title="executions",
                y_format="count",
                stacked=True,
                time_axis=True,
            ),
            Table(
                "chart-executions-table",
                f"Executions per {unit}",
                [unit, *features, "total"],
                [
                    [
                        text(label),
                        *(count(per_feature[name][i]) for name in features),
                        count(sum(per_feature[name][i] for name in features)),
                    ]
                    for i, label in enumerate(labels)
                ],
            ),
        )
    )
    for chart_id, title, series_points, dimension in (
        ("chart-latency-feature", "Latency by feature", points, "feature"),
        ("chart-latency-model", "Latency by model", data.model_timeline, "model"),
    ):
        section.blocks.append(
            latency_figure(chart_id, title, unit, labels, series_points, dimension)
        )
    with_ttft = [p for p in points if p.ttft_p50_ms is not None]
    if with_ttft:
        section.blocks.append(
            Figure(
                "Time to first token (p50), by feature",
                Chart(
                    "chart-ttft",
                    "line",
                    labels,
                    _series_lines(labels, with_ttft, lambda p: p.ttft_p50_ms, False, ""),
                    y_title="time to first token",
                    y_format="ms",
                    time_axis=True,
                ),
                Table(
                    "chart-ttft-table",
                    "Time to first token",
                    [unit, "feature", "TTFT p50 ms"],
                    [[text(p.bucket), text(p.series), number(p.ttft_p50_ms)] for p in with_ttft],
                ),
            )
        )
    else:
        section.blocks.append(Note("No time to first token recorded (no streaming backend)."))
    return section


def latency_figure(
    chart_id: str,
    title: str,
    unit: str,
    labels: list[str],
    points: Sequence[TimePoint],
    dimension: str,
) -> Figure:
    datasets = _series_lines(labels, points, lambda p: p.latency_p50_ms, False, "p50")
    datasets += _series_lines(labels, points, lambda p: p.latency_p95_ms, True, "p95")
    return Figure(
        f"{title} (p50 solid, p95 dashed)",
        Chart(chart_id, "line", labels, datasets, y_title="latency", y_format="ms", time_axis=True),
        Table(
            f"{chart_id}-table",
            title,
            [unit, dimension, "executions", "p50 ms", "p95 ms"],
            [
                [
                    text(p.bucket),
                    text(p.series),
                    count(p.count),
                    number(p.latency_p50_ms),
                    number(p.latency_p95_ms),
                ]
                for p in points
            ],
        ),
    )


def cache(data: ReportData) -> Section:
    unit = UNIT_NAMES[data.unit]
    section = Section(
        "cache",
        "Cache hit rate over time",
        "Response cache: a repeated request answered from the store. Type-ahead: typing into "
        "a shown completion answered from memory. Both as a share of all executions.",
    )
    if not data.feature_timeline:
        section.blocks.append(Note("No executions recorded in this period."))
        return section
    totals: dict[str, list[int]] = {label: [0, 0, 0] for label in data.buckets}
    for p in data.feature_timeline:
        row = totals[p.bucket]
        row[0] += p.count
        row[1] += p.cache_hits
        row[2] += p.type_ahead

    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    rows = [(label, n, hits, ahead) for label, (n, hits, ahead) in totals.items()]
    section.blocks.append(
        Figure(
            f"Cache hits per {unit}",
            Chart(
                "chart-cache",
                "line",
                data.buckets,
                [
                    {
                        "label": "response cache",
                        "data": [_pct(share(hits, n)) for _, n, hits, _ in rows],
                        "color": "#009E73",
                    },
                    {
                        "label": "type-ahead",
                        "data": [_pct(share(ahead, n)) for _, n, _, ahead in rows],
                        "color": "#CC79A7",
                    },
                ],
                y_title="% of executions",
                y_format="percent",
                time_axis=True,
            ),
            Table(
                "chart-cache-table",
                "Cache hits",
                [unit, "executions", "response cache", "share", "type-ahead", "share"],
                [
                    [
                        text(label),
                        count(n),
                        count(hits),
                        percent(share(hits, n)),
                        count(ahead),
                        percent(share(ahead, n)),
                    ]
                    for label, n, hits, ahead in rows
                ],
            ),
        )
    )
    per_feature: dict[str, list[int]] = {}
    for p in data.feature_timeline:
        row = per_feature.setdefault(p.series, [0, 0, 0])
        row[0] += p.count
        row[1] += p.cache_hits
        row[2] += p.type_ahead
    features = sorted(per_feature)
    shares = [per_feature[f] for f in features]
    section.blocks.append(
        Figure(
            "Cache hits by feature",
            Chart(
                "chart-cache-feature",
                "bar",
                features,
                [
                    {
                        "label": "response cache",
                        "data": [_pct(share(hits[1], hits[0])) for hits in shares],
                        "color": "#009E73",
                    },
                    {
                        "label": "type-ahead",
                        "data": [_pct(share(hits[2], hits[0])) for hits in shares],
                        "color": "#CC79A7",
                    },
                ],
                y_title="% of executions",
                y_format="percent",
            ),
            Table(
                "chart-cache-feature-table",
                "Cache hits by feature",
                ["feature", "executions", "response cache", "share", "type-ahead", "share"],
                [
                    [
                        text(f),
                        count(per_feature[f][0]),
                        count(per_feature[f][1]),
                        percent(share(per_feature[f][1], per_feature[f][0])),
                        count(per_feature[f][2]),
                        percent(share(per_feature[f][2], per_feature[f][0])),
                    ]
                    for f in features
                ],
            ),
        )
    )
    return section


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def feedback(data: ReportData) -> Section:
    section = Section(
        "feedback",
        "Acceptance and A/B experiments",
        "Accepted = accepted completions and applied actions, out of those accepted, applied, "
        "rejected or dismissed. Intervals are 95% Wilson score intervals.",
    )
    if data.acceptance:
        labels = [f"{a.label} ({a.feature})" for a in data.acceptance]
        section.blocks.append(
            Figure(
                "Acceptance per template version",
                acceptance_chart(
                    "chart-acceptance", labels, [a.acceptance for a in data.acceptance]
                ),
                Table(
                    "chart-acceptance-table",
                    "Acceptance per template version",
                    [
                        "version",
                        "feature",
                        "executions",
                        "accepted",
                        "rejected",
                        "rate",
                        "95% interval",
                    ],
                    [
                        [
                            text(a.label),
                            text(a.feature),
                            count(a.acceptance.executions),
                            count(a.acceptance.positive),
                            count(a.acceptance.negative),
                            percent(a.acceptance.rate),
                            text(_interval(a.acceptance)),
                        ]
                        for a in data.acceptance
                    ],
                ),
            )
        )
    else:
        section.blocks.append(Note("No accept or reject feedback recorded in this period."))
    verdicts = []
    for number_, experiment in enumerate(data.experiments, 1):
        figure, table = experiment_blocks(f"chart-experiment-{number_}", experiment)
        section.blocks.append(figure)
        verdicts.append(table)
    section.blocks.extend(verdicts)
    if not data.experiments:
        section.blocks.append(Note("No A/B experiments."))
    if data.total.count:
        section.blocks.append(
            stats_table(
                "stats-version",
                "Per template version (as `stats --by version`)",
                "version",
                data.by_version,
            )
        )
    return section


def experiment_blocks(chart_id: str, experiment: ExperimentResult) -> tuple[Figure, Table]:
    labels = [f"{arm.name} (v{arm.version})" for arm in experiment.arms]
    figure = Figure(
        f"Experiment {experiment.name} on {experiment.template} ({experiment.status})",
        acceptance_chart(chart_id, labels, [arm.acceptance for arm in experiment.arms]),
        Table(
            f"{chart_id}-table",
            f"Arms of {experiment.name}",
            [
                "arm",
                "version",
                "weight",
                "executions",
                "succeeded",
                "decided",
                "accepted",
                "rate",
                "95% interval",
            ],
            [
                [
                    text(arm.name),
                    text(f"v{arm.version}"),
                    number(arm.weight, digits=2),
                    count(arm.acceptance.executions),
                    percent(arm.success_rate),
                    count(arm.acceptance.decided),
                    count(arm.acceptance.positive),
                    percent(arm.acceptance.rate),
                    text(_interval(arm.acceptance)),
                ]
                for arm in experiment.arms
            ],
        ),
        caption=f"started {experiment.created_at:%Y-%m-%d}",
    )
    verdicts = Table(
        f"{chart_id}-verdicts",
        f"Is the difference real? ({experiment.name})",
        ["arms", "metric", "n", "p", "verdict"],
        [
            [
                text(f"{c.a} vs {c.b}"),
                text(c.metric),
                text(f"{c.n_a:,} / {c.n_b:,}"),
                number(c.p_value, digits=3),
                text(c.verdict),
            ]
            for c in experiment.comparisons
        ],
    )
    return figure, verdicts


def evaluations(data: ReportData) -> Section:
    section = Section(
        "evaluations",
        "Evaluation runs",
        "The latest scored run of each template version and model, per suite, best first.",
    )
    if not data.eval_runs:
        section.blocks.append(Note("No evaluation runs."))
        return section
    for number_, (suite, board) in enumerate(leaderboard(data.eval_runs).items(), 1):
        metric = board[0].primary_metric[0] if board[0].primary_metric else "score"
        scores = [(run.primary_metric or ("", 0.0))[1] for run in board]
        fraction = all(0 <= s <= 1 for s in scores)
        section.blocks.append(
            Figure(
                f"Leaderboard: {suite} ({metric})",
                Chart(
                    f"chart-eval-{number_}",
                    "bar",
                    [run.contender for run in board],
                    [
                        {
                            "label": metric,
                            "data": [100 * s if fraction else s for s in scores],
                            "color": "#0072B2",
                        }
                    ],
                    y_title=f"{metric}, %" if fraction else metric,
                    y_format="percent" if fraction else "number",
                    horizontal=True,
                    y_max=100 if fraction else None,
                    height=max(160, 40 * len(board) + 70),
                ),
                Table(
                    f"chart-eval-{number_}-table",
                    f"Leaderboard of {suite}",
                    ["rank", "template version", "model", metric, "items", "finished"],
                    [
                        [
                            count(rank),
                            text(_version_label(run)),
                            text(run.model),
                            number(score, digits=3),
                            count(run.n_items),
                            when(run.finished_at),
                        ]
                        for rank, (run, score) in enumerate(zip(board, scores, strict=True), 1)
                    ],
                ),
            )
        )
    section.blocks.append(runs_table(data.eval_runs[:RECENT_RUNS]))
    return section


def _version_label(run: EvalRun) -> str:
    if run.template is None:
        return DASH
    return run.template + (f"@v{run.version}" if run.version is not None else "")


def runs_table(runs: Sequence[EvalRun]) -> Table:
    return Table(
        "eval-runs",
        "Recent evaluation runs",
        ["finished", "suite", "mode", "template version", "model", "status", "items", "metrics"],
        [
            [
                when(run.finished_at),
                text(run.suite),
                text(run.mode),
                text(_version_label(run)),
                text(run.model),
                text(run.status),
                count(run.n_items),
                text(", ".join(f"{k} {v:.3f}" for k, v in run.metrics.items()) or DASH),
            ]
            for run in runs
        ],
    )


def models(data: ReportData) -> Section:
    section = Section(
        "models",
        "Models: latency, tokens and estimated cost",
        "Cost is the estimate recorded with each execution (0 for local models and cache hits).",
    )
    rows = data.by_model[:-1]
    if not rows:
        section.blocks.append(Note("No executions recorded in this period."))
        return section
    names = [r.group for r in rows]
    section.blocks.append(
        Figure(
            "Latency per model",
            Chart(
                "chart-model-latency",
                "bar",
                names,
                [
                    {"label": "p50", "data": [r.latency_p50_ms for r in rows], "color": "#56B4E9"},
                    {"label": "p95", "data": [r.latency_p95_ms for r in rows], "color": "#0072B2"},
                ],
                y_title="latency",
                y_format="ms",
            ),
            stats_table("stats-model", "Per model (as `stats --by model`)", "model", data.by_model),
        )
    )
    section.blocks.append(
        Figure(
            "Tokens per model",
            Chart(
                "chart-tokens",
                "bar",
                names,
                [
                    {"label": "input", "data": [r.tokens_in for r in rows], "color": "#E69F00"},
                    {"label": "output", "data": [r.tokens_out for r in rows], "color": "#D55E00"},
                ],
                y_title="tokens",
                y_format="count",
                stacked=True,
            ),
            Table(
                "chart-tokens-table",
                "Tokens per model",
                ["model", "input tokens", "output tokens"],
                [[text(r.group), count(r.tokens_in), count(r.tokens_out)] for r in rows],
            ),
        )
    )
    section.blocks.append(
        Figure(
            "Estimated cost per model",
            Chart(
                "chart-cost",
                "bar",
                names,
                [{"label": "cost", "data": [r.estimated_cost for r in rows], "color": "#009E73"}],
                y_title="estimated cost",
                y_format="cost",
            ),
            Table(
                "chart-cost-table",
                "Estimated cost per model",
                ["model", "executions", "estimated cost"],
                [[text(r.group), count(r.count), cost(r.estimated_cost)] for r in rows],
            ),
        )
    )
    return section


def errors(data: ReportData) -> Section:
    section = Section("errors", "Most frequent errors", "Failed executions by error and feature.")
    if not data.errors:
        section.blocks.append(Note("No failed executions in this period."))
        return section
    section.blocks.append(
        Figure(
            "Failures by error",
            Chart(
                "chart-errors",
                "bar",
                [f"{e.error_class} ({e.feature})" for e in data.errors],
                [{"label": "failures", "data": [e.count for e in data.errors], "color": "#D55E00"}],
                y_title="failures",
                y_format="count",
                horizontal=True,
                height=max(160, 34 * len(data.errors) + 70),
            ),
            Table(
                "chart-errors-table",
                "Most frequent errors",
                ["error", "feature", "failures", "last seen", "latest message"],
                [
                    [
                        text(e.error_class),
                        text(e.feature),
                        count(e.count),
                        when(e.last_seen),
                        text(_shorten(e.example)),
                    ]
                    for e in data.errors
                ],
            ),
        )
    )
    unit = UNIT_NAMES[data.unit]
    failing = [p for p in data.feature_timeline if p.count]
    section.blocks.append(
        Figure(
            f"Failure rate per {unit}, by feature",
            Chart(
                "chart-failures",
                "line",
                data.buckets,
                _series_lines(
                    data.buckets, failing, lambda p: round(100 * p.failures / p.count, 2), False, ""
                ),
                y_title="% of executions failed",
                y_format="percent",
                time_axis=True,
            ),
            Table(
                "chart-failures-table",
                "Failure rate",
                [unit, "feature", "executions", "failed", "rate"],
                [
                    [
                        text(p.bucket),
                        text(p.series),
                        count(p.count),
                        count(p.failures),
                        percent(p.failures / p.count),
                    ]
                    for p in failing
                ],
            ),
        )
    )
    return section


def _shorten(message: str | None, limit: int = 160) -> str | None:
    if message is None:
        return None
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
