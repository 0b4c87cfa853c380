"""Build the "quality" embedder's ONNX graph (all-mpnet-base-v2, 8-bit) from the original
``model.safetensors`` with numpy and ``onnx`` only: no torch, no exporter.

The graph is written op by op from the MPNet architecture (as in Hugging Face's
``modeling_mpnet``) plus sentence-transformers' mean pooling and L2 normalisation:

* embeddings: word table (int8, one scale per row, dequantized after the ``Gather``) +
  learned positions (``padding_idx`` + 1 + index of the attended token) -> LayerNorm;
* one attention bias for all layers: the relative-position bias (32 log-spaced buckets,
  bidirectional, max distance 128; a table per relative distance, gathered by
  ``j - i``) plus the padding mask;
* 12 post-norm layers: Q/K/V/O and both FFN matrices as ``MatMulNBits`` (8 bit, blocks
  of 32 along the input dimension, symmetric: the default zero point 128, one float32
  scale per block), erf-GELU (``com.microsoft.Gelu``), ``LayerNormalization``;
* masked mean pooling and L2 normalisation inside the graph.

:func:`build_rowwise` makes the faster variant (``remem model install quality
--rowwise``): every linear layer as ``MatMulIntegerToFloat`` with uint8 activations, one
scale per token row (GELU outputs shifted by +0.17 to use all 256 levels), per-output
int8 weights, and up to 8 outlier input channels per layer (found on calibration texts
with the float32 graph) multiplied in float32: MiniLM's recipe (``scripts/export_onnx.py``).

Inputs ``input_ids`` and ``attention_mask`` (int64, batch x sequence); output
``sentence_embedding`` (float32, batch x 768, unit rows). Positions come from the
attention mask, so padding ids do not matter. ``accuracy_level=4`` lets onnxruntime
quantize activations to int8 per row and block of 32, so rows never influence each
other (batch-invariant). onnxruntime's ``quantize_dynamic`` is not used: its
per-tensor activation scales break mpnet (cosine to the original 0.68-0.92).
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from pathlib import Path
from typing import Any, Iterator

import numpy as np

HIDDEN, HEADS = 768, 12  # all-mpnet-base-v2
BLOCK = 32
BUCKETS, MAX_DISTANCE = 32, 128
LN_EPS = 1e-5
PAD_ID = 1  # mpnet's padding_idx: positions start at PAD_ID + 1
OPSET = 18
ROW_OPSET = 21  # blocked QuantizeLinear (one block = one whole row)
GELU_SHIFT = 0.17  # erf-GELU(x) >= -0.16997, so GELU + 0.17 > 0
OUTLIER_RATIO = 3.0  # a channel whose calibration peak is >= 3x the median channel's ...
MAX_OUTLIERS = 8  # ... is multiplied in float32 (at most this many per linear input)
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class SafeTensors:
    """Read-only, memory-mapped tensors of a ``.safetensors`` file (numpy only)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        (size,) = struct.unpack("<Q", self._map[:8])
        header = json.loads(self._map[8:8 + size])
        header.pop("__metadata__", None)
        self._header: dict[str, Any] = header
        self._base = 8 + size

    def __contains__(self, name: str) -> bool:
        return name in self._header

    def __getitem__(self, name: str) -> np.ndarray:
        info = self._header[name]
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        count = (end - start) // np.dtype(dtype).itemsize
        array = np.frombuffer(self._map, dtype=dtype, count=count, offset=self._base + start)
        return array.reshape(info["shape"]).astype(np.float32 if dtype != np.int64 else dtype)

    def close(self) -> None:
        self._map.close()
        self._file.close()


def relative_buckets(distance: np.ndarray) -> np.ndarray:
    """MPNet's bucket of each relative position ``j - i`` (``relative_position_bucket``
    with 32 buckets, max distance 128, computed in float32 as torch does)."""
    n = -distance.astype(np.int64)
    half = BUCKETS // 2
    ret = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    with np.errstate(divide="ignore"):
        scaled = (np.log(n.astype(np.float32) / np.float32(exact))
                  / np.float32(math.log(MAX_DISTANCE / exact)) * np.float32(half - exact))
    large = exact + np.where(n < exact, 0, scaled).astype(np.int64)
    large = np.minimum(large, half - 1)
    return ret + np.where(n < exact, n, large)


