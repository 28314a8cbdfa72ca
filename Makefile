# Development loop for jupyter_lapd: `make install`, `make lab`, `make test`, `make lint`.
# Everything lives in ./.venv; the venv's bin comes first on PATH so that `jlpm`,
# `jupyter` and `jupyter-builder` are the venv's own.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := install

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.install.stamp
# Written by `jlpm install` (yarn's node-modules linker) after each install.
NODE_STAMP := node_modules/.yarn-state.yml
# Where `jupyter-builder develop` links jupyter_lapd/labextension.
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/jupyter-lapd
PORT ?= 8888
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

export PATH := $(BIN):$(PATH)
# Playwright must never download browsers: the UI tests use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install lab lab-rtc test check-install pytest check-auth ui-test jest lint build docs clean distclean bench \
	conformance torture faults bench-load bench-ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

.venv: $(BIN)/python

# The editable install runs the hatch jupyter-builder hook, which runs `jlpm install`
# and `jlpm build` here; `jupyter-builder develop` then links the built labextension
# into the venv, so that `jlpm build` or `jlpm watch` and a page reload are enough.
# A re-install must not go through that link: pip would delete and write the wheel's
# files inside jupyter_lapd/labextension, and the install.json it leaves there makes
# `python -m build` fail (a second file at the same wheel path).
$(STAMP): $(BIN)/python pyproject.toml package.json
	if [ -L $(LABEXT_LINK) ]; then rm $(LABEXT_LINK); fi
	rm -f jupyter_lapd/labextension/install.json
	$(BIN)/python -m pip install -e ".[dev,test,examples,docs]"
	$(BIN)/jupyter-builder develop --overwrite .
	touch $@

# The hatch hook skips `jlpm install` when the labextension is newer than src/;
# make sure node_modules exists anyway for `make build`, `make lint` and jest.
$(NODE_STAMP): package.json yarn.lock | $(STAMP)
	jlpm install
	touch $@

install: $(STAMP) $(NODE_STAMP)

# `make lab`: JupyterLab as `pip install jupyter-lapd` gives it, real-time collaboration
# off (jupyter-collaboration, a test dependency, is installed here: its own switch turns
# it off, as the UI tests' plain configuration does). `make lab-rtc`: with real-time
# collaboration on. jupyter-collaboration keeps its stores in the venv, not in the repo.
LAB_ARGS = --allow-root --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=demo --no-browser \
	--SQLiteYStore.db_path=$(VENV)/lab-ystore.db \
	--YDocExtension.session_store_path=$(VENV)/lab-collaboration-sessions.json
lab: install
	$(BIN)/jupyter lab $(LAB_ARGS) --YDocExtension.disable_rtc=True

lab-rtc: install
	$(BIN)/jupyter lab $(LAB_ARGS)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

# pytest's output is kept in PYTEST_LOG so that `make test` can repeat the failures at its
# end, after the UI tests' output. Any non-zero exit fails, "no tests collected" (5) too:
# it means a broken collection.
PYTEST_LOG := $(VENV)/pytest-last.log
pytest: install
	$(BIN)/python -m pytest 2>&1 | tee $(PYTEST_LOG)

# Each notebook of tests/conformance/notebooks run by plain nbclient, by a headless run and by
# a background run on a real server; the saved files must match (tests/outputs/test_conformance.py).
conformance: install
	$(BIN)/python -m pytest tests/outputs/test_conformance.py

# The fault suite alone (tests marked `fault`; `make pytest`, and so `make test`, runs them
# too): a full disk under the journal and under a notebook, a database failing, locked or
# damaged, a second server, a second headless process, planted files, kernel deaths,
# SIGTERM, and kill -9 at random moments.
faults: install
	$(BIN)/python -m pytest -m fault

# The kill -9 tests at full size: the server killed at 100 random moments of its runs (a
# third of them again during the next start's recovery; `make test` kills 10), and the
# headless kill-and-resume tests, the slow one included.
torture: install
	LAPD_KILLS=100 $(BIN)/python -m pytest -m "" tests/journal/test_recovery.py tests/headless/test_headless.py \
		-k "kill9_again_and_again or kill_9"

