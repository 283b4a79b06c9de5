# libinception — one Makefile for the library, tests, examples and install.
#
#   make            build lib/libinception.so.* and lib/libinception.a
#   make check      build and run every test (Check suites + script tests)
#   make train      install what training needs (as root), build, train GoogLeNet
#   make CUDA=0     build without the CUDA module (the core never links CUDA)
#   make GEMM=openblas  the CPU backend's SGEMM from OpenBLAS instead of oneDNN
#                   (GEMM=onednn, the default); each GEMM has its own build dir
#   make install PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages the build and the tests need
#   make deps-train install only those building and training need

SHELL := /bin/bash
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=

CC ?= cc
CXX ?= g++
ifeq ($(origin CC),default)
CC := gcc
endif

# ---- version, from the header ----------------------------------------------
V_MAJOR := $(shell sed -n 's/^\#define INC_VERSION_MAJOR \([0-9]*\).*/\1/p' include/inception.h)
V_MINOR := $(shell sed -n 's/^\#define INC_VERSION_MINOR \([0-9]*\).*/\1/p' include/inception.h)
V_PATCH := $(shell sed -n 's/^\#define INC_VERSION_PATCH \([0-9]*\).*/\1/p' include/inception.h)
VERSION := $(V_MAJOR).$(V_MINOR).$(V_PATCH)
SONAME := libinception.so.$(V_MAJOR)
SOFILE := libinception.so.$(VERSION)

# ---- CUDA detection ---------------------------------------------------------
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc; })
ifeq ($(strip $(NVCC)),)
CUDA ?= 0
else
CUDA ?= 1
endif
CUDA_LIBDIR ?= $(CUDA_HOME)/lib64
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90

# ---- flags ------------------------------------------------------------------
OPT ?= -O2
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# Warnings are errors here; `make WERROR=` for a foreign compiler (gpu-check.sh).
WERROR ?= -Werror
CPPFLAGS_LIB := -Iinclude -Isrc -D_GNU_SOURCE -DINC_BUILD
CFLAGS_LIB := -std=c99 $(OPT) -g -fPIC -fvisibility=hidden -fopenmp $(WARN) $(WERROR) \
              -ffp-contract=off $(EXTRA_CFLAGS)
NVCCFLAGS := -std=c++17 $(OPT) -g -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Wno-unused-parameter \
             $(if $(WERROR),-Werror all-warnings) -Iinclude -Isrc $(CUDA_ARCH) -fmad=false \
             $(EXTRA_NVCCFLAGS)
# OpenBLAS's OpenMP build shares one thread pool with our OpenMP loops; the
# default pthread build spins its own threads against ours (4x slower on 2
# cores), so link the OpenMP flavour by path when Debian provides it.
BLAS_DIR ?= $(firstword $(wildcard /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/openblas-openmp))
ifneq ($(BLAS_DIR),)
BLAS_LIBS := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
else
BLAS_LIBS := -lopenblas
endif
# The CPU backend's SGEMM library, chosen at build time: onednn (the
# default since 0.6: dnnl_sgemm, Debian's libdnnl-dev; its OpenMP runtime
# shares OpenMP's threads as the OpenMP OpenBLAS does; 4-14% faster steps,
# docs/performance.md) or openblas (CBLAS, the fallback). Nothing else in the
# library calls a BLAS, so the oneDNN build links no OpenBLAS.
GEMM ?= onednn
ifeq ($(GEMM),openblas)
GEMM_CPPFLAGS :=
GEMM_LIBS := $(BLAS_LIBS)
GEMM_DEBS := libopenblas-dev libopenblas-openmp-dev
else ifeq ($(GEMM),onednn)
GEMM_CPPFLAGS := -DINC_CPU_GEMM_ONEDNN
GEMM_LIBS := -ldnnl
GEMM_DEBS := libdnnl-dev
else
$(error GEMM=$(GEMM): the CPU GEMM library is onednn (the default) or openblas)
endif
# The core links no CUDA library: the CUDA backend is a module it loads at
# run time (src/module.c), linked with the static CUDA runtime; the module
# opens cuBLAS itself once it has found a device (cuda/cublas.cu), from the
# toolkit named by its RUNPATH first.
LIBS := $(GEMM_LIBS) -lgomp -lpthread -ldl -lm
CUDA_MODULE := libinception-cuda.so.$(V_MAJOR)
CUDA_MODULE_LIBS := -L$(CUDA_LIBDIR) -lcudart_static -ldl -lrt -lpthread \
                    -Wl,-rpath,$(CUDA_LIBDIR)

