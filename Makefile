# The user's entry points. On a fresh clone the first target creates .venv/ and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CONFIG ?= configs/default.toml

.PHONY: test bench summary clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,device,dev]'
	touch $@

model.tflite: $(INSTALLED) $(CONFIG)
	@echo "make model.tflite: the data stage exists; training (issue 3) and conversion (issue 4) do not yet."
	$(BIN)/har data summary --config $(CONFIG)
	@echo "Not built yet: model.tflite needs the training and conversion stages." >&2; exit 1

summary: $(INSTALLED)
	$(BIN)/har data summary --config $(CONFIG)

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)
	$(BIN)/python -m bench

clean:
	rm -rf runs model.tflite model.report.json model.report.md
