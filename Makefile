# wisefast: `make train` sets up and runs the built-in default job; `make test` sets up and runs the tests.
VENV    ?= .venv
BIN     := $(VENV)/bin
ARCH    := $(shell uname -m)
# torch/torchvision pairs that import together on CPU-only machines (see README, "Development")
ifeq ($(ARCH),aarch64)
TORCH   ?= torch==2.9.1 torchvision==0.24.1
else
TORCH   ?= torch==2.14.1 torchvision==0.29.1
endif
export HF_HUB_OFFLINE ?= 1
export NO_ALBUMENTATIONS_UPDATE := 1
export MPLBACKEND := Agg

# the stamp names pyproject.toml's content, so a changed dependency list re-installs but a mere touch does not
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup train test docs clean
setup: $(STAMP)

$(STAMP):
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	# the authors' ImageDataGenerator, the reference for augmentation tests and benchmarks (pure Python)
	$(BIN)/pip install -q --no-deps keras_preprocessing==1.1.2
	rm -f $(VENV)/.installed-* && touch $@

train: setup
	$(BIN)/wisefast train $(ARGS)

# every notebook runs once, as `nbdev-test` runs it (slow cells skipped), and becomes a page of the site the docs tests
# check; the tests end with their 15 slowest (test durations, to keep the suite quick)
test: setup
	$(BIN)/python tools/build_docs.py
	DOCS_PREBUILT=1 $(BIN)/pytest -q --durations=15 tests

docs: setup
	$(BIN)/python tools/build_docs.py

clean:
	rm -rf $(VENV) _proc _docs _site