# ---- sources ----------------------------------------------------------------
LIB_C := $(sort $(wildcard src/*.c src/cpu/*.c src/layers/*.c))
CUDA_CU := $(sort $(wildcard cuda/*.cu))
# objects of two configurations never mix: build/cuda1, build/cuda0-onednn...
BUILD := build/cuda$(CUDA)$(if $(filter onednn,$(GEMM)),-onednn)
LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o)
# the CUDA module has no CPU GEMM: one set of its objects for every GEMM
CUDA_BUILD := build/cuda$(CUDA)
CUDA_OBJ := $(CUDA_CU:%.cu=$(CUDA_BUILD)/%.o)
HEADERS := include/inception.h $(wildcard src/*.h src/cpu/*.h src/layers/*.h cuda/*.cuh)

.PHONY: all lib deps check test train bench install uninstall clean cuda-report
all: lib
lib: lib/$(SOFILE) lib/libinception.a $(if $(filter 1,$(CUDA)),lib/$(CUDA_MODULE))

$(BUILD)/%.o: %.c $(HEADERS) | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_LIB) $(GEMM_CPPFLAGS) $(CFLAGS_LIB) -c $< -o $@

$(CUDA_BUILD)/%.o: %.cu $(HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# lib/ is shared by CUDA=0/1 and GEMM builds: relink when the flavour changes.
FLAVOR := build/.flavor
$(shell mkdir -p build; echo "$(CUDA) $(GEMM)" | cmp -s - $(FLAVOR) || echo "$(CUDA) $(GEMM)" > $(FLAVOR))

lib/$(SOFILE): $(LIB_OBJ) src/libinception.map $(FLAVOR)
	@mkdir -p lib
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libinception.map \
	  -Wl,--no-undefined -o $@ $(LIB_OBJ) $(LIBS)
	ln -sf $(SOFILE) lib/$(SONAME)
	ln -sf $(SONAME) lib/libinception.so

lib/libinception.a: $(LIB_OBJ) $(FLAVOR)
	@mkdir -p lib
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

# The CUDA module: cuda/*.cu by nvcc, exporting only its entry point.
lib/$(CUDA_MODULE): $(CUDA_OBJ) cuda/module.map
	@mkdir -p lib
	$(CXX) -shared -Wl,-soname,$(CUDA_MODULE) -Wl,--version-script=cuda/module.map \
	  -Wl,--no-undefined -o $@ $(CUDA_OBJ) $(CUDA_MODULE_LIBS)

cuda-report:
ifeq ($(CUDA),1)
	@for f in $(CUDA_CU); do echo "== $$f"; \
	  $(NVCC) $(NVCCFLAGS) -Xptxas -v -c $$f -o /dev/null 2>&1 | grep -E "Compiling|registers|spill" ; done
else
	@echo "cuda-report: CUDA=0 (nvcc not found); nothing to report"
endif

# ---- dependencies (Debian), by purpose --------------------------------------
# Building and training: a C compiler, the GEMM library (oneDNN, or OpenBLAS
# with GEMM=openblas), zlib, the data set, gnuplot (`make train` installs
# only these). The tests add their tools: Check, Python with numpy and
# PyTorch (reference values), OpenBLAS (the sanitizer builds and
# examples/bench_gemm link it whatever GEMM is), and what each area appends
# to DEB_EXTRA in mk/*.mk (g++, abigail-tools, valgrind, clang).
DEB_BUILD := gcc make pkg-config zlib1g-dev $(GEMM_DEBS)
DEB_TRAIN := dataset-fashion-mnist gnuplot-nox
DEB_TEST := check libsubunit-dev python3 python3-numpy python3-torch \
            libopenblas-dev libopenblas-openmp-dev
DEB_EXTRA :=
DEB_ALL = $(DEB_BUILD) $(DEB_TRAIN) $(DEB_TEST) $(DEB_EXTRA)

# $(call deb_install,NAME,PACKAGES): installs the missing ones (apt-get when
# root, else prints the command and fails).
define deb_install
@missing=""; for p in $(2); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
if [ -z "$$missing" ]; then echo "$(1): all Debian packages present"; \
elif [ "$$(id -u)" = 0 ]; then echo "$(1): installing$$missing"; \
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
else echo "$(1): missing$$missing; run: sudo apt-get install$$missing"; exit 1; fi
endef
deps:
	$(call deb_install,deps,$(DEB_ALL))
deps-train:
	$(call deb_install,deps-train,$(DEB_BUILD) $(DEB_TRAIN))
.PHONY: deps-train
# Building the library needs only the build packages; checked quietly.
deps-build:
	@for p in $(GEMM_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || \
	  { echo "missing $$p: run 'make deps'"; exit 1; }; done
.PHONY: deps-build

# Each area adds its rules in mk/<area>.mk and may append to CHECK_EXTRA
# (targets `make check` runs after the unit suites), CI_EXTRA (targets
# .ci/run runs after `make check`) and INSTALL_EXTRA.
CHECK_EXTRA :=
INSTALL_EXTRA :=
UNINSTALL_EXTRA :=
CI_EXTRA :=
include $(sort $(wildcard mk/*.mk))
include tests/tests.mk

clean:
	rm -rf build lib
