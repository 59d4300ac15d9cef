# ConvLens: `make run` serves the app, `make test` runs the test suite.
# Both create .venv when it is missing and reinstall only when the requirements change;
# the repository itself is installed editable (core and dashboard import from anywhere).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-serve serve hall lint bench browser clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	YOLO_OFFLINE=1 $(BIN)/python -m dashboard --server.port $(PORT)

browser: $(VENV)/.installed-dev
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	    echo "Chromium not installed: real-browser tests will skip (install the 'chromium' package)."; }

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Ray Serve (requirements-serve.txt) is not in the default install, nor in `make test`: the Ray
# test alone takes 1-3 min on 2 cores plus ~100 MB of wheels. `make test-serve` adds both.
$(VENV)/.installed-serve: requirements-serve.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-serve.txt
	touch $@

test-serve: $(VENV)/.installed-dev $(VENV)/.installed-serve
	$(BIN)/python -m pytest tests/serving/test_serve_ray.py tests/serving/test_serve_codec.py $(PYTEST_ARGS)

# The inference engine on Ray Serve (local Ray); then run the app with the printed CONVLENS_SERVE_URL.
serve: $(VENV)/.installed-serve
	YOLO_OFFLINE=1 $(BIN)/python -m core.serving.app $(SERVE_ARGS)

# Students held at p95 <= 2 s, before (main) and after, in one run (see bench/hall.py).
hall: $(VENV)/.installed-dev
	$(BIN)/python -m bench.hall $(HALL_ARGS)

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache artifacts
