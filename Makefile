# The user's entry points. On a fresh clone the first target creates .venv/ and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CONFIG ?= configs/default.toml
RUN := runs/default
SOURCES := $(wildcard train/*.py train/data/*.py convert/*.py device_runtime/*.py) data/uci-hapt.tar.xz

.PHONY: test test-fast bench summary clean FORCE
.DELETE_ON_ERROR:

# A .venv/ without pip (a python3 without its venv module, or a Ctrl-C while it was made) is made again.
$(INSTALLED): pyproject.toml
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || { \
	  rm -rf $(VENV); echo "make: '$(PYTHON) -m venv' failed: install Python's venv module (Debian, Ubuntu: apt install python3-venv), then run make again" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,device,dev]'
	touch $@

# The main job: train on the embedded HAPT data, convert to a validated int8 model.
# Retrains when the config (its content, or CONFIG= naming another) or the code changes; a killed training
# resumes; a killed or refused conversion converts again without retraining; outputs are written atomically.
TRAINED := $(RUN)/.trained-by-make
CONFIG_USED := runs/.config-used-by-make

$(CONFIG_USED): FORCE
	@mkdir -p runs && echo '$(CONFIG)' | cmp -s - $@ || echo '$(CONFIG)' > $@

$(TRAINED): $(INSTALLED) $(CONFIG) $(CONFIG_USED) $(SOURCES)
	$(BIN)/har train --config $(CONFIG) --name default --overwrite
	touch $@

model.tflite: $(TRAINED)
	$(BIN)/har convert $(RUN) --out $@

summary: $(INSTALLED)
	$(BIN)/har data summary --config $(CONFIG)

# Everything (what CI runs). `make test-fast`: the tier without TensorFlow or training, in about a minute.
test: $(INSTALLED)
	$(BIN)/python -m pytest -q

test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(INSTALLED)
	$(BIN)/har bench

clean:
	rm -rf runs model.tflite model.contract.json model.report.json model.report.md model.rejected.report.* .model.tflite.lock .model.tflite.staging.* firmware stream_eval
