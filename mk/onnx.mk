# mk/onnx.mk — the ONNX export check (docs/onnx.md).
#
#   make check-onnx   exports an Inception block, the D2L GoogLeNet and a
#                     net of the other window variants with
#                     inc_layer_export_onnx (through the ctypes binding),
#                     validates them with onnx.checker and runs them in ONNX
#                     Runtime (CPU) against libinception's forward: max
#                     relative error <= 1e-5 (tests/python/test_onnx.py);
#                     part of `make check` (CHECK_EXTRA)
#
# numpy, onnx and onnxruntime come from PyPI (Debian packages none of the
# last two) into a virtual environment under build/ that sees the system's
# packages; it is made once and reused. When they cannot be installed (no
# network, no wheel for this Python) the check prints "skipped: ..." and
# passes; with them, any mismatch fails it.

ONNX_VENV := build/onnx-venv
ONNX_PY := $(ONNX_VENV)/bin/python
ONNX_PIP_PACKAGES := onnx onnxruntime numpy
ONNX_SYSTEM_PY ?= /usr/bin/python3
DEB_EXTRA += python3-venv

ONNX_LOG := $(BUILD)/onnx-venv.log

# $(call onnx_venv,NAME): shell lines that make $(ONNX_VENV) with
# $(ONNX_PIP_PACKAGES) unless its Python imports them already; when they
# cannot be installed, they say so (prefixed by NAME) and succeed, and the
# Python program run after them skips. Used by check-onnx and bench-ort
# (mk/bench.mk).
define onnx_venv
if ! $(ONNX_PY) -c "import numpy, onnx, onnxruntime" >/dev/null 2>&1; then \
  mkdir -p $(BUILD); \
  echo "$(1): installing $(ONNX_PIP_PACKAGES) from PyPI into $(ONNX_VENV)"; \
  { [ -x $(ONNX_VENV)/bin/pip ] || { rm -rf $(ONNX_VENV) && \
      $(ONNX_SYSTEM_PY) -m venv --system-site-packages $(ONNX_VENV); }; } > $(ONNX_LOG) 2>&1 && \
  $(ONNX_VENV)/bin/pip install --disable-pip-version-check --timeout 30 --retries 1 -q \
    $(ONNX_PIP_PACKAGES) >> $(ONNX_LOG) 2>&1 || \
  { echo "$(1): could not install them:"; tail -3 $(ONNX_LOG) | sed 's/^/    /'; }; \
fi
endef

# The start of a command that runs a Python program with that venv's Python
# (the system's when the venv could not be made) on the build's library.
ONNX_RUN = py=$(ONNX_PY); [ -x $$py ] || py=$(ONNX_SYSTEM_PY); \
  INCEPTION_LIB=$(CURDIR)/lib/$(SOFILE)

.PHONY: check-onnx
check-onnx: lib/$(SOFILE)
	@$(call onnx_venv,check-onnx)
	@$(ONNX_RUN) OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
	  $$py tests/python/test_onnx.py

CHECK_EXTRA += check-onnx
