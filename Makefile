# The user's entry points. On a fresh clone the first target creates .venv/ and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CONFIG ?= configs/default.toml
RUN := runs/default
SOURCES := $(wildcard train/*.py train/data/*.py convert/*.py device_runtime/*.py) data/uci-hapt.tar.xz

.PHONY: test test-fast bench summary clean
.DELETE_ON_ERROR:

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,device,dev]'
	touch $@

# The main job: train on the embedded HAPT data, convert to a validated int8 model.
# Retrains when the config or the code changes; a killed training resumes; outputs are written atomically.
model.tflite: $(INSTALLED) $(CONFIG) $(SOURCES)
	$(BIN)/har train --config $(CONFIG) --name default --overwrite
	$(BIN)/har convert $(RUN) --out $@

summary: $(INSTALLED)
	$(BIN)/har data summary --config $(CONFIG)

# Everything (what CI runs). `make test-fast`: the tier without TensorFlow or training, in seconds.
test: $(INSTALLED)
	$(BIN)/python -m pytest -q

test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(INSTALLED)
	$(BIN)/har bench

clean:
	rm -rf runs model.tflite model.contract.json model.report.json model.report.md model.rejected.report.* .model.tflite.lock firmware stream_eval
