# mk/bench.mk — the benchmark (docs/performance.md).
#
#   make bench              build examples/bench and run it with its defaults
#                           (CPU, 96x96, batch 128, 2 threads); BENCH_ARGS adds
#                           options, e.g. make bench BENCH_ARGS="--size 28"
#   make bench-torch        the same model and figures in PyTorch
#                           (examples/bench_torch.py, Debian's python3-torch)
#   make bench-ort          inference of the same model in onnxruntime (CPU):
#                           examples/bench_ort.py exports it with
#                           inc_layer_export_onnx and times it; numpy and
#                           onnxruntime from PyPI into build/onnx-venv as
#                           check-onnx installs them (mk/onnx.mk), "skipped"
#                           without them
#   make bench-compare      bench, bench-torch and bench-ort, one after the
#                           other, each output kept in build/bench-compare/,
#                           then the ratios (scripts/bench-ratios.py)
#   make bench-conv         examples/bench_conv: each 3x3 convolution shape of
#                           GoogLeNet with the direct convolution and Winograd
#                           F(2) and F(4) (the auto rule's measurements);
#                           BENCH_CONV_ARGS="--size 28" etc.
#   make bench-gemm         examples/bench_gemm: every SGEMM call of one
#                           GoogLeNet training step and inference pass,
#                           timed with OpenBLAS, BLIS, libxsmm and oneDNN
#                           (those installed); BENCH_GEMM_ARGS="--size 28";
#                           always built with GEMM=openblas (it records
#                           the library's cblas_sgemm calls)
#   make check-bench-gemm   a smoke test of it (tests/bench_gemm_test.sh:
#                           --quick runs, no timings checked; not in make check)
#   make deps-bench         installs the other GEMM libraries bench-gemm
#                           compares (benchmark-only: not part of make deps)
#
# examples/bench links lib/libinception.a statically and reads internal
# headers (the profiling hook and the layer shapes), like the test runner.

BENCH_BIN := examples/bench
BENCH_ARGS ?=
BENCH_PY ?= /usr/bin/python3

$(BUILD)/examples/bench.o: examples/bench.c examples/openblas_env.h examples/bench_util.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) \
	  -Iinclude -Isrc -D_GNU_SOURCE -c $< -o $@

# bench_util.c: the clock, option and median helpers the three programs share
$(BUILD)/examples/bench_util.o: examples/bench_util.c examples/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) -std=c99 $(OPT) -g -Wall -Wextra -Wshadow $(WERROR) -c $< -o $@

$(BENCH_BIN): $(BUILD)/examples/bench.o $(BUILD)/examples/bench_util.o lib/libinception.a
	$(CC) -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS) -Wl,-rpath,'$$ORIGIN/../lib'

BENCH_CONV_BIN := examples/bench_conv
BENCH_CONV_ARGS ?=

$(BUILD)/examples/bench_conv.o: examples/bench_conv.c examples/openblas_env.h examples/bench_util.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) \
	  -Iinclude -Isrc -D_GNU_SOURCE -c $< -o $@

$(BENCH_CONV_BIN): $(BUILD)/examples/bench_conv.o $(BUILD)/examples/bench_util.o lib/libinception.a
	$(CC) -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS) -Wl,-rpath,'$$ORIGIN/../lib'

BENCH_COMPARE_OUT := build/bench-compare
# the bench-ort command (bench-compare runs it too)
BENCH_ORT_RUN = $(ONNX_RUN) $$py examples/bench_ort.py $(BENCH_ARGS)

.PHONY: bench bench-torch bench-ort bench-compare bench-conv clean-bench
bench: $(BENCH_BIN)
	./$(BENCH_BIN) $(BENCH_ARGS)

bench-torch:
	$(BENCH_PY) examples/bench_torch.py $(BENCH_ARGS)

bench-ort: lib/$(SOFILE)
	@$(call onnx_venv,bench-ort)
	@$(BENCH_ORT_RUN)

bench-compare: $(BENCH_BIN) lib/$(SOFILE)
	@mkdir -p $(BENCH_COMPARE_OUT)
	set -o pipefail; ./$(BENCH_BIN) $(BENCH_ARGS) | tee $(BENCH_COMPARE_OUT)/libinception.txt
	set -o pipefail; $(BENCH_PY) examples/bench_torch.py $(BENCH_ARGS) | \
	  tee $(BENCH_COMPARE_OUT)/pytorch.txt
	@$(call onnx_venv,bench-ort)
	@echo "examples/bench_ort.py $(BENCH_ARGS)"; \
	set -o pipefail; { $(BENCH_ORT_RUN); } | tee $(BENCH_COMPARE_OUT)/onnxruntime.txt
	@$(BENCH_PY) scripts/bench-ratios.py $(BENCH_COMPARE_OUT)

bench-conv: $(BENCH_CONV_BIN)
	./$(BENCH_CONV_BIN) $(BENCH_CONV_ARGS)

