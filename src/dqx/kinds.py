"""Every metric kind dqx knows, found by its ``kind`` name.

There is no registry to fill or reset: a kind is a subclass of
:class:`~dqx.specs.Spec` with a ``kind`` attribute, and the class hierarchy itself is
searched. A kind defined anywhere (a plugin package, a test module) is found while
its class exists; two live classes claiming one kind name are an error.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from dqx.common import DefinitionError, canonical_json
from dqx.extended import ExtendedSpec
from dqx.specs import MetricSpec, Spec

__all__ = ["AnySpec", "spec_class", "spec_from_parameters"]

#: Any metric a run can use: computed by SQL, or from a base metric's values.
AnySpec = MetricSpec | ExtendedSpec


def _kinds(root: type[Spec]) -> dict[str, list[type[Spec]]]:
    found: dict[str, list[type[Spec]]] = {}
    pending = list(root.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            found.setdefault(kind, []).append(cls)
    return found


def spec_class(kind: str) -> type[Spec]:
    """The class of metric kind ``kind``."""
    classes = _kinds(Spec).get(kind, [])
    if not classes:
        known = ", ".join(sorted(_kinds(Spec)))
        raise DefinitionError(f"unknown metric kind {kind!r}; known kinds: {known}")
    if len(classes) > 1:
        names = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
        raise DefinitionError(f"metric kind {kind!r} is claimed by several classes: {names}")
    return classes[0]


def spec_from_parameters(kind: str, parameters: dict[str, Any]) -> AnySpec:
    """Rebuild a spec from its stored (kind, parameters); the inverse of ``identity``."""
    # Stored metrics are read back in bulk and custom_sql parses each time: cache by
    # the canonical text, which is also what identity compares.
    return _spec_from_text(kind, canonical_json(parameters))


@functools.lru_cache(maxsize=4096)
def _spec_from_text(kind: str, parameters_json: str) -> AnySpec:
    parameters = json.loads(parameters_json)
    cls = spec_class(kind)
    try:
        if issubclass(cls, ExtendedSpec):
            base = spec_from_parameters(parameters["metric"], parameters["parameters"])
            if not isinstance(base, MetricSpec):
                raise DefinitionError(f"{kind} of {base.name}: the base must be a plain metric")
            return cls.from_parameters(parameters, base)
        if issubclass(cls, MetricSpec):
            return cls.from_parameters(parameters)
    except (KeyError, TypeError, ValueError) as exc:
        raise DefinitionError(
            f"stored metric of kind {kind!r} has unusable parameters {parameters_json}: {exc!r}"
        ) from exc
    raise DefinitionError(f"metric kind {kind!r} ({cls.__qualname__}) cannot be rebuilt")
