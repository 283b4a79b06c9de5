# mk/dist.mk — data-parallel training over Open MPI and NCCL (docs/distributed.md).
#
#   make dist-lib     lib/libinception-dist.so.$(VERSION) (SONAME
#                     libinception-dist.so.$(V_MAJOR)) and lib/libinception-dist.a
#                     from src/dist/*.c, header include/inception_dist.h; part of
#                     `make lib` when mpicc is found. NCCL's part is built when
#                     nccl.h is found ($(CUDA_HOME)/include or the system's);
#                     NCCL itself is opened at run time, never linked
#   make check-dist   the MPI tests (tests/dist_test.sh): 1 vs 2 ranks after a
#                     slice of training with momentum, the trainer under
#                     mpirun against a single process, a killed rank and the
#                     watchdog, the NCCL path on the emulated CUDA runtime with
#                     the NCCL shim (tests/nccl_emu/), the dist library's API
#                     tests, and libinception.so's NEEDED entries; part of
#                     `make check` (CHECK_EXTRA). Without mpicc it says why it
#                     is skipped and passes.
#   make check-dist-asan   the API tests and two scenarios under ASan + UBSan
#                     (CI_EXTRA)
#   make install      also installs inception_dist.h and both libraries
#                     (INSTALL_EXTRA: install-dist)
#
# Open MPI (openmpi-bin, libopenmpi-dev) is a test and cluster dependency:
# `make deps` installs it, `make train` (deps-train) does not, and a build
# without mpicc builds everything else (the trainer then runs as one process).

DIST_DEBS := openmpi-bin libopenmpi-dev
DEB_EXTRA += $(DIST_DEBS)

MPICC ?= $(shell command -v mpicc 2>/dev/null)
MPIRUN ?= $(shell command -v mpirun 2>/dev/null)
DIST := $(if $(strip $(MPICC)),1,0)
NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
DIST_NCCL_CPPFLAGS := $(if $(NCCL_H),-DINC_DIST_NCCL -isystem $(dir $(NCCL_H)))
# NCCL (libnccl.so.2) through the RUNPATH of whatever holds src/dist/nccl.c.
DIST_COMMA := ,
DIST_NCCL_RPATH := $(if $(NCCL_H),-Wl$(DIST_COMMA)-rpath$(DIST_COMMA)$(CUDA_LIBDIR))