clean-bench:
	rm -f $(BENCH_BIN) $(BENCH_CONV_BIN) $(BENCH_GEMM_BIN) examples/bench_gemm_*.so
clean: clean-bench

# ---- the GEMM library comparison (docs/performance.md, "The GEMM library")
# The alternatives are opened with dlopen at run time, so the bench builds
# and runs without them (their columns read n/a). BLIS is asked for in its
# OpenMP flavour, like OpenBLAS (Makefile: BLAS_DIR), so both thread the
# same way; the other two have one flavour each in Debian.
DEB_BENCH := libblis-dev libblis-openmp-dev libxsmm-dev libdnnl-dev
deps-bench:
	$(call deb_install,deps-bench,$(DEB_BENCH))
.PHONY: deps-bench

# examples/bench_gemm (bench_gemm.c records, bench_gemm_time.c times) and
# one adapter module per other library, examples/bench_gemm_<lib>.so, each
# built only when the library's development files are there (else its
# column reads n/a). The bench defines cblas_sgemm itself to record the
# library's calls (see bench_gemm.c), so it links the static library.
BENCH_GEMM_BIN := examples/bench_gemm
BENCH_GEMM_ARGS ?=
BENCH_GEMM_CFLAGS := -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) \
  -fopenmp -D_GNU_SOURCE
BENCH_MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
BLIS_DIR := /usr/lib/$(BENCH_MULTIARCH)/blis-openmp
BLIS_INC := /usr/include/$(BENCH_MULTIARCH)/blis-openmp
XSMM_LIBS := /usr/lib/libxsmmext.a /usr/lib/libxsmm.a
BENCH_GEMM_ADAPTERS := \
  $(if $(and $(wildcard $(BLIS_INC)/blis.h),$(wildcard $(BLIS_DIR)/libblis.so.4)),examples/bench_gemm_blis.so) \
  $(if $(and $(wildcard /usr/include/libxsmm.h),$(wildcard $(XSMM_LIBS))),examples/bench_gemm_xsmm.so) \
  $(if $(and $(wildcard /usr/include/dnnl.h),$(wildcard /usr/lib/$(BENCH_MULTIARCH)/libdnnl.so)),examples/bench_gemm_dnnl.so)

$(BUILD)/examples/bench_gemm.o: examples/bench_gemm.c examples/bench_gemm.h examples/openblas_env.h examples/bench_util.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_GEMM_CFLAGS) -Iinclude -Isrc -c $< -o $@

$(BUILD)/examples/bench_gemm_time.o: examples/bench_gemm_time.c examples/bench_gemm.h \
  examples/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_GEMM_CFLAGS) -c $< -o $@

$(BENCH_GEMM_BIN): $(BUILD)/examples/bench_gemm.o $(BUILD)/examples/bench_gemm_time.o \
  $(BUILD)/examples/bench_util.o lib/libinception.a
	$(CC) -fopenmp -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS)

# BLIS's OpenMP flavour by path (Debian's alternatives may point at another)
examples/bench_gemm_blis.so: examples/bench_gemm_blis.c examples/bench_gemm.h
	$(CC) $(BENCH_GEMM_CFLAGS) -fPIC -fvisibility=hidden -isystem $(BLIS_INC) -shared -o $@ $< \
	  -L$(BLIS_DIR) -l:libblis.so.4 -Wl,-rpath,$(BLIS_DIR)

# libxsmm is static only in Debian: its archives go into the module, their
# symbols kept inside it; sgemm_ stays undefined (OpenBLAS's, at load)
examples/bench_gemm_xsmm.so: examples/bench_gemm_xsmm.c examples/bench_gemm.h
	$(CC) $(BENCH_GEMM_CFLAGS) -fPIC -fvisibility=hidden -shared -o $@ $< $(XSMM_LIBS) \
	  -Wl,--exclude-libs,ALL -lpthread -lrt -ldl -lm

examples/bench_gemm_dnnl.so: examples/bench_gemm_dnnl.c examples/bench_gemm.h
	$(CC) $(BENCH_GEMM_CFLAGS) -fPIC -fvisibility=hidden -shared -o $@ $< -ldnnl

.PHONY: bench-gemm check-bench-gemm
ifeq ($(GEMM),openblas)
bench-gemm: $(BENCH_GEMM_BIN) $(BENCH_GEMM_ADAPTERS)
	./$(BENCH_GEMM_BIN) $(BENCH_GEMM_ARGS)

check-bench-gemm: $(BENCH_GEMM_BIN) $(BENCH_GEMM_ADAPTERS)
	BENCH_GEMM=$(BENCH_GEMM_BIN) bash tests/bench_gemm_test.sh
else
# the bench records the library's cblas_sgemm calls: only the OpenBLAS
# build makes them, so these build and run that flavour (lib/ follows)
bench-gemm check-bench-gemm:
	$(MAKE) --no-print-directory GEMM=openblas $@
endif
