"""Reading a trace from OTLP JSON-lines files, as the Collector's ``file`` exporter writes.

One ``TracesData`` document a line. A path may be a file (its rotated siblings are read
too: ``traces-2024-01-02T15-04-05.000.jsonl`` as the Collector rotates,
``traces.jsonl.1`` as logrotate does, either gzipped), a directory (every file in it) or
a glob pattern. Gzip is recognised by its magic bytes, whatever the file is called.
"""

from __future__ import annotations

import base64
import glob
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from dqx.common import TraceReadError
from dqx.traces.model import JSON_DECODER, Trace, TraceSpan, normalize_trace_id
from dqx.traces.otlp_json import spans_from_otlp_json

__all__ = ["OTLPFileTraceSource"]

_GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = frozenset("*?[")

PathArg = str | os.PathLike[str]


def _rotated_siblings(path: Path) -> list[Path]:
    """Backups of ``path`` made by the Collector (``stem-<time>suffix``) or logrotate."""
    if not path.parent.is_dir():
        return []
    name = path.name
    base = Path(name.removesuffix(".gz"))  # traces.jsonl.gz rotates like traces.jsonl
    stem, suffix = base.stem, base.suffix
    siblings = []
    for candidate in path.parent.iterdir():
        other = candidate.name
        if other == name or not candidate.is_file():
            continue
        plain = other.removesuffix(".gz")
        collector = plain.startswith(f"{stem}-") and plain.endswith(suffix)
        logrotate = plain.startswith(f"{base.name}.")
        if collector or logrotate:
            siblings.append(candidate)
    return sorted(siblings)


def _open(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


class OTLPFileTraceSource:
    """Traces in OTLP JSON-lines files (plain or gzipped, rotated ones included)."""

    def __init__(self, path: PathArg | Sequence[PathArg]) -> None:
        if isinstance(path, str | os.PathLike):
            self._paths: tuple[str, ...] = (os.fspath(path),)
        else:
            self._paths = tuple(os.fspath(p) for p in path)
        if not self._paths:
            raise TraceReadError("OTLPFileTraceSource needs at least one path")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._paths)!r})"

    def files(self) -> list[Path]:
        """The files a lookup reads now: rotation may have added some since the last one."""
        found: dict[Path, None] = {}
        for text in self._paths:
            if any(ch in _GLOB_CHARS for ch in text):
                matches = [Path(p) for p in sorted(glob.glob(text))]
                found.update((p, None) for p in matches if p.is_file())
                continue
            path = Path(text)
            if path.is_dir():
                found.update((p, None) for p in sorted(path.iterdir()) if p.is_file())
                continue
            if path.is_file():
                found[path] = None
            found.update((p, None) for p in _rotated_siblings(path))
        if not found:
            raise TraceReadError(
                f"no OTLP trace file at {', '.join(self._paths)}: configure the exporter "
                "(telemetry.configure(exporter='file', path=...)) or the Collector's file "
                "exporter to write there"
            )
        return list(found)

    def _lines(self, path: Path) -> Iterator[tuple[int, str]]:
        try:
            with _open(path) as handle:
                yield from enumerate(handle, start=1)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise TraceReadError(f"cannot read trace file {path}: {exc}") from exc

    def get_trace(self, trace_id: str) -> Trace | None:
        trace_id = normalize_trace_id(trace_id)
        # Only lines mentioning the id are parsed: files hold every run, and the id
        # is written in hex (OTLP/JSON) or base64 (protobuf JSON) inside any span of it.
        needles = (
            trace_id,
            trace_id.upper(),
            base64.b64encode(bytes.fromhex(trace_id)).decode("ascii"),
        )
        files = self.files()
        spans: list[TraceSpan] = []
        for path in files:
            for number, line in self._lines(path):
                if not any(needle in line for needle in needles):
                    continue
                where = f"{path}:{number}"
                try:
                    document = JSON_DECODER.decode(line)
                except json.JSONDecodeError as exc:
                    raise TraceReadError(f"{where}: not a line of OTLP JSON: {exc}") from exc
                spans.extend(spans_from_otlp_json(document, where=where))
        trace = Trace.of(trace_id, spans, origin=", ".join(str(p) for p in files))
        return trace if trace.spans else None
