"""Reading a trace from OTLP JSON-lines files, as the Collector's ``file`` exporter writes.

One ``TracesData`` document a line; a file the Collector's exporter (or dqx's, with
metrics on) also writes metrics or logs to holds ``MetricsData`` and ``LogsData`` lines
between them, which are skipped (an exemplar names the run's trace id too). A path may
be a file (its rotated siblings are read too:
``traces-2024-01-02T15-04-05.000.jsonl`` as the Collector rotates, ``traces.jsonl.1``
as logrotate does, gzipped or compressed with zstd), a directory (every file in it) or
a glob pattern. What a file holds is recognised by its first bytes, whatever it is
called:

* gzip or zstd over the whole file (logrotate's compression): lines inside;
* the Collector's own ``compression: zstd``: no lines but one record per export, a
  4-byte big-endian length then a zstd frame of the JSON document; its
  ``format: proto`` writes the same records with protobuf inside, compressed or not.
"""

from __future__ import annotations

import base64
import glob
import gzip
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dqx.common import TraceReadError
from dqx.traces.model import JSON_DECODER, Trace, TraceSpan, normalize_trace_id
from dqx.traces.otlp_json import spans_from_otlp_json

__all__ = ["OTLPFileTraceSource"]

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A TracesData message starts with field 1 (resource_spans), length-delimited.
_PROTO_START = b"\x0a"
#: A record longer than this is taken as a sign the file is not one of records.
_MOST_RECORD_BYTES = 1 << 30
_GLOB_CHARS = frozenset("*?[")

PathArg = str | os.PathLike[str]


def _rotated_siblings(path: Path) -> list[Path]:
    """Backups of ``path`` made by the Collector (``stem-<time>suffix``) or logrotate."""
    if not path.parent.is_dir():
        return []
    name = path.name
    base = Path(_uncompressed(name))  # traces.jsonl.gz rotates like traces.jsonl
    stem, suffix = base.stem, base.suffix
    siblings = []
    for candidate in path.parent.iterdir():
        other = candidate.name
        if other == name or not candidate.is_file():
            continue
        plain = _uncompressed(other)
        collector = plain.startswith(f"{stem}-") and plain.endswith(suffix)
        logrotate = plain.startswith(f"{base.name}.")
        if collector or logrotate:
            siblings.append(candidate)
    return sorted(siblings)


def _uncompressed(name: str) -> str:
    return name.removesuffix(".gz").removesuffix(".zst")


def _open(path: Path, head: bytes) -> IO[str]:
    """A file of lines, plain or compressed whole."""
    if head.startswith(_GZIP_MAGIC):
        return gzip.open(path, "rt", encoding="utf-8")
    if head.startswith(_ZSTD_MAGIC):
        import zstandard

        # read_across_frames: logrotate and zstd(1) may append several frames.
        raw = zstandard.ZstdDecompressor().stream_reader(path.open("rb"), read_across_frames=True)
        return io.TextIOWrapper(raw, encoding="utf-8")
    return path.open("r", encoding="utf-8")


def _is_records(head: bytes) -> bool:
    """Whether a file starts as the Collector's length-prefixed records do."""
    # A gzip header read as a record prefix is a plausible length (0x1f8b08.., some
    # 500 MB) followed by the MTIME field, whose low byte is 0x0a (a protobuf start)
    # for one second in 256: compressed whole is decided first. A first record of
    # 500 MB or more is no Collector export.
    if len(head) < 5 or head.startswith((_GZIP_MAGIC, _ZSTD_MAGIC)):
        return False
    size = int.from_bytes(head[:4], "big")
    return 0 < size < _MOST_RECORD_BYTES and (head[4:8] == _ZSTD_MAGIC or head[4:5] == _PROTO_START)


def _records(handle: IO[bytes], path: Path) -> Iterator[tuple[int, bytes]]:
    """Each record's payload, decompressed, with its number."""
    number = 0
    while size_bytes := handle.read(4):
        number += 1
        size = int.from_bytes(size_bytes, "big")
        payload = handle.read(size)
        if len(size_bytes) < 4 or len(payload) < size:
            # The collector is still writing this record: the next lookup reads it.
            return
        if payload.startswith(_ZSTD_MAGIC):
            payload = _unzstd(payload, f"{path}, record {number}")
        yield number, payload


def _unzstd(frame: bytes, where: str) -> bytes:
    import zstandard

    try:
        # A frame may not say its size (a streaming writer's): read it as a stream.
        return zstandard.ZstdDecompressor().decompressobj().decompress(frame)
    except zstandard.ZstdError as exc:
        raise TraceReadError(f"{where}: not a zstd frame: {exc}") from exc


def _document(payload: bytes, where: str) -> Any:
    """The TracesData a record holds, JSON or protobuf, as a JSON-mapped document."""
    if payload.lstrip()[:1] == b"{":
        try:
            return JSON_DECODER.decode(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TraceReadError(f"{where}: not a record of OTLP JSON: {exc}") from exc
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    try:
        return MessageToDict(TracesData.FromString(payload))
    except DecodeError as exc:
        raise TraceReadError(f"{where}: not a record of OTLP protobuf: {exc}") from exc


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

    def _documents(self, path: Path, trace_id: str) -> Iterator[tuple[str, Any]]:
        """The documents of ``path`` that mention ``trace_id``, with where each is.

        Only those are parsed: files hold every run, and the id is written in hex
        (OTLP/JSON), base64 (protobuf JSON) or as its bytes (protobuf) in any span.
        """
        raw = bytes.fromhex(trace_id)
        needles = (trace_id, trace_id.upper(), base64.b64encode(raw).decode("ascii"))
        try:
            with path.open("rb") as handle:
                head = handle.read(8)
                if _is_records(head):
                    handle.seek(0)
                    byte_needles = (*(n.encode() for n in needles), raw)
                    for number, payload in _records(handle, path):
                        if any(needle in payload for needle in byte_needles):
                            where = f"{path}, record {number}"
                            yield where, _document(payload, where)
                    return
            with _open(path, head) as lines:
                for number, line in enumerate(lines, start=1):
                    if any(needle in line for needle in needles):
                        yield f"{path}:{number}", _line_document(line, f"{path}:{number}")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise TraceReadError(f"cannot read trace file {path}: {exc}") from exc

    def get_trace(self, trace_id: str) -> Trace | None:
        trace_id = normalize_trace_id(trace_id)
        files = self.files()
        spans: list[TraceSpan] = []
        for path in files:
            for where, document in self._documents(path, trace_id):
                if not _other_signal(document):
                    spans.extend(spans_from_otlp_json(document, where=where))
        trace = Trace.of(trace_id, spans, origin=", ".join(str(p) for p in files))
        return trace if trace.spans else None


def _other_signal(document: Any) -> bool:
    """Whether a document holds metrics or logs, not spans."""
    return isinstance(document, dict) and (
        "resourceMetrics" in document or "resourceLogs" in document
    )


def _line_document(line: str, where: str) -> Any:
    try:
        return JSON_DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise TraceReadError(f"{where}: not a line of OTLP JSON: {exc}") from exc
