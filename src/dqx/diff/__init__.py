"""What changed between two runs: metric values, assertion statuses, SQL statements.

:func:`diff` reads both runs' records from the metric store (``dq_metric``,
``dq_assertion``, ``dq_statement``) and pairs them up:

* metrics by identity and date (kind, parameters, dataset, user tags, day; the
  execution id is never part of it), so a lagged value one run took from history
  meets the value the other run computed for that day; or, with ``align="run"``, by
  kind, parameters, dataset and days before each run's own date, tags aside, so runs
  about other days or under other tags (yesterday and today, staging and prod) meet;
* assertions by check and assertion name (the n-th of a repeated name meets the
  n-th);
* statements by dataset and the set of metrics they compute; what is left of a
  dataset is paired by the most metrics in common, so a check that gained a metric
  shows its statement changed rather than one removed and one added.

Statuses are compared as the text the store holds, so statuses added later need no
change here. :meth:`RunDiff.to_dict` is the one JSON form (``dqx diff --format json``);
docs/cli.md documents it.
"""

from __future__ import annotations

import math

from dqx.common import normalize_execution_id
from dqx.diff.pairing import diff_assertions, diff_metrics, diff_statements
from dqx.diff.result import (
    ALIGNS,
    DIFF_SCHEMA,
    RELATIVE_TOLERANCE,
    Align,
    AssertionChange,
    MetricChange,
    MetricValue,
    RunDiff,
    StatementChange,
    UnknownRunError,
    same_value,
)
from dqx.orm.repositories import MetricDB
from dqx.records import AssertionRecord, Metric, RunRecord, Statement

__all__ = [
    "ALIGNS",
    "DIFF_SCHEMA",
    "RELATIVE_TOLERANCE",
    "Align",
    "AssertionChange",
    "MetricChange",
    "MetricValue",
    "RunDiff",
    "StatementChange",
    "UnknownRunError",
    "diff",
    "same_value",
]


def _records(
    db: MetricDB, execution_id: str
) -> tuple[RunRecord | None, list[Metric], list[AssertionRecord], list[Statement]]:
    run = db.run(execution_id)
    metrics = db.metrics_for_execution(execution_id)
    if run is None and not metrics:
        raise UnknownRunError(execution_id, db.url)
    return run, metrics, db.assertions(execution_id), db.statements(execution_id)


def diff(
    db: MetricDB,
    a: str,
    b: str,
    *,
    rel_tol: float = RELATIVE_TOLERANCE,
    align: Align = "identity",
) -> RunDiff:
    """What changed from run ``a`` to run ``b``, both read from ``db``.

    Ids are taken in any form the other readers take (plain or dashed UUID, any case);
    a malformed one raises :class:`~dqx.common.InvalidExecutionIdError` (a ValueError),
    one the store does not know :class:`UnknownRunError` naming it. Two values are the
    same within ``rel_tol`` of the larger (default 1e-12: float rounding); pass 0.0
    to call any difference in the last bit a change. ``align="run"`` pairs metrics by
    their days before each run's date, tags aside (both runs need a ``dq_run`` record).
    """
    if not isinstance(rel_tol, int | float) or not 0.0 <= rel_tol < 1.0 or math.isnan(rel_tol):
        raise ValueError(f"diff(..., rel_tol=...) takes a number in [0, 1), got {rel_tol!r}")
    if align not in ALIGNS:
        raise ValueError(f"diff(..., align=...) takes 'identity' or 'run', got {align!r}")
    a, b = normalize_execution_id(a), normalize_execution_id(b)
    run_a, metrics_a, assertions_a, statements_a = _records(db, a)
    run_b, metrics_b, assertions_b, statements_b = _records(db, b)
    for execution_id, run in ((a, run_a), (b, run_b)):
        if align == "run" and run is None:
            raise ValueError(
                f"run {execution_id} has metrics but no run record, so its date is unknown "
                "and align='run' cannot place them; compare with align='identity'"
            )
    m_changed, m_only_a, m_only_b, m_same = diff_metrics(
        (run_a, metrics_a), (run_b, metrics_b), rel_tol, align
    )
    a_changed, a_only_a, a_only_b, a_same = diff_assertions(assertions_a, assertions_b)
    s_changed, s_only_a, s_only_b, s_same = diff_statements(statements_a, statements_b)
    return RunDiff(
        a=a,
        b=b,
        run_a=run_a,
        run_b=run_b,
        align=align,
        metrics_changed=m_changed,
        metrics_only_in_a=m_only_a,
        metrics_only_in_b=m_only_b,
        metrics_unchanged=m_same,
        assertions_changed=a_changed,
        assertions_only_in_a=a_only_a,
        assertions_only_in_b=a_only_b,
        assertions_unchanged=a_same,
        statements_changed=s_changed,
        statements_only_in_a=s_only_a,
        statements_only_in_b=s_only_b,
        statements_unchanged=s_same,
    )
