"""The OpenLineage run event as JSON Schema (draft 2020-12), for validating what dqx sends.

The OpenLineage Python client ships generated classes, not the spec's JSON Schema files,
so the parts of the spec a dqx event uses are written out here from the spec: the core
``RunEvent`` of spec 2-0-2 (``BaseEvent``, ``Run``, ``Job``, ``InputDataset``,
``BaseFacet``) and the facets dqx sends (``NominalTimeRunFacet``,
``DataQualityMetricsInputDatasetFacet``, ``DataQualityAssertionsDatasetFacet``) and the
``TagsRunFacet`` the client itself adds. The
``dqx_trace`` facet's schema is the one dqx ships (``dqx.lineage.trace_facet_schema``).
Each facet is checked against the schema its ``_schemaURL`` names, as a consumer would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

_URI = {"type": "string", "format": "uri", "minLength": 1}
_TIME = {"type": "string", "format": "date-time"}

BASE_FACET: dict[str, Any] = {
    "type": "object",
    "properties": {"_producer": _URI, "_schemaURL": _URI},
    "required": ["_producer", "_schemaURL"],
    "additionalProperties": True,
}

RUN_EVENT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "BaseFacet": BASE_FACET,
        "Run": {
            "type": "object",
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
            },
            "required": ["runId"],
        },
        "Job": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
            },
            "required": ["namespace", "name"],
        },
        "InputDataset": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
                "inputFacets": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/BaseFacet"},
                },
            },
            "required": ["namespace", "name"],
        },
    },
    "type": "object",
    "properties": {
        "eventTime": _TIME,
        "producer": _URI,
        "schemaURL": _URI,
        "eventType": {
            "type": "string",
            "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"],
        },
        "run": {"$ref": "#/$defs/Run"},
        "job": {"$ref": "#/$defs/Job"},
        "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
        "outputs": {"type": "array"},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}

NOMINAL_TIME: dict[str, Any] = {
    "allOf": [BASE_FACET],
    "type": "object",
    "properties": {"nominalStartTime": _TIME, "nominalEndTime": _TIME},
    "required": ["nominalStartTime"],
}

DATA_QUALITY_METRICS: dict[str, Any] = {
    "allOf": [BASE_FACET],
    "type": "object",
    "properties": {
        "rowCount": {"type": "integer"},
        "bytes": {"type": "integer"},
        "fileCount": {"type": "integer"},
        "lastUpdated": _TIME,
        "columnMetrics": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "nullCount": {"type": "integer"},
                    "distinctCount": {"type": "integer"},
                    "sum": {"type": "number"},
                    "count": {"type": "number"},
                    "min": {"type": "number"},
                    "max": {"type": "number"},
                    "quantiles": {"type": "object", "additionalProperties": {"type": "number"}},
                },
                "additionalProperties": False,
            },
        },
    },
    "required": ["columnMetrics"],
}

DATA_QUALITY_ASSERTIONS: dict[str, Any] = {
    "allOf": [BASE_FACET],
    "type": "object",
    "properties": {
        "assertions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "assertion": {"type": "string"},
                    "success": {"type": "boolean"},
                    "column": {"type": "string"},
                    "severity": {"type": "string"},
                },
                "required": ["assertion", "success"],
            },
        }
    },
    "required": ["assertions"],
}

TAGS_RUN: dict[str, Any] = {
    "allOf": [BASE_FACET],
    "type": "object",
    "properties": {
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "value": {"type": "string"},
                    "source": {"type": "string"},
                },
                "required": ["key", "value"],
            },
        }
    },
}

#: The facet schemas by the name their ``_schemaURL`` gives them (its last path part).
FACETS = {
    "NominalTimeRunFacet.json": NOMINAL_TIME,
    "DataQualityMetricsInputDatasetFacet.json": DATA_QUALITY_METRICS,
    "DataQualityAssertionsDatasetFacet.json": DATA_QUALITY_ASSERTIONS,
    # The client adds its own version as a run tag to every event it sends.
    "TagsRunFacet.json": TAGS_RUN,
}

_FORMATS = FormatChecker()


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    # The dashed form only: uuid.UUID also takes 32 bare digits and braces.
    return not isinstance(value, str) or str(uuid.UUID(value)) == value


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    moment = dt.datetime.fromisoformat(value)
    return "T" in value and moment.tzinfo is not None


@_FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    # RFC 3986: a scheme, a colon, something after it.
    if not isinstance(value, str):
        return True
    scheme, colon, rest = value.partition(":")
    return bool(colon and rest and scheme[:1].isalpha() and scheme.replace("+", "").isalnum())


def errors(document: Any, schema: dict[str, Any]) -> list[str]:
    """Every way ``document`` breaks ``schema``, formats included."""
    validator = Draft202012Validator(schema, format_checker=_FORMATS)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
