# mk/package.mk — install/uninstall, the pkg-config file, outside consumers,
# the Python binding's tests and the generated API reference.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                        header, lib/libinception.so.$(VERSION) and its two
#                        symlinks, libinception.a, the CUDA module
#                        $(CUDA_MODULE) (CUDA=1 builds), $(LIBDIR)/pkgconfig/
#                        libinception.pc, and the examples' sources (C and
#                        Python) under $(DOCDIR)/examples; then the targets
#                        other areas put in INSTALL_EXTRA
#   make uninstall       removes exactly those files (same PREFIX/DESTDIR)
#   make check-consumers installs into $(STAGE) and builds/runs a C program
#                        through `pkg-config` (dynamic and --static), a C++11
#                        program and the Python binding against it; also a
#                        DESTDIR install + uninstall round trip (make check)
#   make check-python    the Python binding's tests on the build tree: numpy
#                        and plain-list paths, every interpreter that works
#                        (make check)
#   make api-doc         regenerates docs/api.md from include/inception.h
#   make check-api-doc   fails when docs/api.md is out of date (make check)

DOCDIR ?= $(PREFIX)/share/doc/libinception
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
STAGE := $(BUILD)/stage

# ---- the pkg-config file ------------------------------------------------------
# Paths under PREFIX are written relative to ${prefix} (pkg-config
# --define-prefix can then relocate the file); Libs.private is exactly what
# the shared library was linked with ($(LIBS): the OpenMP OpenBLAS by path,
# libgomp, libdl), which a static link of libinception.a needs; the CUDA
# runtime and cuBLAS are the CUDA module's, never the core's.
PC_LIBDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
pc_generate = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(strip $(LIBS))|' pkgconfig/libinception.pc.in

