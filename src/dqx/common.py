"""Value types shared by every part of dqx, and the error tree.

Errors dqx raises on purpose all derive from :class:`DQXError`::

    DQXError
      DefinitionError       a check, metric or source declared wrongly
                            (unknown dataset or column, bad custom_sql, bad severity)
      ComputeError          the engine failed while computing a batch
      StoreError            the metric database could not read or write
        PersistError        a run's metrics could not be written; they are in the trace
      TraceReadError        a trace could not be fetched or parsed
      SuiteStateError       run() again without reset()
    InvalidExecutionIdError (DQXError, ValueError)

This module imports nothing heavy so that ``import dqx`` stays cheap.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from returns.result import Failure, Result, Success

from dqx.redaction import redact

__all__ = [
    "EXECUTION_ID_TAG",
    "ORIGIN_TAG",
    "SEVERITIES",
    "AssertionResult",
    "AssertionStatus",
    "ComputeError",
    "DQXError",
    "DefinitionError",
    "InvalidExecutionIdError",
    "PersistError",
    "ResultKey",
    "Severity",
    "StoreError",
    "SuiteStateError",
    "SymbolInfo",
    "Tags",
    "TraceReadError",
    "canonical_json",
    "checked_text",
    "identity_tags",
    "is_internal_tag",
    "new_execution_id",
    "normalize_execution_id",
    "validate_severity",
]

Severity: TypeAlias = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")
#: ``OK``; ``FAILURE`` (the bound was violated); ``ERROR`` (broken: no number could be
#: computed); ``SKIPPED`` (not evaluable yet or by rule: too little history, a
#: prerequisite that did not pass; it never fails a run and never pages).
AssertionStatus: TypeAlias = Literal["OK", "FAILURE", "ERROR", "SKIPPED"]
Tags: TypeAlias = Mapping[str, str]

#: Tags whose key starts with this are dqx's own: stored and returned with every
#: metric and result, never part of a metric's identity, refused from users.
INTERNAL_TAG_PREFIX = "__"
#: The run a value belongs to; ``run()`` adds it to the key it computes under.
EXECUTION_ID_TAG = "__execution_id"
#: On a metric read back with a trace: where it was found ("db+trace", "db", "trace").
ORIGIN_TAG = "__origin"


class DQXError(Exception):
    """Root of every error dqx raises on purpose.

    Its message passes through :func:`~dqx.redaction.redact` once, here: a URL's
    password or a webhook's token never rides on an error, whoever logs or prints it.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class DefinitionError(DQXError):
    """A check, metric or data source was declared wrongly; raised before any scan."""

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        column: str | None = None,
        check: str | None = None,
        metric: str | None = None,
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.column = column
        self.check = check
        self.metric = metric


class ComputeError(DQXError):
    """The engine failed while computing a batch of metrics."""


class StoreError(DQXError):
    """The metric database could not be read or written."""


class PersistError(StoreError):
    """A run's metrics, or its final run record, could not be written to the database.

    The run itself finished: its results are on ``result`` (the run's SuiteResult) and
    every metric and assertion was emitted as a span event, so the trace holds the
    record and ``reconcile(...).recover(db)`` writes it back.
    """

    def __init__(self, message: str, *, execution_id: str, result: Any = None) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.result = result


class TraceReadError(DQXError):
    """A trace could not be fetched from its back-end or could not be parsed."""


class SuiteStateError(DQXError):
    """A suite was asked to do something its state does not allow (run twice)."""


class InvalidExecutionIdError(DQXError, ValueError):
    """An execution id that is not 32 hexadecimal digits (dashes allowed)."""


def validate_severity(severity: str, *, where: str) -> Severity:
    for known in SEVERITIES:
        if severity == known:
            return known
    raise DefinitionError(
        f"invalid severity {severity!r} for {where}; use one of {', '.join(SEVERITIES)}"
    )


def new_execution_id() -> str:
    """128 random bits as 32 lowercase hex digits.

    Not uuid4: its six fixed version/variant bits would make the id a poor trace id,
    and trace-id ratio sampling reads the low 64 bits.
    """
    return f"{secrets.randbits(128):032x}"


