# mk/interop.mk — PyTorch state_dicts and the library's files, both ways.
#
#   make check-torch-interop   a torch BN-GoogLeNet's state_dict saved with
#                              the safetensors package loads into
#                              inc_googlenet_bn_create's model and gives the
#                              same evaluation logits, and the library's
#                              file of a trained model loads into torch with
#                              strict=True (tests/python/test_state_dict.py);
#                              part of `make check` (CHECK_EXTRA)
#
# torch is Debian's python3-torch (DEB_TEST); the safetensors package comes
# from PyPI into a virtual environment under build/ that sees the system's
# packages, made once and reused. When it cannot be installed (no network)
# the check prints "skipped: ..." and passes; with it, any mismatch fails.

INTEROP_VENV := build/interop-venv
INTEROP_PY := $(INTEROP_VENV)/bin/python
INTEROP_SYSTEM_PY ?= /usr/bin/python3
INTEROP_LOG := $(BUILD)/interop-venv.log
DEB_EXTRA += python3-venv

.PHONY: check-torch-interop
check-torch-interop: lib/$(SOFILE)
	@if ! $(INTEROP_PY) -c "import safetensors, torch" >/dev/null 2>&1; then \
	  mkdir -p $(BUILD); \
	  echo "check-torch-interop: installing safetensors from PyPI into $(INTEROP_VENV)"; \
	  { [ -x $(INTEROP_VENV)/bin/pip ] || { rm -rf $(INTEROP_VENV) && \
	      $(INTEROP_SYSTEM_PY) -m venv --system-site-packages $(INTEROP_VENV); }; } \
	    > $(INTEROP_LOG) 2>&1 && \
	  $(INTEROP_VENV)/bin/pip install --disable-pip-version-check --timeout 30 --retries 1 -q \
	    safetensors >> $(INTEROP_LOG) 2>&1 || \
	  { echo "check-torch-interop: could not install it:"; tail -3 $(INTEROP_LOG) | sed 's/^/    /'; }; \
	fi
	@py=$(INTEROP_PY); [ -x $$py ] || py=$(INTEROP_SYSTEM_PY); \
	INCEPTION_LIB=$(CURDIR)/lib/$(SOFILE) OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
	  $$py tests/python/test_state_dict.py

CHECK_EXTRA += check-torch-interop
