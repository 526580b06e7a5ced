# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -m "not slow"

.PHONY: install demo test test-all lint docs sysdeps clean screenshots bench

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[testing,docs,distributed,openvino,onnxruntime,int8,bmz,remote]"
	touch $(STAMP)

install: $(STAMP)

# Xvfb and the OpenGL / xcb libraries that napari's Qt canvas needs under a virtual display.
sysdeps:
	@if ! command -v xvfb-run >/dev/null 2>&1; then \
		echo "installing Xvfb and OpenGL libraries (apt-get)"; \
		SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libdbus-1-3 \
			libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
			libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libxcb-cursor0 libxcb-xkb1 \
			libfontconfig1 >/dev/null; \
	fi

demo: $(STAMP)
	$(PY) -m napari_sisr.demo $(if $(GUI),--gui,)

test: $(STAMP) sysdeps
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks docs/scripts scripts)
	@# no -q: it hides the warnings that --strict turns into errors
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d $$(mktemp -d)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest $(PYTEST_ARGS)

test-all: PYTEST_ARGS =
test-all: test

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks docs/scripts scripts)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks docs/scripts scripts)

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

screenshots: $(STAMP) sysdeps
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) docs/scripts/screenshots.py

clean:
	rm -rf $(VENV) build dist site .pytest_cache
