"""Saved index blobs: arrays back as they went in, views not copies, bad blobs refused."""

from __future__ import annotations

import io

import numpy as np
import pytest

from remem.store import blobs


def test_arrays_come_back_equal_aligned_and_read_only() -> None:
    arrays = {"a": np.arange(7, dtype=np.int8), "b": np.linspace(0, 1, 12, dtype=np.float32)
              .reshape(3, 4), "c": np.array([2**40], dtype=np.int64),
              "empty": np.zeros((0, 5), np.uint64), "f16": np.ones(3, np.float16)}
    out = blobs.unpack(blobs.pack(arrays))
    assert list(out) == list(arrays)
    for k, v in arrays.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape and np.array_equal(out[k], v)
        assert not out[k].flags.writeable and out[k].ctypes.data % 16 == 0 or not out[k].size


def test_old_savez_blobs_are_still_read() -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.arange(5), y=np.ones((2, 2), np.float32))
    out = blobs.unpack(buf.getvalue())
    assert np.array_equal(out["x"], np.arange(5)) and out["y"].shape == (2, 2)


@pytest.mark.parametrize("blob", [
    b"", b"garbage", blobs.MAGIC + b"\xff\xff\xff\x7f{}", blobs.MAGIC + b"\x02\x00\x00\x00[1",
    blobs.MAGIC + b'\x07\x00\x00\x00{"x":1}'])
def test_malformed_blobs_raise_value_errors(blob: bytes) -> None:
    with pytest.raises(ValueError):
        blobs.unpack(blob)


def test_a_truncated_blob_and_object_arrays_are_refused() -> None:
    blob = blobs.pack({"x": np.arange(1000, dtype=np.int64)})
    with pytest.raises(ValueError, match="past the end"):
        blobs.unpack(blob[:-8])
    with pytest.raises(TypeError):
        blobs.pack({"x": np.array(["a", None], dtype=object)})
    forged = blob.replace(b'"<i8"', b'"|O" ')
    with pytest.raises(ValueError):
        blobs.unpack(forged)
