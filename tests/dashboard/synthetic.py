"""Generated history for the report: several days of executions of every feature, feedback,
prompt versions, an A/B experiment whose arms really differ, and evaluation runs.

Everything is written through the store's public API (``record_execution``, ``add_feedback``,
``create_version``, ``create_experiment``), as the server would; only the evaluation table,
owned by another package, is created here with the columns that package uses.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text

from codetune_lsp.store import ExecutionRecord, Store

# (feature, templates, models (profile, backend, cost per 1k tokens), latency ms, ttft ms)
PLAN = (
    ("completion", ("completion.infill",), (("codet5p-220m-py", "local", 0.0),
                                            ("qwen2.5-coder-0.5b", "local", 0.0)), 180, 45),
    ("code_action", ("code_action.optimize", "code_action.docstring", "code_action.explain"),
     (("whiterabbitneo-7b", "openai", 0.0004),), 2400, 320),
    ("diagnostics", ("diagnostics.security", "diagnostics.quality"),
     (("whiterabbitneo-7b", "openai", 0.0004), ("gpt-4o-mini", "openai", 0.0006)), 3100, None),
)  # fmt: skip
WEIGHTS = (0.7, 0.18, 0.12)
ERRORS = (
    ("TimeoutError", "the model did not answer within 5000 ms"),
    ("OutputInvalid", "output is not valid JSON: Expecting ',' delimiter: line 1 column 40"),
    ("BackendError", "HTTP 503 from http://127.0.0.1:8080/v1/chat/completions: overloaded"),
    ("CancelledError", "CancelledError"),
)
EXPERIMENT_TEMPLATE = "completion.infill"
ARM_ACCEPTANCE = {"A": 0.35, "B": 0.6}


@dataclass
class Filled:
    executions: int = 0
    feedback: int = 0
    experiment: str = ""
    version_ids: dict[str, int] = field(default_factory=dict)
    eval_runs: int = 0


def _versions(store: Store, filled: Filled) -> tuple[int, int]:
    """Two versions of the experiment's template, and an active experiment between them."""
    first = store.create_version(
        EXPERIMENT_TEMPLATE,
        "{{ prefix }}<fim>{{ suffix }}",
        {"params": {"max_new_tokens": 48}},
        "report test: short",
    ).result(30)
    second = store.create_version(
        EXPERIMENT_TEMPLATE,
        "{{ prefix }}<fim>{{ suffix }}",
        {"params": {"max_new_tokens": 96}},
        "report test: longer",
    ).result(30)
    filled.version_ids = {"A": first.id, "B": second.id}
    filled.experiment = f"{EXPERIMENT_TEMPLATE}|production|report-test"
    experiment = store.create_experiment(
        filled.experiment, EXPERIMENT_TEMPLATE, [("A", first.id, 50), ("B", second.id, 50)]
    ).result(30)
    return experiment.arms[0].id, experiment.arms[1].id


