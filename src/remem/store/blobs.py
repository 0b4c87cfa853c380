"""Named numpy arrays as one blob, read back without copying (the stores' saved search
indexes). Plain arrays only: no pickle, nothing executable.

Layout: ``REMEMARR1`` magic, a little-endian uint32 header length, a JSON header
``{name: [dtype, shape, offset]}``, then each array's bytes at its offset (aligned to 16
bytes, offsets counted from the end of the header). :func:`unpack` returns read-only
``np.frombuffer`` views of the blob itself, so loading a 40 MB index costs parsing a
small header, not copying 40 MB. Blobs saved by earlier versions (``np.savez``, zip
members) are still read."""

from __future__ import annotations

import io
import json
import struct
from typing import Any, Mapping

import numpy as np

MAGIC = b"REMEMARR1"
_ALIGN = 16


def pack(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The arrays as one blob (see the module docstring)."""
    header: dict[str, list[object]] = {}
    parts: list[bytes] = []
    offset = 0
    for name, value in arrays.items():
        a = np.ascontiguousarray(value)
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; only plain dtypes pack")
        pad = (-offset) % _ALIGN
        if pad:
            parts.append(b"\0" * pad)
            offset += pad
        header[name] = [a.dtype.str, list(a.shape), offset]
        data = a.tobytes()
        parts.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((-(len(MAGIC) + 4 + len(head))) % _ALIGN)  # data starts aligned
    return b"".join([MAGIC, struct.pack("<I", len(head)), head, *parts])


def older(blob: bytes) -> bool:
    """Whether ``blob`` is in the zip form (``np.savez``) saved before this format: read
    by ``unpack`` with copies, and worth saving again."""
    return bytes(memoryview(blob)[:2]) == b"PK"


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of a :func:`pack` blob as read-only views of it (or of an old
    ``np.savez`` blob, copied). Raises ``ValueError`` on a malformed blob."""
    view = memoryview(blob)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        if older(blob):
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        raise ValueError("not a saved array blob")
    start = len(MAGIC) + 4
    if len(blob) < start:
        raise ValueError("saved array blob cut short")
    (size,) = struct.unpack_from("<I", view, len(MAGIC))
    base = start + size
    if base > len(blob):
        raise ValueError("saved array blob's header runs past its end")
    try:
        header = json.loads(bytes(view[start:base]))
        items = [(str(name), np.dtype(d), tuple(int(x) for x in shape), int(offset))
                 for name, (d, shape, offset) in header.items()]
    except (TypeError, ValueError, AttributeError) as e:  # JSON, dtype or layout
        raise ValueError(f"saved array blob has a bad header: {e}") from None
    out: dict[str, np.ndarray] = {}
    for name, dt, shape, offset in items:
        if dt.hasobject:
            raise ValueError(f"array {name!r} has an object dtype")
        count = int(np.prod(shape, dtype=np.int64))
        if offset < 0 or min(shape, default=0) < 0 \
                or base + offset + count * dt.itemsize > len(blob):
            raise ValueError(f"array {name!r} runs past the end of the blob")
        out[name] = np.frombuffer(blob, dtype=dt, count=count,
                                  offset=base + offset).reshape(shape)
    return out


def json_array(value: Any) -> np.ndarray:
    """A JSON value (ids, names) as a byte array that packs (``json_value`` reads it)."""
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def json_value(data: np.ndarray) -> Any:
    """The inverse of ``json_array``."""
    return json.loads(data.tobytes().decode())
