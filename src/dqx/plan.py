"""Declare and plan: from check functions to every (metric, dataset, date) a run needs.

Both steps are pure and read no data. :func:`declare` calls each check function and
resolves every metric to a dataset; :func:`make_plan` validates every metric against
its source's schema (so a typo fails before any scan, naming the check and
assertion) and lists the values the run needs, deduplicated.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from dqx.analyzer import validate_specs
from dqx.checks import Assertion, Check, Context
from dqx.common import DefinitionError, DQXError, ResultKey, checked_text
from dqx.datasource import DataSource
from dqx.provider import ExtendedSymbol, MetricProvider, MetricSymbol
from dqx.specs import MetricSpec

__all__ = ["Plan", "declare", "index_sources", "make_plan", "resolve_requirements"]

Leaf = MetricSymbol | ExtendedSymbol


@dataclass(frozen=True)
class Plan:
    """What a run computes and judges."""

    key: ResultKey
    assertions: tuple[Assertion, ...]
    #: Per dataset, every base value the run reads: (spec, date).
    needs: Mapping[str, frozenset[tuple[MetricSpec, dt.date]]]
    #: Every extended metric, once per (spec, dataset, lag), datasets resolved.
    extended: tuple[ExtendedSymbol, ...]
    #: Per assertion (by position), the positions of the assertions it requires.
    requires: tuple[tuple[int, ...], ...] = ()


def index_sources(datasources: Iterable[DataSource]) -> dict[str, DataSource]:
    """The run's sources by name; refuses anything else, twins and an empty list."""
    if isinstance(datasources, DataSource):
        datasources = [datasources]
    sources: dict[str, DataSource] = {}
    for source in datasources:
        if not isinstance(source, DataSource):
            raise DefinitionError(f"run() takes data sources, got {type(source).__name__}")
        checked_text(source.name, "the data source name")
        if source.name in sources:
            raise DefinitionError(f"two data sources are named {source.name!r}")
        sources[source.name] = source
    if not sources:
        raise DefinitionError("run() needs at least one data source")
    return sources


def declare(checks: Sequence[Check], key: ResultKey, sources: Collection[str]) -> list[Assertion]:
    """Every assertion of every check, each metric resolved to its dataset (one of the
    names in ``sources``: the run's data sources, or a past run's datasets)."""
    assertions: list[Assertion] = []
    for item in checks:
        for dataset in item.datasets or ():
            _known_dataset(dataset, sources, f"check {item.name!r}")
        for assertion in _call(item, key):
            resolve = functools.partial(
                _resolve_dataset, check=item, sources=sources, assertion=assertion.name
            )
            comparison = assertion.comparison
            bounds = tuple(bound.map_leaves(resolve) for bound in comparison.bounds)
            assertions.append(
                replace(
                    assertion,
                    expr=assertion.expr.map_leaves(resolve),
                    comparison=replace(comparison, bounds=bounds),
                )
            )
    return assertions


def _call(item: Check, key: ResultKey) -> list[Assertion]:
    """Run one check function; whatever goes wrong is a DefinitionError naming it."""
    ctx = Context(item, key)
    try:
        item(MetricProvider(), ctx)
    except DefinitionError as exc:
        if exc.check is not None:
            raise
        # A metric or value declared wrongly says what is wrong; add where.
        raise DefinitionError(
            f"check {item.name!r}: {exc}",
            dataset=exc.dataset,
            column=exc.column,
            check=item.name,
            metric=exc.metric,
        ) from exc
    except DQXError:
        raise
    except Exception as exc:
        raise DefinitionError(
            f"check {item.name!r} raised {type(exc).__name__}: {exc} while declaring "
            "its assertions",
            check=item.name,
        ) from exc
    unfinished = ctx._unfinished()
    if unfinished:
        raise DefinitionError(f"check {item.name!r}: {'; '.join(unfinished)}", check=item.name)
    if not ctx._assertions:
        raise DefinitionError(f"check {item.name!r} declares no assertions", check=item.name)
    return ctx._assertions


def make_plan(
    assertions: Sequence[Assertion],
    key: ResultKey,
    sources: Mapping[str, DataSource] | None,
) -> Plan:
    """Validate every metric against its source and list what the run needs.

    Without ``sources`` (a past run's metrics re-evaluated) nothing is validated: no
    data is read, and a metric the run did not compute is an ERROR naming it.
    """
    needs: dict[str, set[tuple[MetricSpec, dt.date]]] = {}
    extended: dict[tuple[object, str, int], ExtendedSymbol] = {}
    for assertion in assertions:
        where = f"check {assertion.check.name!r}, assertion {assertion.name!r}"
        # An anomaly window reads one metric on many days: validate it once.
        checked: set[tuple[MetricSpec, str]] = set()
        for expr in (assertion.expr, *assertion.comparison.reads(assertion.expr)):
            for leaf in expr.leaves():
                base = leaf.base if isinstance(leaf, ExtendedSymbol) else leaf
                assert base.dataset is not None, "declare() resolves every dataset"
                # Validated per assertion, so a bad column names where it was written.
                try:
                    if (base.spec, base.dataset) not in checked:
                        if sources is not None:
                            validate_specs(sources[base.dataset], [base.spec], where=where)
                        # Parameters go into the store as they are (custom_sql text,
                        # count_values values): the rule for names, without the length
                        # limit.
                        _check_storable(base.spec.parameters, f"{leaf} in {where}: the value")
                        checked.add((base.spec, base.dataset))
                    lags = leaf.base_lags() if isinstance(leaf, ExtendedSymbol) else (leaf.lag,)
                    days = {_day(key, n, leaf, where) for n in lags}
                except DefinitionError as exc:
                    exc.check = assertion.check.name
                    raise
                needs.setdefault(base.dataset, set()).update((base.spec, day) for day in days)
                if isinstance(leaf, ExtendedSymbol):
                    extended.setdefault((leaf.spec, base.dataset, base.lag), leaf)
    return Plan(
        key,
        tuple(assertions),
        {dataset: frozenset(pairs) for dataset, pairs in needs.items()},
        tuple(extended.values()),
        resolve_requirements(assertions),
    )


