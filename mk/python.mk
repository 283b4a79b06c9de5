# mk/python.mk — the Python package (python/, docs in python/README.md).
#
#   make check-python-package   as a user would: a fresh venv, `pip install
#                               ./python pytest` (numpy and the build tools
#                               from PyPI), `import inception` from outside
#                               the tree (it must load the library bundled
#                               in the package), then the pytest suite
#                               (tests/python/test_binding.py, test_lecture.py)
#                               against the installed package [CHECK_EXTRA].
#                               Without PyPI it says "skipped" and passes.

PY_VENV := build/py-venv
PY_VENV_LOG := build/py-venv.log
DEB_EXTRA += python3-venv

.PHONY: check-python-package
check-python-package: lib
	@rm -rf $(PY_VENV) python/build python/inception.egg-info; mkdir -p build; \
	/usr/bin/python3 -m venv $(PY_VENV) > $(PY_VENV_LOG) 2>&1 || \
	  { cat $(PY_VENV_LOG); echo "check-python-package: python3 -m venv failed (python3-venv)"; exit 1; }; \
	if ! $(PY_VENV)/bin/pip install --disable-pip-version-check ./python pytest >> $(PY_VENV_LOG) 2>&1; then \
	  if grep -qiE "(connection|network|name resolution|resolve host|no matching distribution)" $(PY_VENV_LOG); then \
	    echo "check-python-package: skipped: PyPI cannot be reached ($(PY_VENV_LOG))"; exit 0; fi; \
	  tail -40 $(PY_VENV_LOG); echo "check-python-package: pip install ./python failed"; exit 1; fi; \
	rm -rf python/build python/inception.egg-info; \
	echo "check-python-package: $$(grep -oE 'Successfully installed .*' $(PY_VENV_LOG))"; \
	(cd / && $(abspath $(PY_VENV))/bin/python -c "import inception; print('check-python-package: inception', inception.version(), 'from', inception.LIBRARY_PATH); assert 'site-packages' in inception.LIBRARY_PATH") || exit 1; \
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  tests/python/test_binding.py tests/python/test_lecture.py

CHECK_EXTRA += check-python-package
