# Two entry points for newcomers: `make run` and `make test`. Both create .venv as needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-export test-quality bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# remem's main job on the embedded default: ingest a bundled sample conversation into a
# SQLite file with the packaged embedding model, then answer a few searches.
run: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/remem --db demo.db demo

# The whole test suite, set-up included: Chromium for the inspector's browser test is
# installed when missing (as root with apt-get), else this stops with one line saying how.
# No torch: the packaged model is checked against the original model's committed vectors.
test: $(BIN)/python
	sh scripts/ensure_chromium.sh
	$(BIN)/pip install -q -e '.[dev,server,postgres]'
	$(BIN)/python -m pytest -q

# The packaged MiniLM against the original model itself (and the committed reference
# vectors against a fresh run): the [export] extra pulls torch (large).
test-export: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,export]'
	$(BIN)/python -m pytest -q tests/test_onnx_export.py

# The opt-in quality embedder (all-mpnet-base-v2, 8-bit): download the part-wheels from
# PyPI once (404 MB), build the 122 MB model into the user data dir, run its tests.
test-quality: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,quality]'
	$(BIN)/remem model install quality
	$(BIN)/python -m pytest -q -m quality

bench: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/remem bench locomo $(DATA) --plain

clean:
	rm -rf $(VENV) demo.db build *.egg-info