# ---- install / uninstall --------------------------------------------------------
INSTALL ?= install
EX_DOC_SRC := $(wildcard examples/*.c examples/*.h examples/README.md)
EX_DOC_PY := $(wildcard examples/python/*.py examples/python/*.md)
PY_PACKAGE := python/inception/__init__.py python/inception/py.typed
UNINSTALL_EXTRA ?=

.PHONY: install uninstall
install: lib
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(DOCDIR)/examples/python $(DESTDIR)$(DOCDIR)/python/inception
	$(INSTALL) -m 644 include/inception.h $(DESTDIR)$(INCLUDEDIR)/inception.h
	$(INSTALL) -m 755 lib/$(SOFILE) $(DESTDIR)$(LIBDIR)/$(SOFILE)
	ln -sf $(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libinception.so
	$(INSTALL) -m 644 lib/libinception.a $(DESTDIR)$(LIBDIR)/libinception.a
	$(if $(filter 1,$(CUDA)),$(INSTALL) -m 755 lib/$(CUDA_MODULE) $(DESTDIR)$(LIBDIR)/$(CUDA_MODULE))
	$(pc_generate) > $(DESTDIR)$(PKGCONFIGDIR)/libinception.pc.tmp
	mv $(DESTDIR)$(PKGCONFIGDIR)/libinception.pc.tmp $(DESTDIR)$(PKGCONFIGDIR)/libinception.pc
	$(INSTALL) -m 644 $(EX_DOC_SRC) $(DESTDIR)$(DOCDIR)/examples/
	$(if $(EX_DOC_PY),$(INSTALL) -m 644 $(EX_DOC_PY) $(DESTDIR)$(DOCDIR)/examples/python/)
	$(INSTALL) -m 644 $(PY_PACKAGE) $(DESTDIR)$(DOCDIR)/python/inception/
	@for t in $(INSTALL_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	  ldconfig $(LIBDIR) 2>/dev/null || true; fi

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/inception.h $(DESTDIR)$(LIBDIR)/libinception.so \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SOFILE) \
	  $(DESTDIR)$(LIBDIR)/libinception.a $(DESTDIR)$(PKGCONFIGDIR)/libinception.pc \
	  $(DESTDIR)$(LIBDIR)/$(CUDA_MODULE)
	rm -rf $(DESTDIR)$(DOCDIR)
	@for t in $(UNINSTALL_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

# ---- outside consumers -------------------------------------------------------------
# A stage install with PREFIX = the stage (what pkg-config then reports),
# plus a DESTDIR round trip with PREFIX=/usr whose file lists run.sh checks.
PYTHON_NUMPY ?= /usr/bin/python3

.PHONY: check-consumers
check-consumers: lib
	@rm -rf $(STAGE) $(STAGE)-destdir
	@mkdir -p $(STAGE)
	@$(MAKE) --no-print-directory install PREFIX=$(abspath $(STAGE)) DESTDIR= > $(STAGE).log 2>&1 || \
	  { cat $(STAGE).log; echo "check-consumers: make install into $(STAGE) failed"; exit 1; }
	@$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(abspath $(STAGE))-destdir \
	  >> $(STAGE).log 2>&1 && \
	  find $(abspath $(STAGE))-destdir \( -type f -o -type l \) | sort > $(STAGE)-destdir.list && \
	  cp $(STAGE)-destdir/usr/lib/pkgconfig/libinception.pc $(STAGE)-destdir.pc && \
	  $(MAKE) --no-print-directory uninstall PREFIX=/usr DESTDIR=$(abspath $(STAGE))-destdir \
	  >> $(STAGE).log 2>&1 && \
	  find $(abspath $(STAGE))-destdir \( -type f -o -type l \) | sort > $(STAGE)-destdir.left || \
	  { cat $(STAGE).log; echo "check-consumers: DESTDIR install/uninstall failed"; exit 1; }
	@STAGE=$(abspath $(STAGE)) CC="$(CC)" CXX="$(CXX)" VERSION=$(VERSION) PYTHON=$(PYTHON_NUMPY) \
	  DESTDIR_ROOT=$(abspath $(STAGE))-destdir DESTDIR_LIST=$(STAGE)-destdir.list \
	  DESTDIR_LEFT=$(STAGE)-destdir.left DESTDIR_PC=$(STAGE)-destdir.pc bash tests/consumers/run.sh

CHECK_EXTRA += check-consumers

# ---- the Python binding on the build tree ----------------------------------------
# /usr/bin/python3 (Debian's, with python3-numpy) runs the numpy path and,
# with INCEPTION_NO_NUMPY=1, the plain-list path; `python3` from PATH (e.g. a
# pyenv one without numpy) runs too when it is another interpreter that works.
PYTHON_PLAIN ?= python3

.PHONY: check-python
# Pinned to one thread: tiny networks, and OpenMP barriers spin badly on a
# busy 2-core machine.
check-python: lib
	@rc=0; export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1; \
	echo "== $(PYTHON_NUMPY) (numpy arrays)"; \
	$(PYTHON_NUMPY) tests/python/test_binding.py || rc=1; \
	echo "== $(PYTHON_NUMPY), INCEPTION_NO_NUMPY=1 (lists)"; \
	INCEPTION_NO_NUMPY=1 $(PYTHON_NUMPY) tests/python/test_binding.py || rc=1; \
	plain=$$(command -v $(PYTHON_PLAIN) || true); \
	if [ -n "$$plain" ] && [ "$$($$plain -c 'import sys; print(sys.executable)' 2>/dev/null)" != \
	     "$$($(PYTHON_NUMPY) -c 'import sys; print(sys.executable)')" ] && $$plain -c 'import ctypes' 2>/dev/null; then \
	  echo "== $$plain ($$($$plain -c 'import sys; print(sys.version.split()[0])'))"; \
	  $$plain tests/python/test_binding.py || rc=1; \
	fi; \
	echo "== examples/python/train_small.py --synthetic --steps 40 --batch 16 --check"; \
	$(PYTHON_NUMPY) examples/python/train_small.py --synthetic --steps 40 --batch 16 --check \
	  || rc=1; \
	exit $$rc

CHECK_EXTRA += check-python

# ---- the API reference ------------------------------------------------------------
.PHONY: api-doc check-api-doc
api-doc:
	python3 scripts/gen-api-doc.py include/inception.h > docs/api.md.tmp
	mv docs/api.md.tmp docs/api.md

check-api-doc:
	@mkdir -p $(BUILD)
	@python3 scripts/gen-api-doc.py include/inception.h > $(BUILD)/api.md
	@if diff -u docs/api.md $(BUILD)/api.md > $(BUILD)/api.md.diff; then \
	  echo "check-api-doc: docs/api.md matches include/inception.h"; \
	else \
	  head -60 $(BUILD)/api.md.diff; \
	  echo "check-api-doc: docs/api.md is out of date; run 'make api-doc' and commit it"; exit 1; \
	fi

CHECK_EXTRA += check-api-doc

.PHONY: clean-package
clean-package:
	rm -rf $(STAGE) $(STAGE)-destdir $(STAGE)-destdir.* $(STAGE).log $(BUILD)/consumers