def resolve_requirements(assertions: Sequence[Assertion]) -> tuple[tuple[int, ...], ...]:
    """Each assertion's ``requires=`` as positions: a name in the same check first, else
    the one assertion of that name in the suite. Unknown, ambiguous and circular
    requirements are refused before any data is read."""
    resolved: list[tuple[int, ...]] = []
    for assertion in assertions:
        where = f"assertion {assertion.name!r} in check {assertion.check.name!r}"
        positions = []
        for name in assertion.requires:
            same = [
                i
                for i, other in enumerate(assertions)
                if other.name == name and other.check.name == assertion.check.name
            ]
            found = same or [i for i, other in enumerate(assertions) if other.name == name]
            if len(found) != 1:
                raise DefinitionError(
                    _requirement_problem(name, where, found, assertions),
                    check=assertion.check.name,
                )
            positions.append(found[0])
        resolved.append(tuple(positions))
    _refuse_cycles(resolved, assertions)
    return tuple(resolved)


def _requirement_problem(
    name: str, where: str, found: Sequence[int], assertions: Sequence[Assertion]
) -> str:
    if found:
        checks = ", ".join(repr(assertions[i].check.name) for i in found)
        return (
            f"{where} requires {name!r}, which names an assertion in several checks "
            f"({checks}) and none in its own; rename one of them"
        )
    hint = difflib.get_close_matches(name, [a.name for a in assertions], n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"{where} requires {name!r}, but no assertion has that name{suggestion}"


def _refuse_cycles(resolved: Sequence[tuple[int, ...]], assertions: Sequence[Assertion]) -> None:
    done: set[int] = set()

    def visit(position: int, path: tuple[int, ...]) -> None:
        if position in path:
            cycle = " -> ".join(repr(assertions[i].name) for i in (*path, position))
            raise DefinitionError(
                f"assertions require each other in a circle ({cycle}); none could be judged",
                check=assertions[position].check.name,
            )
        if position in done:
            return
        for required in resolved[position]:
            visit(required, (*path, position))
        done.add(position)

    for position in range(len(resolved)):
        visit(position, ())


def _check_storable(value: object, what: str) -> None:
    if isinstance(value, str):
        checked_text(value, what, limit=None, allow_empty=True)
    elif isinstance(value, dict):
        for item in value.values():
            _check_storable(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item, what)


def _day(key: ResultKey, lag: int, leaf: Leaf, where: str) -> dt.date:
    try:
        return key.yyyy_mm_dd - dt.timedelta(days=lag)
    except OverflowError:
        raise DefinitionError(
            f"{leaf} in {where} reads the day {lag} day(s) before {key.yyyy_mm_dd}, "
            "which is before the first day a date can hold (0001-01-01)",
            metric=leaf.name,
        ) from None


def _known_dataset(dataset: str, sources: Collection[str], where: str) -> str:
    if dataset in sources:
        return dataset
    hint = difflib.get_close_matches(dataset, list(sources), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise DefinitionError(
        f"unknown dataset {dataset!r} in {where}; the run has "
        f"{', '.join(repr(s) for s in sources)}{suggestion}",
        dataset=dataset,
    )


def _resolve_dataset(leaf: Leaf, *, check: Check, sources: Collection[str], assertion: str) -> Leaf:
    symbol = leaf.base if isinstance(leaf, ExtendedSymbol) else leaf
    where = f"{symbol.spec.name} in assertion {assertion!r} of check {check.name!r}"
    if symbol.dataset is not None:
        dataset = _known_dataset(symbol.dataset, sources, where)
        if check.datasets is not None and dataset not in check.datasets:
            raise DefinitionError(
                f"{where} reads dataset {dataset!r}, which the check does not list in "
                f"datasets={list(check.datasets)!r}",
                dataset=dataset,
                check=check.name,
            )
    else:
        candidates = list(check.datasets) if check.datasets is not None else list(sources)
        if len(candidates) != 1:
            raise DefinitionError(
                f"{where} has no dataset=, and there are several to choose from "
                f"({', '.join(repr(c) for c in candidates)}); pass dataset=",
                check=check.name,
                metric=symbol.spec.name,
            )
        dataset = candidates[0]
    resolved = MetricSymbol(symbol.spec, dataset, symbol.lag)
    return leaf.with_base(resolved) if isinstance(leaf, ExtendedSymbol) else resolved