jest: install
	jlpm test

# The checks of the template's CI: both halves of the extension are installed and load.
check-install: install
	jupyter server extension list 2>&1 | grep -ie "jupyter_lapd.*OK"
	jupyter labextension list 2>&1 | grep -ie "jupyter-lapd.*OK"

check-auth: install
	$(BIN)/python .github/scripts/check_auth.py

# JupyterLab (playwright.config.js), then Jupyter Notebook 7, then JupyterLab with
# real-time collaboration on (jupyter-collaboration), each on a server and config of its
# own; each runs even when one before it fails.
ui-test: install $(CHROMIUM)
	cd ui-tests && jlpm install
	cd ui-tests && rm -rf reports && rc=0; \
	jlpm playwright test || rc=$$?; \
	jlpm playwright test -c playwright.notebook.config.js || rc=$$?; \
	jlpm playwright test -c playwright.collab.config.js || rc=$$?; \
	exit $$rc

# Runs every step even after a failure, so that one CI run shows all of them.
TEST_STEPS := check-install docs pytest jest check-auth ui-test

test: install $(CHROMIUM)
	rm -f $(PYTEST_LOG); failed=""; \
	for step in $(TEST_STEPS); do $(MAKE) --no-print-directory $$step || failed="$$failed $$step"; done; \
	if [[ "$$failed" == *pytest* && -f $(PYTEST_LOG) ]]; then \
		sed -n '/short test summary info/,$$p' $(PYTEST_LOG) | grep -E '^(FAILED|ERROR) ' \
		|| tail -n 40 $(PYTEST_LOG); fi; \
	if [[ "$$failed" == *ui-test* ]]; then node ui-tests/failures.js; fi; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	echo "make test: all passed ($(TEST_STEPS))"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	jlpm lint:check

build: install
	jlpm build

# The documentation site (Sphinx, pydata-sphinx-theme, MyST), warnings as errors.
docs: install
	rm -rf docs/_build
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The packages of the `bench` extra (papermill, matplotlib), read from pyproject.toml and
# installed on their own: `pip install -e .[bench]` would rebuild and relink the frontend.
BENCH_STAMP := $(VENV)/.bench.stamp
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))" \
		| xargs $(BIN)/python -m pip install
	touch $@

# nbclient, papermill and jupyter_lapd side by side on generated notebooks (docs/benchmarks.md,
# "Performance"): bench/results/latest.json and latest.png. BENCH_ARGS="--rounds 5" etc.
BENCH_ARGS ?=
bench: install $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The page under heavy output: stock JupyterLab and Run in background side by side in
# Debian's Chromium (bench/ui.py); bench/results/ui.json. BENCH_UI_ARGS="--rounds 1" etc.
BENCH_UI_ARGS ?=
bench-ui: build $(BENCH_STAMP) $(CHROMIUM)
	$(BIN)/python -m bench.ui $(BENCH_UI_ARGS)

# 200 runs through the queue (4 at a time) while 20 clients follow their events through
# reconnect storms (bench/load.py); the result goes to bench/results/load.json.
bench-load: install
	$(BIN)/python -m bench.load

# What `jlpm clean:all` removes, plus test output; dropping the stamp makes the next
# `make install` rebuild the labextension and regenerate jupyter_lapd/_version.py.
clean:
	rm -rf lib tsconfig.tsbuildinfo jupyter_lapd/labextension jupyter_lapd/_version.py \
		.eslintcache .stylelintcache coverage \
		ui-tests/test-results ui-tests/playwright-report \
		ui-tests/test-results-notebook7 ui-tests/playwright-report-notebook7 \
		ui-tests/test-results-collab ui-tests/playwright-report-collab docs/_build $(STAMP)

distclean: clean
	rm -rf $(VENV) node_modules ui-tests/node_modules .yarn ui-tests/.yarn
