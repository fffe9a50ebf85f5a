# Two commands on a fresh machine:
#   make run    install, ingest sample_docs/ and open the web UI on http://127.0.0.1:8501
#   make test   install (with test tools and a headless Chromium) and run the whole test suite
# Both create .venv/ on first use, and install Debian's Tesseract for scanned documents
# (apt, with sudo when not root); nothing is downloaded at run time.
# `make demo` answers a few questions in the terminal instead of starting the UI.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
RAG    := $(VENV)/bin/rag
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 8501
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install ocr run demo test test-crash browser bench-data lint bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned resolve would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	# Build the fast embedder (an int8 ONNX graph of the bundled model) once, ~20 s.
	$(RAG) prepare
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) ocr

# OCR of scanned pages and images runs Debian's Tesseract with these languages' data
# (RAG_OCR_LANGUAGES picks among them); installed only when missing.
OCR_LANGS ?= eng deu fra
ocr:
	@have=$$(tesseract --list-langs 2>/dev/null); missing=""; \
	command -v tesseract >/dev/null || missing="tesseract-ocr"; \
	for l in $(OCR_LANGS); do printf '%s\n' "$$have" | grep -qx "$$l" || missing="$$missing tesseract-ocr-$$l"; done; \
	test -z "$$missing" || { $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends $$missing; }

run: install
	$(RAG) ingest sample_docs
	$(RAG) ui --port $(PORT)

demo: install
	$(RAG) ingest sample_docs
	$(RAG) docs
	$(RAG) ask "How much notice do we have to give Acme Logistics to end the contract?"
	$(RAG) ask "How many users were affected by the March server room outage?"
	$(RAG) ask "What is the capital of Australia?"
	@echo
	@echo 'Ask your own: $(RAG) ask "..."   Ingest your files: $(RAG) ingest ~/Documents'

# The browser test drives Debian's Chromium (Playwright's own browser download is never used).
browser:
	@command -v chromium >/dev/null || { \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver; }

test: install browser
	$(PY) -m ruff check rag ui tests bench
	$(PY) -m ruff format --check rag ui tests bench
	$(PY) -m mypy
	$(PY) -m pytest

# Crash safety: SIGKILL `rag ingest` at 20 random points of a 240-file corpus, then check
# the next ingest leaves exactly a clean ingest's index. About 5 minutes; CI runs it too.
test-crash: install
	$(PY) -m pytest -m crash -s tests/integration/test_crash_safety.py

# Each benchmark prints its table with ratios against baselines measured in the same run.
BENCHES := bench/retrieval_quality.py bench/ingest_throughput.py bench/query_latency.py \
           bench/verification.py bench/support_thresholds.py \
           bench/ui_latency.py bench/hnsw_recall.py bench/api_latency.py bench/ocr.py

# The PostgreSQL manual for bench/ingest_throughput.py, fetched here (an install step),
# never by the benchmark itself.
BENCH_CACHE ?= $(or $(RAG_BENCH_CACHE),$(HOME)/.cache/rag-bench)
PGDOC       := $(BENCH_CACHE)/postgresql-doc-15
bench-data:
	@test -d $(PGDOC)/usr/share/doc/postgresql-doc-15/html || { \
	  tmp=$$(mktemp -d) && cd $$tmp && \
	  { apt-get download postgresql-doc-15 || { $(SUDO) apt-get update -q && apt-get download postgresql-doc-15; }; } && \
	  mkdir -p $(PGDOC) && dpkg -x postgresql-doc-15_*.deb $(PGDOC) && rm -rf $$tmp; }

# The embedder comparison builds five ONNX variants first: in `make bench`, not in CI.
bench: install browser bench-data
	set -e; for b in $(BENCHES) bench/embed_backends.py; do echo "== $$b"; $(PY) $$b; done

# Tiny inputs, so the benchmarks never rot (run by CI after the tests).
bench-quick: install browser bench-data
	set -e; for b in $(BENCHES); do echo "== $$b --quick"; $(PY) $$b --quick; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