def normalize_execution_id(execution_id: str) -> str:
    """Accept the plain or dashed UUID form; return 32 lowercase hex digits."""
    if not isinstance(execution_id, str):
        raise InvalidExecutionIdError(f"execution id must be a string, got {execution_id!r}")
    text = execution_id.strip().replace("-", "").lower()
    if len(text) != 32 or any(ch not in "0123456789abcdef" for ch in text):
        raise InvalidExecutionIdError(
            f"invalid execution id {execution_id!r}: expected 32 hexadecimal digits"
        )
    return text


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace. Identity and storage use it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: Longest name (suite, check, assertion, dataset, tag key) dqx stores: every backend
#: indexes names, and PostgreSQL's index entries hold at most ~2.7 kB (4 bytes a
#: character at worst in UTF-8).
NAME_LIMIT = 256
#: Longest tag value.
TAG_VALUE_LIMIT = 1024


def checked_text(
    value: object, what: str, *, limit: int | None = NAME_LIMIT, allow_empty: bool = False
) -> str:
    """``value`` if every backend can store it; a DefinitionError naming ``what`` if not.

    One rule for SQLite and PostgreSQL alike, applied before any scan: a string, no NUL
    (PostgreSQL text and JSONB refuse it), no lone surrogate (UTF-8 cannot encode it;
    it is what undecodable bytes on a command line become), and at most ``limit``
    characters.
    """
    if not isinstance(value, str) or not (value or allow_empty):
        raise DefinitionError(f"{what} must be a non-empty string, got {value!r}")
    if "\x00" in value:
        raise DefinitionError(
            f"{what} {value!r} contains a NUL character; PostgreSQL cannot store it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DefinitionError(
            f"{what} {value!r} is not valid Unicode (a lone surrogate, as undecodable "
            "bytes become); pass UTF-8 text"
        ) from None
    if limit is not None and len(value) > limit:
        raise DefinitionError(
            f"{what} is {len(value)} characters long ({value[:40]!r}...); the limit is {limit}"
        )
    return value


def is_internal_tag(key: str) -> bool:
    return key.startswith(INTERNAL_TAG_PREFIX)


def identity_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags that partition history: the user's, without dqx's internal ones."""
    return {key: value for key, value in tags.items() if not is_internal_tag(key)}


def _freeze_tags(tags: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    if tags is None:
        return ()
    if not isinstance(tags, Mapping):
        raise DefinitionError(
            f"tags must be a mapping of names to values such as {{'env': 'prod'}}, "
            f"got {type(tags).__name__} {tags!r}"
        )
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"tag keys must be non-empty strings, got {key!r}")
        checked_text(key, "tag key")
        if is_internal_tag(key) and key != EXECUTION_ID_TAG:
            raise DefinitionError(
                f"tag key {key!r} is reserved: keys starting with {INTERNAL_TAG_PREFIX!r} "
                "are dqx's own; rename the tag"
            )
        if not isinstance(value, str):
            raise DefinitionError(f"tag {key!r} must have a string value, got {value!r}")
        checked_text(value, f"the value of tag {key!r}", limit=TAG_VALUE_LIMIT, allow_empty=True)
        if key == EXECUTION_ID_TAG and not (
            len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)
        ):
            raise DefinitionError(
                f"tag {key!r} must hold an execution id (32 lowercase hex digits), got {value!r}"
            )
    return tuple(sorted(tags.items()))


@dataclass(frozen=True, init=False)
class ResultKey:
    """The date a run is about and the tags that partition its history.

    Tags are kept as sorted items, so equality and hashing never depend on the order
    they were written in. ``run()`` adds the internal tag ``__execution_id`` to the key
    it computes under; a user's key may not carry tags starting with ``__``.
    """

    yyyy_mm_dd: dt.date
    _tags: tuple[tuple[str, str], ...]

    def __init__(self, yyyy_mm_dd: dt.date, tags: Mapping[str, str] | None = None) -> None:
        if isinstance(yyyy_mm_dd, dt.datetime) or not isinstance(yyyy_mm_dd, dt.date):
            raise DefinitionError(f"ResultKey needs a datetime.date, got {yyyy_mm_dd!r}")
        object.__setattr__(self, "yyyy_mm_dd", yyyy_mm_dd)
        object.__setattr__(self, "_tags", _freeze_tags(tags))

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._tags)

    @property
    def identity_tags(self) -> dict[str, str]:
        """The user's tags: what partitions history (the execution id does not)."""
        return identity_tags(self.tags)

    @property
    def execution_id(self) -> str | None:
        """The run this key belongs to, once ``run()`` has enriched it."""
        return dict(self._tags).get(EXECUTION_ID_TAG)

    def lag(self, days: int) -> ResultKey:
        return ResultKey(self.yyyy_mm_dd - dt.timedelta(days=days), self.tags)

    def __repr__(self) -> str:
        return f"ResultKey(yyyy_mm_dd={self.yyyy_mm_dd.isoformat()}, tags={self.tags!r})"


