"""The check language: ``@check`` functions declare assertions over metric expressions.

A check function receives a :class:`~dqx.provider.MetricProvider` and a
:class:`Context` and declares assertions with
``ctx.assert_that(expr).where(name=...).is_gt(...)``; it never sees data. Nothing
here runs anything: :mod:`dqx.plan` turns the declarations into a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from dqx.anomaly import DEFAULT_SENSITIVITY, DEFAULT_WINDOW, METHODS, min_window
from dqx.common import DefinitionError, ResultKey, Severity, checked_text, validate_severity
from dqx.evaluator import Anomaly, Comparison
from dqx.provider import Const, Expr, MetricProvider, as_expr

__all__ = [
    "Assertion",
    "AssertionDraft",
    "AssertionReady",
    "Check",
    "CheckFunction",
    "Context",
    "check",
    "checked_checks",
]

CheckFunction = Callable[[MetricProvider, "Context"], None]


@dataclass(frozen=True)
class Check:
    """A check function with its metadata; made by the :func:`check` decorator."""

    fn: CheckFunction
    name: str
    severity: Severity
    datasets: tuple[str, ...] | None = None

    def __call__(self, mp: MetricProvider, ctx: Context) -> None:
        self.fn(mp, ctx)


@overload
def check(fn: CheckFunction, /) -> Check: ...
@overload
def check(
    *, name: str | None = None, severity: str = "P1", datasets: Sequence[str] | None = None
) -> Callable[[CheckFunction], Check]: ...
def check(
    fn: CheckFunction | None = None,
    /,
    *,
    name: str | None = None,
    severity: str = "P1",
    datasets: Sequence[str] | None = None,
) -> Check | Callable[[CheckFunction], Check]:
    """Declare a check: ``@check(name="Sales", severity="P1", datasets=["sales"])``.

    The function receives a :class:`MetricProvider` and a :class:`Context` and declares
    assertions; it never sees data. ``severity`` is the default for its assertions.
    """

    def decorate(function: CheckFunction) -> Check:
        if not callable(function):
            raise DefinitionError(f"@check decorates a function, got {function!r}")
        check_name = name if name is not None else function.__name__
        if not isinstance(check_name, str) or not check_name.strip():
            raise DefinitionError(f"check name must be a non-empty string, got {check_name!r}")
        checked_text(check_name, "the check name")
        checked = validate_severity(severity, where=f"check {check_name!r}")
        dataset_names: tuple[str, ...] | None = None
        if datasets is not None:
            dataset_names = (datasets,) if isinstance(datasets, str) else tuple(datasets)
            if not dataset_names or not all(isinstance(d, str) and d for d in dataset_names):
                raise DefinitionError(
                    f"check {check_name!r}: datasets must be a non-empty list of names, "
                    f"got {datasets!r}"
                )
            for dataset in dataset_names:
                checked_text(dataset, f"check {check_name!r}: dataset name")
        return Check(function, check_name, checked, dataset_names)

    if fn is not None:
        return decorate(fn)
    return decorate


@dataclass(frozen=True)
class Assertion:
    """One declared assertion: an expression, its promise, where it came from."""

    check: Check
    name: str
    severity: Severity
    expr: Expr
    comparison: Comparison
    #: Assertions (by name) that must pass for this one to be judged; see ``where``.
    requires: tuple[str, ...] = ()


class Context:
    """Handed to every check function: where assertions are declared."""

    def __init__(self, check: Check, key: ResultKey) -> None:
        self._check = check
        self._key = key
        self._assertions: list[Assertion] = []
        # Names taken so far: a scan of the list per assertion made a 10,000-assertion
        # check take 14 s to declare.
        self._names: set[str] = set()
        # Started assertions not yet compared, by id: a check that forgets the
        # comparison would otherwise lose the assertion without a word.
        self._open: dict[int, AssertionDraft | AssertionReady] = {}

    @property
    def key(self) -> ResultKey:
        """The date and tags of the run."""
        return self._key

    @property
    def check_name(self) -> str:
        return self._check.name

    def assert_that(self, expr: Expr | float) -> AssertionDraft:
        """Start an assertion; name it with ``.where(name=...)`` to get the comparisons."""
        draft = AssertionDraft(self, as_expr(expr))
        self._open[id(draft)] = draft
        return draft

    def _unfinished(self) -> list[str]:
        """What was started but never compared, as the user would recognise it."""
        return [
            f"assertion {item._name!r} has no comparison; finish it with .is_gt(...), "
            ".is_between(...) or another comparison"
            if isinstance(item, AssertionReady)
            else f"assert_that({item._expr}) has no name or comparison; finish it with "
            ".where(name=...).is_gt(...) or another comparison"
            for item in self._open.values()
        ]

    def _add(self, assertion: Assertion) -> None:
        if assertion.name in self._names:
            raise DefinitionError(
                f"check {self._check.name!r} has two assertions named {assertion.name!r}; "
                "assertion names must be unique within a check",
                check=self._check.name,
            )
        self._assertions.append(assertion)
        self._names.add(assertion.name)


class AssertionDraft:
    """An assertion without a name yet: only :meth:`where` is available."""

    def __init__(self, ctx: Context, expr: Expr) -> None:
        self._ctx = ctx
        self._expr = expr

    def where(
        self,
        *,
        name: str,
        severity: str | None = None,
        requires: str | Sequence[str] | None = None,
    ) -> AssertionReady:
        """Name the assertion; ``severity`` overrides the check's. ``requires`` names
        assertions (of this check, or of another when the name is unique in the suite)
        that must pass for this one to be judged: when one does not, this one is
        SKIPPED, naming it, so a broken load pages once, not once per assertion."""
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(
                f"assertion in check {self._ctx.check_name!r} needs a non-empty name, got {name!r}",
                check=self._ctx.check_name,
            )
        checked_text(name, f"assertion name in check {self._ctx.check_name!r}")
        chosen = self._ctx._check.severity if severity is None else severity
        checked = validate_severity(
            chosen, where=f"assertion {name!r} in check {self._ctx.check_name!r}"
        )
        self._ctx._open.pop(id(self), None)
        ready = AssertionReady(
            self._ctx, self._expr, name, checked, _requirements(requires, name, self._ctx)
        )
        self._ctx._open[id(ready)] = ready
        return ready

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("is_") and hasattr(AssertionReady, attribute):
            raise DefinitionError(
                f"assert_that({self._expr}).{attribute}(...) in check "
                f"{self._ctx.check_name!r} needs a name first: "
                f"assert_that(...).where(name=...).{attribute}(...)",
                check=self._ctx.check_name,
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")


class AssertionReady:
    """A named assertion; each comparison declares it and returns nothing."""

    def __init__(
        self,
        ctx: Context,
        expr: Expr,
        name: str,
        severity: Severity,
        requires: tuple[str, ...] = (),
    ) -> None:
        self._ctx = ctx
        self._expr = expr
        self._name = name
        self._severity = severity
        self._requires = requires

    def _declare(self, comparison: Comparison) -> None:
        self._ctx._open.pop(id(self), None)
        check = self._ctx._check
        self._ctx._add(
            Assertion(check, self._name, self._severity, self._expr, comparison, self._requires)
        )

    def is_eq(self, other: Expr | float, tol: float = 1e-9) -> None:
        self._declare(Comparison("eq", (as_expr(other),), _tolerance(tol)))

    def is_neq(self, other: Expr | float, tol: float = 1e-9) -> None:
        self._declare(Comparison("neq", (as_expr(other),), _tolerance(tol)))

    def is_gt(self, other: Expr | float) -> None:
        self._declare(Comparison("gt", (as_expr(other),)))

    def is_geq(self, other: Expr | float) -> None:
        self._declare(Comparison("geq", (as_expr(other),)))

    def is_lt(self, other: Expr | float) -> None:
        self._declare(Comparison("lt", (as_expr(other),)))

    def is_leq(self, other: Expr | float) -> None:
        self._declare(Comparison("leq", (as_expr(other),)))

    def is_between(self, lower: Expr | float, upper: Expr | float) -> None:
        lo, hi = as_expr(lower), as_expr(upper)
        if isinstance(lo, Const) and isinstance(hi, Const) and lo.value > hi.value:
            # Nothing lies between them: the assertion could only ever fail.
            raise DefinitionError(
                f"assertion {self._name!r} in check {self._ctx.check_name!r}: "
                f"is_between({lo}, {hi}) has its lower bound above its upper bound; "
                f"did you mean is_between({hi}, {lo})?",
                check=self._ctx.check_name,
            )
        self._declare(Comparison("between", (lo, hi)))

    def is_positive(self) -> None:
        self._declare(Comparison("gt", (as_expr(0),)))

    def is_negative(self) -> None:
        self._declare(Comparison("lt", (as_expr(0),)))

    def is_zero(self, tol: float = 1e-9) -> None:
        self._declare(Comparison("eq", (as_expr(0),), _tolerance(tol)))

    def is_not_anomalous(
        self,
        window: int = DEFAULT_WINDOW,
        method: str = "mad",
        sensitivity: float = DEFAULT_SENSITIVITY,
    ) -> None:
        """The value lies within the band its own history over the ``window`` days
        before the run's date expects (:mod:`dqx.anomaly`): ``method="mad"`` (median
        and robust spread) or ``"seasonal"`` (the same, per weekday, for weekly
        cycles). ``sensitivity`` is the band's half-width in robust standard
        deviations: smaller flags more. Too little history is SKIPPED; days whose
        baseline was marked bad are left out."""
        where = f"assertion {self._name!r} in check {self._ctx.check_name!r}"
        chosen = next((known for known in METHODS if known == method), None)
        if chosen is None:
            raise DefinitionError(
                f"{where}: is_not_anomalous(method={method!r}); use one of "
                f"{', '.join(map(repr, METHODS))}",
                check=self._ctx.check_name,
            )
        shortest = min_window(chosen)
        if isinstance(window, bool) or not isinstance(window, int) or window < shortest:
            raise DefinitionError(
                f"{where}: is_not_anomalous(window={window!r}) needs a whole number of days "
                f">= {shortest} for method {chosen!r}",
                check=self._ctx.check_name,
            )
        if (
            isinstance(sensitivity, bool)
            or not isinstance(sensitivity, int | float)
            or not 0 < sensitivity < float("inf")
        ):
            raise DefinitionError(
                f"{where}: is_not_anomalous(sensitivity={sensitivity!r}) needs a number > 0 "
                "(the band's half-width in robust standard deviations)",
                check=self._ctx.check_name,
            )
        self._declare(
            Comparison("not_anomalous", (), anomaly=Anomaly(chosen, window, float(sensitivity)))
        )


def _requirements(requires: str | Sequence[str] | None, name: str, ctx: Context) -> tuple[str, ...]:
    if requires is None:
        return ()
    names = (requires,) if isinstance(requires, str) else tuple(requires)
    for required in names:
        if not isinstance(required, str) or not required.strip():
            raise DefinitionError(
                f"assertion {name!r} in check {ctx.check_name!r}: requires= takes assertion "
                f"names, got {requires!r}",
                check=ctx.check_name,
            )
    if name in names:
        raise DefinitionError(
            f"assertion {name!r} in check {ctx.check_name!r} requires itself",
            check=ctx.check_name,
        )
    return tuple(dict.fromkeys(names))


def _tolerance(tol: object) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
        raise DefinitionError(f"tol must be a number >= 0, got {tol!r}")
    return float(tol)


def checked_checks(checks: Sequence[Check], suite: str) -> list[Check]:
    """``checks`` as a list, each a :class:`Check` and no two of one name."""
    listed = list(checks)
    seen: set[str] = set()
    for item in listed:
        if not isinstance(item, Check):
            raise DefinitionError(
                f"suite {suite!r}: {item!r} is not a check; decorate it with @check(name=...)"
            )
        if item.name in seen:
            raise DefinitionError(f"suite {suite!r} has two checks named {item.name!r}")
        seen.add(item.name)
    return listed
