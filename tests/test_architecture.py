"""The package's shape, as docs/architecture.md draws it, checked on the source itself.

Every module sits in one of seven layers; a module imports only from its own layer or
the ones below, the imports form no cycle, no module passes 500 lines and no
function 60. Imports are read from the source (module level, inside functions and
under TYPE_CHECKING alike), so a dependency cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dqx"

#: The layers, bottom first; docs/architecture.md explains each.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"dqx.common", "dqx.redaction", "dqx.runlog"}),
    (
        "vocabulary",
        {
            "dqx.specs",
            "dqx.shapes",
            "dqx.custom_sql",
            "dqx.extended",
            "dqx.kinds",
            "dqx.datasource",
            "dqx.sources",
            "dqx.bind_values",
            "dqx.sources.base",
            "dqx.sources.duck",
            "dqx.sources.postgres",
            "dqx.sources.spark",
            "dqx.config",
            "dqx.links",
            "dqx.humanize",
            "dqx.anomaly",
            "dqx.telemetry.tracing",
            "dqx.telemetry.attributes",
            "dqx.traces.model",
            "dqx.orm.types",
        },
    ),
    (
        "language and records",
        {
            "dqx.provider",
            "dqx.checks",
            "dqx.evaluator",
            "dqx.records",
            "dqx.events",
            "dqx.telemetry",
            "dqx.telemetry.sdk",
            "dqx.telemetry.metering",
            "dqx.traces.otlp_json",
            "dqx.traces.jaeger_json",
            "dqx.traces.memory",
            "dqx.traces.otlp_file",
            "dqx.traces.files",
            "dqx.traces.http",
            "dqx.traces.record",
            "dqx.orm.models",
            "dqx.orm.schema",
            "dqx.orm.migrations",
            "dqx.orm.migrations.env",
            "dqx.orm.migrations.versions",
            "dqx.orm.migrations.versions.r0001_initial",
            "dqx.orm.migrations.versions.r0002_run_outcome",
            "dqx.orm.migrations.versions.r0003_statements",
            "dqx.orm.migrations.versions.r0004_history_inputs",
        },
    ),
    (
        "engine and store",
        {
            "dqx.analyzer",
            "dqx.planner",
            "dqx.orm",
            "dqx.orm.engines",
            "dqx.orm.rows",
            "dqx.orm.baselines",
            "dqx.orm.repositories",
            "dqx.plugins",
            "dqx.traces",
            "dqx.alerts",
            "dqx.lineage",
        },
    ),
    (
        "phases and readers",
        {
            "dqx.plan",
            "dqx.history",
            "dqx.execution",
            "dqx.values",
            "dqx.data",
            "dqx.diff",
            "dqx.diff.pairing",
            "dqx.diff.result",
            "dqx.series",
            "dqx.prerequisites",
            "dqx.reevaluation",
            "dqx.backfill",
        },
    ),
    ("conductor and presentation", {"dqx", "dqx.api", "dqx.display", "dqx.demo", "dqx.report"}),
    ("command line and orchestrators", {"dqx.cli", "dqx.integrations"}),
]
#: Sub-packages whose every module shares the package's layer.
PACKAGES_AS_ONE = ("dqx.alerts", "dqx.cli", "dqx.integrations", "dqx.lineage", "dqx.report")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _layer_of(module: str) -> int:
    for prefix in PACKAGES_AS_ONE:
        if module == prefix or module.startswith(prefix + "."):
            module = prefix
    for index, (_, members) in enumerate(LAYERS):
        if module in members:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name for name in names if name in modules)
    found.discard(_module_name(path))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def test_every_module_is_in_one_of_at_most_seven_layers() -> None:
    assert len(LAYERS) <= 7
    for module in _modules():
        _layer_of(module)


def test_no_import_points_up_the_layers() -> None:
    upward = [
        f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
        f"({LAYERS[_layer_of(target)][0]})"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if _layer_of(target) > _layer_of(module)
    ]
    assert upward == []


def test_the_imports_form_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = " -> ".join((*path[path.index(module) :], module))
            pytest.fail(f"import cycle: {cycle}")
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=_module_name)
def test_modules_stay_under_500_lines_and_functions_under_60(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 500, f"{path.name} has {len(text.splitlines())} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []
