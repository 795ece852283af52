"""Prerequisites: an assertion whose prerequisite did not pass is SKIPPED, naming it.

Two kinds. Declared ones: ``.where(name=..., requires="orders arrived")``. And one
rule: when a dataset has no rows on the run's date and an assertion over that
dataset's ``num_rows()`` alone (a volume assertion) did not pass, every other
assertion reading that dataset on that date is SKIPPED, naming the volume assertion:
an empty load pages once, for what it is, instead of once per assertion that cannot
be computed over no rows. When no volume assertion failed (none is declared, or it
allows an empty day) the rule stays out of the way and each assertion is judged.

Statuses are settled in dependency order, so a chain skips as a whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from returns.result import Failure, Success

from dqx.checks import Assertion
from dqx.evaluator import MetricKey, SkipReason, Values, Verdict
from dqx.provider import Expr, ExtendedSymbol, MetricSymbol
from dqx.records import is_problem
from dqx.specs import NumRows

__all__ = ["settle"]


def settle(
    assertions: Sequence[Assertion],
    requires: Sequence[tuple[int, ...]],
    verdicts: Sequence[Verdict],
    key_date: dt.date,
    values: Values,
) -> list[Verdict]:
    """``verdicts`` with every assertion whose prerequisite did not pass SKIPPED."""
    edges = [list(required) for required in requires] or [[] for _ in assertions]
    notes: dict[tuple[int, int], str] = {}
    for dataset in _empty_datasets(assertions, key_date, values):
        volume = [i for i, a in enumerate(assertions) if _is_volume(a, dataset)]
        # Only a volume assertion that failed or broke speaks for the empty day: one
        # skipped itself (too little history) would leave the day unreported.
        failing = [i for i in volume if is_problem(verdicts[i].status)]
        if not failing:
            continue
        exempt = _required_by(volume, edges)
        for position, assertion in enumerate(assertions):
            if position in exempt or position in volume:
                continue
            if not _reads_on(assertion, dataset, key_date):
                continue
            for required in failing:
                edges[position].append(required)
                notes[(position, required)] = (
                    f"dataset {dataset!r} has no rows for {key_date.isoformat()}"
                )
    settled: dict[int, Verdict] = {}

    def status(position: int) -> Verdict:
        if position not in settled:
            verdict = verdicts[position]
            for required in edges[position]:
                outcome = status(required)
                if outcome.status != "OK":
                    note = notes.get((position, required))
                    verdict = _skipped(verdict, note, assertions[required], outcome)
                    break
            settled[position] = verdict
        return settled[position]

    return [status(position) for position in range(len(assertions))]


def _skipped(
    verdict: Verdict, empty_day: str | None, required: Assertion, outcome: Verdict
) -> Verdict:
    named = f"{required.name!r} (check {required.check.name!r})"
    reason = (
        f"not judged: {empty_day}, which {named} reports as {outcome.status}"
        if empty_day
        else f"not judged: it requires {named}, which is {outcome.status}"
    )
    # Down a chain, the first prerequisite that did not pass is the one to name.
    if outcome.status == "SKIPPED":
        match outcome.value:
            case Failure(why):
                reason += f" ({why})"
    return replace(verdict, status="SKIPPED", value=Failure(SkipReason(reason)))


def _required_by(volume: Sequence[int], edges: Sequence[Sequence[int]]) -> set[int]:
    """What the volume assertions require, directly or not: never skipped by the
    empty-dataset rule, or a volume assertion could wait on itself."""
    found: set[int] = set()
    todo = [required for position in volume for required in edges[position]]
    while todo:
        position = todo.pop()
        if position not in found:
            found.add(position)
            todo.extend(edges[position])
    return found


def _empty_datasets(
    assertions: Sequence[Assertion], key_date: dt.date, values: Values
) -> list[str]:
    datasets = sorted({d for a in assertions for e in _exprs(a) for d in e.datasets()})
    empty = []
    for dataset in datasets:
        key: MetricKey = (NumRows(), dataset, key_date)
        match values.get(key):
            case Success(rows) if rows == 0:
                empty.append(dataset)
    return empty


def _exprs(assertion: Assertion) -> tuple[Expr, ...]:
    return (assertion.expr, *assertion.comparison.bounds)


def _base(leaf: MetricSymbol | ExtendedSymbol) -> MetricSymbol:
    return leaf.base if isinstance(leaf, ExtendedSymbol) else leaf


def _is_volume(assertion: Assertion, dataset: str) -> bool:
    leaves = [leaf for expr in _exprs(assertion) for leaf in expr.leaves()]
    return bool(leaves) and all(
        isinstance(_base(leaf).spec, NumRows) and leaf.dataset == dataset for leaf in leaves
    )


def _reads_on(assertion: Assertion, dataset: str, key_date: dt.date) -> bool:
    for expr in _exprs(assertion):
        for leaf in expr.leaves():
            lags = leaf.base_lags() if isinstance(leaf, ExtendedSymbol) else (leaf.lag,)
            if leaf.dataset == dataset and 0 in lags:
                return True
    return False