class _Value(Success[float]):  # type: ignore[misc]
    """A ``Success`` that also answers ``is_success()``, as users of dqx read values.

    returns marks its containers final and dropped ``is_success()``; the user's own plan
    reads values that way, so dqx hands out this subclass. It equals a plain
    ``Success`` of the same number either way round (Python asks the subclass first).
    """

    __slots__ = ()

    def is_success(self) -> bool:
        return True

    def is_failure(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Success) and bool(self._inner_value == other._inner_value)

    def __hash__(self) -> int:
        return hash(self._inner_value)


class _NoValue(Failure[str]):  # type: ignore[misc]
    """A ``Failure`` carrying the reason, answering ``is_success()`` with False."""

    __slots__ = ()

    def is_success(self) -> bool:
        return False

    def is_failure(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Failure) and bool(self._inner_value == other._inner_value)

    def __hash__(self) -> int:
        return hash(self._inner_value)


def _readable(value: Result[float, str]) -> Result[float, str]:
    """``value`` as the Result users get: ``.unwrap()``, ``.value_or()``, ``.is_success()``."""
    match value:
        case _Value() | _NoValue():
            return value
        case Success(number):
            return _Value(number)
        case Failure(reason):
            return _NoValue(reason)
    raise TypeError(f"expected a returns Result, got {type(value).__name__}")


@dataclass(frozen=True)
class SymbolInfo:
    """One metric value as a user reads it back: named, dated, tagged.

    ``value`` is a ``returns`` Result: ``Success(float)`` or ``Failure(reason)``, with
    ``.unwrap()``, ``.value_or(None)`` and ``.is_success()``.
    """

    name: str
    metric: str
    dataset: str | None
    value: Result[float, str]
    yyyy_mm_dd: dt.date
    tags: dict[str, str] = field(default_factory=dict)
    # After the plan's six fields, so a positional call as the plan writes it never
    # puts the tags into the suite.
    suite: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _readable(self.value))


@dataclass(frozen=True)
class AssertionResult:
    """The outcome of one assertion in one run.

    ``value`` is a ``returns`` Result as on :class:`SymbolInfo`; a Failure carries the
    reason no number could be computed (status ERROR) or why the assertion was not
    judged (status SKIPPED). An ``is_not_anomalous`` assertion also carries the band
    its history expected (``band``: low, high) and its value's ``score`` against it.
    """

    yyyy_mm_dd: dt.date
    suite: str
    check: str
    assertion: str
    severity: Severity
    status: AssertionStatus
    value: Result[float, str]
    expression: str
    tags: dict[str, str]
    execution_id: str
    bound: str = ""
    band: tuple[float, float] | None = None
    score: float | None = None
    #: The datasets the assertion's metrics read (lineage attaches it to each).
    datasets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _readable(self.value))

    @property
    def message(self) -> str:
        """The reason for an ERROR or a SKIPPED, empty otherwise."""
        match self.value:
            case Failure(reason):
                return str(reason)
            case _:
                return ""

    @property
    def number(self) -> float | None:
        match self.value:
            case Success(number):
                return float(number)
            case _:
                return None
