"""Local embedders run with onnxruntime on CPU: the packaged all-MiniLM-L6-v2 (int8,
the default) or any model directory of the same layout, such as the opt-in "quality"
model (all-mpnet-base-v2, 8-bit) that ``remem model install quality`` builds
(:mod:`remem.embed.models`).

A model directory (by default ``remem/embed/model``) holds three files, made by
``scripts/export_onnx.py`` (MiniLM) or :func:`remem.embed.models.install` (mpnet):

* ``model.onnx``: the encoder + mean pooling + L2 normalisation in one graph; int64
  inputs (batch x sequence) named in ``model.json`` (``input_ids``/``attention_mask``
  and, for BERT, ``token_type_ids``), output ``sentence_embedding`` (float32, batch x
  dim, unit rows).
* ``tokenizer.json``: the fast (``tokenizers``) tokenizer, truncating at
  ``max_length`` tokens.
* ``model.json``: ``name``, ``dim``, ``max_length``, ``inputs``, ``pad_id`` and
  provenance.

Only ``model.json`` is read by the constructor; onnxruntime and the tokenizer are
imported and loaded on the first :meth:`OnnxEmbedder.embed` call. Texts are sorted by
token count and batched so that each batch is padded only to its own longest text. The
quantized graph treats every row independently (one int8 scale per token), so a text's
vector does not depend on the batch it was embedded in. The graph uses opset 21 and
onnxruntime contrib ops (``MatMulIntegerToFloat``), so it needs onnxruntime >= 1.22.

Every onnxruntime call runs on one core; a call with several batches runs them on up to
``threads`` Python threads at once (onnxruntime releases the GIL). For this small model
that beats onnxruntime's own intra-op threads, which synchronise after each of the
graph's ~380 nodes: on 2 cores it embeds ~1.9x one core's rate, where 2 non-spinning
intra-op threads were slower than one.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import EmbedderError, InvalidInput
from .base import l2_normalise

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _default_threads() -> int:
    """Cores this process may run on (container-aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _read_meta(model_dir: Path) -> dict[str, Any]:
    """Read and check ``model.json``; raise :class:`EmbedderError` when unusable."""
    path = model_dir / "model.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        name, dim = str(meta["name"]), int(meta["dim"])
        max_length = int(meta.get("max_length", 256))
    except FileNotFoundError as exc:
        raise EmbedderError(f"embedding model not found: {path} does not exist") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmbedderError(f"embedding model metadata {path} is unreadable: {exc}") from exc
    if dim < 1 or max_length < 2:
        raise EmbedderError(f"embedding model metadata {path} is invalid (dim={dim})")
    return {**meta, "name": name, "dim": dim, "max_length": max_length}


class OnnxEmbedder:
    """Local sentence embeddings with onnxruntime (default: packaged all-MiniLM-L6-v2 int8).

    Args:
        model_dir: directory with ``model.onnx``, ``tokenizer.json`` and ``model.json``;
            defaults to the model shipped inside the ``remem`` package.
        threads: how many batches run at once, each onnxruntime call on one core;
            defaults to the number of usable cores. A single batch (e.g. one query)
            always runs on the calling thread.
        batch_size: at most this many texts per onnxruntime call.
        batch_tokens: at most this many (padded) tokens per call; texts are sorted by
            length and batched so that padding stays small. Small batches are also the
            fastest per token (activations stay in the core's L2 cache).

    Raises:
        EmbedderError: ``model.json`` is missing or invalid (at construction), or the
            model/tokenizer cannot be loaded or run (on :meth:`embed`).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        batch_tokens: int = 192,
    ) -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidInput("threads must be a positive int or None")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput("batch_size must be a positive int")
        if not isinstance(batch_tokens, int) or batch_tokens < 1:
            raise InvalidInput("batch_tokens must be a positive int")
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        meta = _read_meta(self.model_dir)
        self.name: str = meta["name"]
        self.dim: int = meta["dim"]
        self.max_length: int = meta["max_length"]
        self._output: str = str(meta.get("output", "sentence_embedding"))
        self._inputs: tuple[str, ...] = tuple(meta.get("inputs", _INPUTS))
        if not set(self._inputs) <= set(_INPUTS) or "input_ids" not in self._inputs:
            raise EmbedderError(f"embedding model {self.model_dir}: unsupported inputs "
                                f"{list(self._inputs)}")
        self._pad_id = int(meta.get("pad_id", 0))
        self.threads: int = threads or _default_threads()
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, dim={self.dim}, model_dir='{self.model_dir}')"

    def _load(self) -> tuple[Any, Any]:
        """Create the tokenizer and onnxruntime session once (thread-safe)."""
        if self._session is not None:
            return self._session, self._tokenizer
        with self._lock:
            if self._session is None:
                tokenizer = self._load_tokenizer()
                self._session = self._load_session()
                self._tokenizer = tokenizer
        return self._session, self._tokenizer

    def _load_tokenizer(self) -> Any:
        path = self.model_dir / "tokenizer.json"
        try:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise EmbedderError(f"cannot load tokenizer {path}: {exc}") from exc
        tokenizer.no_padding()  # we pad per batch ourselves
        tokenizer.enable_truncation(max_length=self.max_length)
        return tokenizer

    def _load_session(self) -> Any:
        path = self.model_dir / "model.onnx"
        if not path.is_file():
            raise EmbedderError(f"embedding model not found: {path} does not exist")
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            # one core per call: parallelism comes from concurrent calls (see embed())
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3  # errors only
            # no pool threads exist with one thread, so none can spin; keep it explicit
            # should the thread count ever change (spinning steals SQLite's CPU)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise EmbedderError(f"cannot load ONNX model {path}: {exc}") from exc

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; return shape ``(len(texts), dim)``, float32, unit rows."""
        if isinstance(texts, (str, bytes)):
            raise InvalidInput("embed() takes a sequence of strings, not a single string")
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise InvalidInput("embed() texts must all be str")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        batches = _batches(order, lengths, self.batch_size, self.batch_tokens)

        def run(rows: np.ndarray) -> None:
            feeds = _pad([encodings[i] for i in rows], int(lengths[rows].max()),
                         self._inputs, self._pad_id)
            try:
                out[rows] = session.run([self._output], feeds)[0]
            except Exception as exc:
                raise EmbedderError(f"onnxruntime failed to embed a batch: {exc}") from exc

        _run_parallel(run, batches, min(self.threads, len(batches)))
        return l2_normalise(out)


def _run_parallel(run: Any, batches: list[np.ndarray], workers: int) -> None:
    """Call ``run`` on every batch, longest batches first, on ``workers`` threads (the
    caller is one of them); re-raise the first error once all threads have stopped."""
    if workers <= 1:
        for rows in batches:
            run(rows)
        return
    todo: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
    for rows in reversed(batches):  # longest (slowest) first: the tail stays balanced
        todo.put(rows)
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            try:
                rows = todo.get_nowait()
            except queue.Empty:
                return
            try:
                run(rows)
            except BaseException as exc:  # re-raised in the caller below
                errors.append(exc)

    helpers = [threading.Thread(target=work, daemon=True) for _ in range(workers - 1)]
    for thread in helpers:
        thread.start()
    work()
    for thread in helpers:
        thread.join()
    if errors:
        raise errors[0]


def _batches(order: np.ndarray, lengths: np.ndarray, max_rows: int,
             max_tokens: int) -> list[np.ndarray]:
    """Split length-sorted rows into batches of at most ``max_rows`` rows whose padded
    size (rows x longest) stays within ``max_tokens``: short texts go in big batches, long
    ones in small ones, so little time is spent on padding."""
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order):
            batches.append(order[start:end])
            break
        rows = end + 1 - start
        if rows > max_rows or rows * int(lengths[order[end]]) > max_tokens:
            batches.append(order[start:end])
            start = end
    return batches


def _pad(encodings: Sequence[Any], width: int, inputs: Sequence[str] = _INPUTS,
         pad_id: int = 0) -> dict[str, np.ndarray]:
    """Right-pad a batch of encodings to ``width`` tokens (``pad_id``, mask 0); feed only
    the model's ``inputs``."""
    feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in inputs}
    if pad_id:
        feeds["input_ids"].fill(pad_id)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        feeds["input_ids"][row, :n] = enc.ids
        if "attention_mask" in feeds:
            feeds["attention_mask"][row, :n] = enc.attention_mask
        if "token_type_ids" in feeds:
            feeds["token_type_ids"][row, :n] = enc.type_ids
    return feeds