def fill_history(
    store: Store, *, executions: int, days: int, now: datetime, seed: int = 7
) -> Filled:
    """Write ``executions`` executions spread over the last ``days`` days, with feedback."""
    rng = random.Random(seed)
    filled = Filled()
    arm_ids = _versions(store, filled)
    pendings = []
    span = days * 86400
    for i in range(executions):
        feature, templates, models, latency, ttft = rng.choices(PLAN, WEIGHTS)[0]
        template = rng.choice(templates)
        profile, backend, price = rng.choice(models)
        created = now - timedelta(seconds=span * (1 - (i + rng.random()) / executions))
        arm = None
        if template == EXPERIMENT_TEMPLATE and rng.random() < 0.5:
            arm = rng.choice(("A", "B"))
        failed = rng.random() < 0.04
        error = rng.choice(ERRORS) if failed else None
        cached = not failed and rng.random() < (0.25 if feature == "completion" else 0.08)
        type_ahead = cached and feature == "completion" and rng.random() < 0.5
        tokens_in = rng.randint(200, 1800)
        tokens_out = 0 if failed else rng.randint(8, 400 if feature != "completion" else 48)
        took = 0.6 if cached else latency * rng.lognormvariate(0, 0.45)
        record = ExecutionRecord(
            feature=feature,
            backend="type-ahead" if type_ahead else backend,
            model_profile=profile,
            model_id=f"org/{profile}",
            success=not failed,
            template_name=template,
            requested_label="production",
            resolved_version_id=filled.version_ids[arm] if arm else None,
            experiment_arm_id=arm_ids[0 if arm == "A" else 1] if arm else None,
            params={"temperature": 0},
            rendered_prompt=f"prompt {i}",
            output=None if failed else f"output {i}",
            finish_reason="error" if failed else "stop",
            error_class=error[0] if error else None,
            error_message=error[1] if error else None,
            latency_ms=round(took, 2),
            ttft_ms=round(ttft * rng.lognormvariate(0, 0.3), 2) if ttft and not cached else None,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_hit=cached,
            estimated_cost=0.0 if cached else round(price * (tokens_in + tokens_out) / 1000, 6),
            created_at=created,
        )
        pending = store.record_execution(record)
        pendings.append(pending)
        if not failed and feature in ("completion", "code_action") and rng.random() < 0.4:
            rate = ARM_ACCEPTANCE[arm] if arm else (0.45 if feature == "completion" else 0.7)
            good = rng.random() < rate
            if feature == "completion":
                kind = "accepted" if good else "rejected"
            else:
                kind = "applied" if good else "dismissed"
            store.add_feedback(pending.id, kind)
            filled.feedback += 1
    store.flush().result(600)
    filled.executions = len(pendings)
    return filled


def add_eval_runs(store: Store, filled: Filled, now: datetime) -> int:
    """A few finished (and one failed) evaluation runs, as `codetune-lsp eval run` stores them."""
    runs = [
        ("humaneval-mini", "completion", "A", "codet5p-220m-py", {"pass@1": 0.41}, 3),
        ("humaneval-mini", "completion", "B", "codet5p-220m-py", {"pass@1": 0.55}, 2),
        ("humaneval-mini", "completion", "B", "qwen2.5-coder-0.5b", {"pass@1": 0.62}, 1),
        ("cwe-top25", "diagnostics", None, "whiterabbitneo-7b",
         {"f1": 0.71, "precision": 0.78, "recall": 0.66}, 1),
        ("cwe-top25", "diagnostics", None, "gpt-4o-mini", {"f1": 0.64}, 2),
        ("humaneval-mini", "completion", "A", "qwen2.5-coder-0.5b", {}, 0),  # failed run
    ]  # fmt: skip

    def write(session) -> None:
        for number, (suite, mode, arm, model, summary, days_ago) in enumerate(runs, 1):
            finished = (now - timedelta(days=days_ago, hours=number)).replace(tzinfo=None)
            session.execute(
                text(
                    "INSERT INTO eval_runs (id, suite, suite_hash, mode, template_name,"
                    " template_version_id, model_profile, model_id, params, status, started_at,"
                    " finished_at, n_items, summary) VALUES (:id, :suite, :hash, :mode,"
                    " :template, :version, :model, :model_id, '{}', :status, :started,"
                    " :finished, :n, :summary)"
                ),
                {
                    "id": f"01EVALRUN{number:017d}",
                    "hash": "0" * 64,
                    "suite": suite,
                    "mode": mode,
                    "template": EXPERIMENT_TEMPLATE if arm else "diagnostics.security",
                    "version": filled.version_ids[arm] if arm else None,
                    "model": model,
                    "model_id": f"org/{model}",
                    "status": "finished" if summary else "failed",
                    "started": finished - timedelta(minutes=20),
                    "finished": finished,
                    "n": 40 if suite == "humaneval-mini" else 25,
                    "summary": json.dumps(summary),
                },
            )

    store.write(write)
    filled.eval_runs = len(runs)
    return len(runs)
