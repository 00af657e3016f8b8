"""Train one work unit, and carry its result across a process boundary without pickle.

run_unit(unit) is what every executor calls, in this process, in a spawned worker or on a
Dask worker. Its UnitResult holds the unit's tables (columns for Store.write_unit) and
timings; to_bytes()/from_bytes() turn it into Arrow IPC streams and a JSON header, so a
result never runs code when it is read.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .plan import Unit


@dataclass
class UnitResult:
    experiment_id: int
    index: int
    tables: dict[str, dict[str, object]]  # table -> column -> 1-D or 2-D array / list
    device: str
    train_seconds: float
    worker: str

    def meta(self) -> dict:
        return {"device": self.device, "train_seconds": self.train_seconds,
                "worker": self.worker}

    # -- transport ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        header = {"experiment_id": self.experiment_id, "index": self.index,
                  "device": self.device, "train_seconds": self.train_seconds,
                  "worker": self.worker, "tables": list(self.tables)}
        _frame(out, json.dumps(header).encode())
        for cols in self.tables.values():
            table = pa.table({name: _to_arrow(v) for name, v in cols.items()})
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            _frame(out, sink.getvalue())
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> UnitResult:
        view = memoryview(data)
        header, pos = _unframe(view, 0)
        head = json.loads(bytes(header))
        tables = {}
        for name in head.pop("tables"):
            blob, pos = _unframe(view, pos)
            table = pa.ipc.open_stream(blob).read_all()
            tables[name] = {c: _from_arrow(table.column(c)) for c in table.column_names}
        return cls(tables=tables, **head)


def run_unit(unit: Unit, progress: Callable | None = None,
             cancel: Callable[[], bool] | None = None) -> UnitResult:
    """Train the unit's runs; raises train.Cancelled when cancel() turns true."""
    from .device import resolve_device
    from .families import family
    fam = family(unit.family)
    device = resolve_device(unit.device)
    runs = fam.runs_of(unit.config, unit.run_indices, unit.inputs)
    t0 = time.perf_counter()
    tables = fam.train(runs, device, progress, cancel)
    return UnitResult(unit.experiment_id, unit.index, tables, device,
                      time.perf_counter() - t0, f"{socket.gethostname()}:{os.getpid()}")


def _frame(out: io.BytesIO, blob: bytes) -> None:
    out.write(struct.pack("<Q", len(blob)))
    out.write(blob)


def _unframe(view: memoryview, pos: int) -> tuple[memoryview, int]:
    (size,) = struct.unpack_from("<Q", view, pos)
    start = pos + 8
    return view[start:start + size], start + size


def _to_arrow(values: object) -> pa.Array:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        rows, width = values.shape
        flat = pa.array(np.ascontiguousarray(values).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, width) if width else \
            pa.array([[] for _ in range(rows)], type=pa.list_(flat.type))
    if isinstance(values, np.ndarray):
        return pa.array(values)
    return pa.array(list(values))


def _from_arrow(column: pa.ChunkedArray) -> object:
    array = column.combine_chunks()
    if pa.types.is_fixed_size_list(array.type):
        width = array.type.list_size
        return array.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.to_pylist()
    return array.to_numpy(zero_copy_only=False)
