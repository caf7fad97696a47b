# yolokit developer entry points. Every target sets up .venv first if needed.
#   make demo   - the main job: train + evaluate + infer on the bundled toy dataset
#   make test   - the test suite
#   make env    - only (re)create the environment
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.yolokit-env
ENV_INPUTS := tools/misc/setup_env.sh setup.py $(wildcard requirements/*.txt)
PYTEST_ARGS ?=

.PHONY: env demo test test-fast clean-env

env: $(STAMP)

$(STAMP): $(ENV_INPUTS)
	bash tools/misc/setup_env.sh $(VENV)

demo: env
	$(PY) tools/misc/run_main_job.py

test: env
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: env
	$(PY) -m pytest -n 2 --dist loadgroup -m "not e2e" $(PYTEST_ARGS)

clean-env:
	rm -rf $(VENV)