def quantize_blocks(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``MatMulNBits`` 8-bit symmetric blocks of a torch ``Linear`` weight (out x in):
    returns (uint8 [out, in/32, 32] with zero point 128, float32 scales [out * in/32])."""
    n, k = weight.shape
    assert k % BLOCK == 0, "input dimension must be a multiple of the block size"
    blocks = weight.reshape(n, k // BLOCK, BLOCK).astype(np.float32)
    scales = np.abs(blocks).max(axis=2) / 127.0
    scales = np.where(scales == 0, 1.0, scales).astype(np.float32)
    q = np.clip(np.rint(blocks / scales[:, :, None]), -127, 127).astype(np.int16) + 128
    return q.astype(np.uint8), scales.reshape(-1)


def quantize_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows with one float32 scale each (the word-embedding table)."""
    scales = np.abs(table).max(axis=1, keepdims=True) / 127.0
    scales = np.where(scales == 0, 1.0, scales).astype(np.float32)
    return np.clip(np.rint(table / scales), -127, 127).astype(np.int8), scales


def _input_key(prefix: str) -> str:
    """Which activation a linear layer reads, e.g. ``layer3.attn`` for Q, K and V of
    ``encoder.layer.3`` (they share one input), ``layer3.down`` for the FFN output."""
    parts = prefix.split(".")
    role = parts[-2] if parts[-1] == "dense" else parts[-1]
    return f"layer{parts[2]}." + {"q": "attn", "k": "attn", "v": "attn", "o": "o",
                                  "intermediate": "ffn", "output": "down"}[role]


def layer_count(weights: SafeTensors) -> int:
    n = 0
    while f"encoder.layer.{n}.attention.attn.q.weight" in weights:
        n += 1
    return n


def build(weights_path: Path, *, quantize: bool = True, heads: int = HEADS,
          max_positions: int = 512, rowwise: dict[str, list[int]] | None = None,
          taps: dict[str, str] | None = None) -> Any:
    """Return the ``onnx.ModelProto`` of the pooled, normalised encoder (hidden size and
    depth are read from the weights; ``heads`` is not in them).

    ``quantize=False`` keeps every weight in float32 (plain ``MatMul``): used to check the
    graph itself against the original model. ``rowwise`` (outlier channels per linear
    input, see :func:`build_rowwise`) replaces ``MatMulNBits`` by row-wise int8 GEMMs.
    ``taps`` is filled with the tensor name of each linear input (for calibration).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = SafeTensors(weights_path)
    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(1 << 30))

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], out: str | None = None, *, domain: str = "",
           **attrs: Any) -> str:
        out = out or f"{kind.lower()}_{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [out], domain=domain, **attrs))
        return out

    row_inputs: dict[str, tuple[str, str, str]] = {}

    def quantize_row_input(x: str, key: str, idx: list[int], shifted: bool) -> tuple[str, str, str]:
        """uint8 rows of ``x`` (one scale per token), outlier channels zeroed (and
        gathered for the float32 path); GELU outputs shifted by +GELU_SHIFT first."""
        if key in row_inputs:
            return row_inputs[key]
        extra = ""
        if idx:
            mask = np.ones(hidden_of[key], np.float32)
            mask[idx] = 0.0
            extra = op("Gather", [x, const(f"{key}.outlier_idx", np.array(idx, np.int64))],
                       axis=-1)
            x = op("Mul", [x, const(f"{key}.mask", mask)])
        if shifted:
            x = op("Add", [x, "rq_shift"])
            peak = op("Max", [op("ReduceMax", [x, "axis_last"], keepdims=1), "rq_eps"])
            scale, zero = op("Mul", [peak, "rq_inv255"]), "rq_zp0"
        else:
            peak = op("Max", [op("ReduceMax", [x, "axis_last"], keepdims=1),
                              op("Neg", [op("ReduceMin", [x, "axis_last"], keepdims=1)]),
                              "rq_eps"])
            scale, zero = op("Mul", [peak, "rq_inv127"]), "rq_zp128"
        zp = op("Expand", [zero, op("Shape", [scale])])
        q = op("QuantizeLinear", [x, scale, zp], axis=-1, block_size=1 << 30)
        row_inputs[key] = (q, scale, extra)
        return row_inputs[key]

    hidden_of: dict[str, int] = {}

    def linear(x: str, prefix: str) -> str:
        w = weights[f"{prefix}.weight"]
        n, k = w.shape
        key = _input_key(prefix)
        hidden_of[key] = k
        if taps is not None:
            taps[key] = x
        bias = weights[f"{prefix}.bias"]
        if rowwise is not None:
            idx, shifted = rowwise.get(key, []), key.endswith(".down")
            q, scale, extra = quantize_row_input(x, key, idx, shifted)
            w_int = w.copy()
            w_int[:, idx] = 0.0
            w_scale = np.maximum(np.abs(w_int).max(axis=1), 1e-12) / 127  # per output
            w_q = np.clip(np.rint(w_int / w_scale[:, None]), -127, 127).astype(np.int8)
            if shifted:  # x = s*q - shift: fold -shift * rowsum(W) into the bias
                deq = w_q.astype(np.float64) * w_scale[:, None]
                bias = (bias.astype(np.float64) - GELU_SHIFT * deq.sum(axis=1)).astype(np.float32)
            y = op("MatMulIntegerToFloat",
                   [q, const(f"{prefix}.q", np.ascontiguousarray(w_q.T)), "one_f",
                    const(f"{prefix}.wscale", w_scale.astype(np.float32)),
                    "rq_zp0" if shifted else "rq_zp128"], domain="com.microsoft")
            y = op("Mul", [y, scale])
            if idx:
                y = op("Add", [y, op("MatMul", [extra, const(
                    f"{prefix}.outliers", np.ascontiguousarray(w[:, idx].T))])])
            return op("Add", [y, const(f"{prefix}.bias", bias)])
        b = const(f"{prefix}.bias", bias)
        if quantize:
            q, s = quantize_blocks(w)
            y = op("MatMulNBits", [x, const(f"{prefix}.q", q), const(f"{prefix}.scales", s)],
                   domain="com.microsoft", K=k, N=n, bits=8, block_size=BLOCK,
                   accuracy_level=4)
        else:
            y = op("MatMul", [x, const(f"{prefix}.wt", np.ascontiguousarray(w.T))])
        return op("Add", [y, b])

    def layer_norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(f"{prefix}.weight", weights[f"{prefix}.weight"]),
                                         const(f"{prefix}.bias", weights[f"{prefix}.bias"])],
                  axis=-1, epsilon=LN_EPS)

    const("axis_last", np.array([-1], np.int64))
    const("axis_0", np.array([0], np.int64))
    const("axis_1", np.array([1], np.int64))
    const("axes_1_2", np.array([1, 2], np.int64))
    const("one_i64", np.array(1, np.int64))
    const("zero_i64", np.array(0, np.int64))
    const("one_f", np.array(1.0, np.float32))
    if rowwise is not None:
        const("rq_eps", np.array(1e-12, np.float32))
        const("rq_inv127", np.array(1 / 127, np.float32))
        const("rq_inv255", np.array(1 / 255, np.float32))
        const("rq_shift", np.array(GELU_SHIFT, np.float32))
        const("rq_zp128", np.array(128, np.uint8))
        const("rq_zp0", np.array(0, np.uint8))

    # -- embeddings --------------------------------------------------------------------
    table = weights["embeddings.word_embeddings.weight"]
    if quantize:
        q, s = quantize_rows(table)
        rows = op("Gather", [const("word.q", q), "input_ids"], axis=0)
        scale = op("Gather", [const("word.scales", s), "input_ids"], axis=0)
        words = op("Mul", [op("Cast", [rows], to=TensorProto.FLOAT), scale])
    else:
        words = op("Gather", [const("word.table", table), "input_ids"], axis=0)
    positions = op("Add", [op("Mul", [op("CumSum", ["attention_mask", "one_i64"]),
                                      "attention_mask"]),
                           const("pad_id", np.array(PAD_ID, np.int64))])
    pos_table = weights["embeddings.position_embeddings.weight"]
    pos = op("Gather", [const("position.table", pos_table), positions], axis=0)
    hidden = layer_norm(op("Add", [words, pos]), "embeddings.LayerNorm")

    # -- attention bias: relative positions + padding, shared by every layer ------------
    span = np.arange(-(max_positions - 1), max_positions, dtype=np.int64)
    rel_table = weights["encoder.relative_attention_bias.weight"][relative_buckets(span)]
    length = op("Gather", [op("Shape", ["input_ids"]), "one_i64"], axis=0)
    steps = op("Range", ["zero_i64", length, "one_i64"])
    distance = op("Sub", [op("Unsqueeze", [steps, "axis_0"]), op("Unsqueeze", [steps, "axis_1"])])
    index = op("Add", [distance, const("span_offset", np.array(max_positions - 1, np.int64))])
    rel = op("Gather", [const("relative.table", rel_table.astype(np.float32)), index], axis=0)
    rel = op("Unsqueeze", [op("Transpose", [rel], perm=[2, 0, 1]), "axis_0"])  # 1,H,L,L
    maskf = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    neg_big = const("neg_big", np.array(-1e9, np.float32))
    pad_bias = op("Mul", [op("Sub", ["one_f", maskf]), neg_big])
    pad_bias = op("Unsqueeze", [pad_bias, "axes_1_2"])  # B,1,1,L
    bias = op("Add", [rel, pad_bias])  # B,H,L,L

    hidden_size = int(table.shape[1])
    head_dim = hidden_size // heads
    split = const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge = const("merge_heads", np.array([0, 0, hidden_size], np.int64))
    inv_sqrt = const("inv_sqrt_d", np.array(1.0 / math.sqrt(head_dim), np.float32))
    for i in range(layer_count(weights)):
        p = f"encoder.layer.{i}"
        q = op("Transpose", [op("Reshape", [linear(hidden, f"{p}.attention.attn.q"), split])],
               perm=[0, 2, 1, 3])
        k = op("Transpose", [op("Reshape", [linear(hidden, f"{p}.attention.attn.k"), split])],
               perm=[0, 2, 3, 1])
        v = op("Transpose", [op("Reshape", [linear(hidden, f"{p}.attention.attn.v"), split])],
               perm=[0, 2, 1, 3])
        scores = op("Add", [op("Mul", [op("MatMul", [q, k]), inv_sqrt]), bias])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        attended = layer_norm(op("Add", [linear(context, f"{p}.attention.attn.o"), hidden]),
                              f"{p}.attention.LayerNorm")
        inner = op("Gelu", [linear(attended, f"{p}.intermediate.dense")], domain="com.microsoft")
        hidden = layer_norm(op("Add", [linear(inner, f"{p}.output.dense"), attended]),
                            f"{p}.output.LayerNorm")

    # -- masked mean pooling + L2 normalisation ----------------------------------------
    mask3 = op("Unsqueeze", [maskf, "axis_last"])
    summed = op("ReduceSum", [op("Mul", [hidden, mask3]), "axis_1"], keepdims=0)
    count = op("Max", [op("ReduceSum", [mask3, "axis_1"], keepdims=0),
                       const("tiny", np.array(1e-9, np.float32))])
    mean = op("Div", [summed, count])
    norm = op("Max", [op("ReduceL2", [mean, "axis_last"], keepdims=1),
                      const("eps", np.array(1e-12, np.float32))])
    op("Div", [mean, norm], "sentence_embedding")
    weights.close()

    graph = helper.make_graph(
        nodes, "all-mpnet-base-v2",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
         for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT,
                                       ["batch", hidden_size])],
        inits,
    )
    model = helper.make_model(
        graph, producer_name="remem",
        opset_imports=[helper.make_opsetid("", ROW_OPSET if rowwise is not None else OPSET),
                       helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10 if rowwise is not None else 8
    onnx.checker.check_model(model, full_check=False)
    return model


def build_rowwise(weights_path: Path, tokenizer_path: Path, calibration: list[str], *,
                  heads: int = HEADS, max_outliers: int = MAX_OUTLIERS) -> Any:
    """The row-wise int8 graph: find each linear input's outlier channels on the
    calibration texts with the float32 graph, then build with them."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    taps: dict[str, str] = {}
    model = build(weights_path, quantize=False, heads=heads, taps=taps)
    for name in dict.fromkeys(taps.values()):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    del model
    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    names = list(taps.values())
    peak: dict[str, np.ndarray] = {}
    for text in calibration:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        outs = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for key, act in zip(taps, outs):
            channel = np.abs(act).reshape(-1, act.shape[-1]).max(axis=0)
            peak[key] = np.maximum(peak[key], channel) if key in peak else channel
    del session
    outliers = {}
    for key, channel in peak.items():
        ratio = channel / np.median(channel)
        top = np.argsort(-ratio, kind="stable")[:max_outliers]
        outliers[key] = sorted(int(c) for c in top if ratio[c] >= OUTLIER_RATIO)
    return build(weights_path, quantize=True, heads=heads, rowwise=outliers)