DIST_SONAME := libinception-dist.so.$(V_MAJOR)
DIST_SOFILE := libinception-dist.so.$(VERSION)
DIST_C := $(sort $(wildcard src/dist/*.c))
DIST_BUILD := $(BUILD)/dist
DIST_OBJ := $(DIST_C:%.c=$(DIST_BUILD)/%.o)
DIST_HEADERS := include/inception.h include/inception_dist.h $(wildcard src/dist/*.h)
DIST_LIBS := lib/$(DIST_SOFILE) lib/libinception-dist.a

.PHONY: dist-lib check-dist
ifeq ($(DIST),1)
dist-lib: $(DIST_LIBS)
lib: dist-lib
else
dist-lib:
	@echo "dist-lib: mpicc not found (make deps installs Open MPI); libinception-dist not built"
endif

$(DIST_BUILD)/%.o: %.c $(DIST_HEADERS)
	@mkdir -p $(dir $@)
	$(MPICC) -std=c99 $(OPT) -g -fPIC -fvisibility=hidden $(WARN) $(WERROR) -Iinclude \
	  -D_GNU_SOURCE $(DIST_NCCL_CPPFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

# Linked against the shared core (found beside it: RUNPATH $ORIGIN).
lib/$(DIST_SOFILE): $(DIST_OBJ) src/dist/libinception-dist.map lib/$(SOFILE)
	$(MPICC) -shared -Wl,-soname,$(DIST_SONAME) \
	  -Wl,--version-script=src/dist/libinception-dist.map -Wl,--no-undefined -o $@ \
	  $(DIST_OBJ) -Llib -l:$(SOFILE) -ldl -lpthread -lm -Wl,-rpath,'$$ORIGIN' $(DIST_NCCL_RPATH)
	ln -sf $(DIST_SOFILE) lib/$(DIST_SONAME)
	ln -sf $(DIST_SONAME) lib/libinception-dist.so

lib/libinception-dist.a: $(DIST_OBJ)
	@mkdir -p lib
	rm -f $@
	ar rcs $@ $(DIST_OBJ)

# ---- the trainer --------------------------------------------------------------
# examples/train links libinception-dist.a (and MPI, through mpicc) when it is
# built; examples/train_dist.c is then compiled with TRAIN_DIST (mk/examples.mk).
# build/.dist-flavor holds DIST: the trainer's glue is rebuilt and relinked
# when mpicc appears or goes.
DIST_FLAVOR := build/.dist-flavor
$(shell mkdir -p build; echo "$(DIST)" | cmp -s - $(DIST_FLAVOR) || echo "$(DIST)" > $(DIST_FLAVOR))
$(BUILD)/examples/train_dist.o examples/train: $(DIST_FLAVOR)
ifeq ($(DIST),1)
EX_TRAIN_LD = $(MPICC)
EX_TRAIN_DIST_DEPS := lib/libinception-dist.a
EX_TRAIN_DIST_LIBS = lib/libinception-dist.a $(DIST_NCCL_RPATH)
$(BUILD)/examples/train_dist.o: EX_CPPFLAGS += -DTRAIN_DIST
$(BUILD)/examples/train_dist.o: include/inception_dist.h
else
EX_TRAIN_LD = $(CC)
endif

# ---- tests --------------------------------------------------------------------
# The MPI scenarios and the measurements link the shared libraries (RUNPATH
# lib/), the API tests too (with Check); the checkpoint comparison uses the
# public API and the examples' model builder.
DIST_TEST_DIR := $(DIST_BUILD)/tests
DIST_TEST_CFLAGS := -std=c99 $(OPT) -g -Wall -Wextra -Wno-unused-parameter $(WERROR) -Iinclude \
                    -Itests/dist -Iexamples -D_GNU_SOURCE
DIST_TEST_LIBS := -Llib -l:$(DIST_SOFILE) -l:$(SOFILE) -lm -Wl,-rpath,'$$ORIGIN/../../../../lib'
DIST_TEST_BINS := $(DIST_TEST_DIR)/scenarios $(DIST_TEST_DIR)/api $(DIST_TEST_DIR)/measure \
                  $(DIST_TEST_DIR)/ckpt_diff

$(DIST_TEST_DIR)/%.o: tests/dist/%.c tests/dist/common.h $(DIST_HEADERS)
	@mkdir -p $(dir $@)
	$(MPICC) $(DIST_TEST_CFLAGS) -c $< -o $@

$(DIST_TEST_DIR)/scenarios $(DIST_TEST_DIR)/measure: $(DIST_TEST_DIR)/%: $(DIST_TEST_DIR)/%.o \
    $(DIST_TEST_DIR)/common.o lib/$(DIST_SOFILE)
	$(MPICC) -o $@ $(filter %.o,$^) $(DIST_TEST_LIBS)

$(DIST_TEST_DIR)/api: $(DIST_TEST_DIR)/api.o $(DIST_TEST_DIR)/common.o lib/$(DIST_SOFILE)
	$(MPICC) -o $@ $(filter %.o,$^) $(DIST_TEST_LIBS) $(CHECK_LIBS)

$(DIST_TEST_DIR)/ckpt_diff: $(DIST_TEST_DIR)/ckpt_diff.o $(DIST_TEST_DIR)/common.o $(BUILD)/examples/net.o \
    lib/$(DIST_SOFILE)
	$(MPICC) -o $@ $(filter %.o,$^) $(DIST_TEST_LIBS)

# NCCL for the emulated CUDA runtime (tests/nccl_emu/), beside libcudaemu.so.
build/emu/libnccl-emu.so: tests/nccl_emu/nccl.cc $(EMU_HDR) build/emu/libcudaemu.so
	$(EMU_CXX) -std=c++17 -O2 -g -fPIC -shared $(EMU_WARN) $(WERROR) -Itests/cudaemu \
	  -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX \
	  $(shell $(MPICC) --showme:compile 2>/dev/null) -o $@ $< -Lbuild/emu -lcudaemu \
	  -Wl,-rpath,'$$ORIGIN' $(shell $(MPICC) --showme:link 2>/dev/null) -Wl,--no-undefined

DIST_CHECK_DEPS := $(DIST_TEST_BINS) examples/train build/emu/$(CUDA_MODULE) \
                   build/emu/libnccl-emu.so

ifeq ($(DIST),1)
check-dist: $(DIST_CHECK_DEPS)
	@MPIRUN="$(MPIRUN)" BIN=$(DIST_TEST_DIR) TRAIN=examples/train LIB=lib/$(SOFILE) \
	  DIST_LIB=lib/$(DIST_SOFILE) EMU_MODULE=$(abspath build/emu/$(CUDA_MODULE)) \
	  NCCL_EMU=$(abspath build/emu/libnccl-emu.so) OUT=$(DIST_BUILD)/check \
	  bash tests/dist_test.sh
else
check-dist:
	@echo "check-dist: skipped: mpicc not found (make deps installs Open MPI: $(DIST_DEBS))"
endif

CHECK_EXTRA += check-dist

# ---- ASan + UBSan -----------------------------------------------------------------
# The dist library and its tests built with the sanitizers of check-asan
# (mk/reliability.mk) against the ASan build of the core: the API tests in a
# plain run (leaks fatal), the 2-rank scenarios under mpirun (leak checks
# off: Open MPI keeps memory until exit). [CI_EXTRA]
DIST_ASAN := build/asan/dist
DIST_ASAN_CC = $(MPICC) -std=c99 -O1 -g $(REL_SAN) $(REL_WARN) -Iinclude -Itests/dist -D_GNU_SOURCE \
  $(DIST_NCCL_CPPFLAGS)
$(DIST_ASAN)/%: tests/dist/%.c tests/dist/common.c tests/dist/common.h $(DIST_C) $(DIST_HEADERS) \
    build/asan/libinception.a
	@mkdir -p $(dir $@)
	$(DIST_ASAN_CC) -o $@ $< tests/dist/common.c $(DIST_C) build/asan/libinception.a $(REL_LIBS) \
	  $(CHECK_LIBS)

.PHONY: check-dist-asan
ifeq ($(DIST),1)
check-dist-asan: $(DIST_ASAN)/api $(DIST_ASAN)/scenarios
	@echo "check-dist-asan: the dist library under ASan + UBSan"
	@OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 CK_FORK=no $(REL_ASAN_ENV) $(DIST_ASAN)/api
	@for s in basics equal; do \
	  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
	  OMPI_MCA_btl_vader_single_copy_mechanism=none $(MPIRUN) --oversubscribe -np 2 \
	    -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 \
	    -x ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=0 \
	    -x UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(DIST_ASAN)/scenarios $$s || exit 1; \
	done
else
check-dist-asan:
	@echo "check-dist-asan: skipped: mpicc not found"
endif
CI_EXTRA += check-dist-asan

# ---- install --------------------------------------------------------------------
# make install adds the header and both libraries where they were built
# (INSTALL_EXTRA); make uninstall removes them.
.PHONY: install-dist uninstall-dist
install-dist:
ifeq ($(DIST),1)
	$(INSTALL) -m 644 include/inception_dist.h $(DESTDIR)$(INCLUDEDIR)/inception_dist.h
	$(INSTALL) -m 755 lib/$(DIST_SOFILE) $(DESTDIR)$(LIBDIR)/$(DIST_SOFILE)
	ln -sf $(DIST_SOFILE) $(DESTDIR)$(LIBDIR)/$(DIST_SONAME)
	ln -sf $(DIST_SONAME) $(DESTDIR)$(LIBDIR)/libinception-dist.so
	$(INSTALL) -m 644 lib/libinception-dist.a $(DESTDIR)$(LIBDIR)/libinception-dist.a
endif
uninstall-dist:
	rm -f $(DESTDIR)$(INCLUDEDIR)/inception_dist.h $(DESTDIR)$(LIBDIR)/$(DIST_SOFILE) \
	  $(DESTDIR)$(LIBDIR)/$(DIST_SONAME) $(DESTDIR)$(LIBDIR)/libinception-dist.so \
	  $(DESTDIR)$(LIBDIR)/libinception-dist.a
INSTALL_EXTRA += install-dist
UNINSTALL_EXTRA += uninstall-dist
