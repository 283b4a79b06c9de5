# mk/bench.mk — the benchmark (docs/performance.md).
#
#   make bench              build examples/bench and run it with its defaults
#                           (CPU, 96x96, batch 128, 2 threads); BENCH_ARGS adds
#                           options, e.g. make bench BENCH_ARGS="--size 28"
#   make bench-torch        the same model and figures in PyTorch
#                           (examples/bench_torch.py, Debian's python3-torch)
#   make bench-compare      both, one after the other, for the ratio
#   make bench-conv         examples/bench_conv: each 3x3 convolution shape of
#                           GoogLeNet with the direct convolution and Winograd
#                           F(2) and F(4) (the auto rule's measurements);
#                           BENCH_CONV_ARGS="--size 28" etc.
#   make deps-bench         installs the other GEMM libraries bench-gemm
#                           compares (benchmark-only: not part of make deps)
#
# examples/bench links lib/libinception.a statically and reads internal
# headers (the profiling hook and the layer shapes), like the test runner.

BENCH_BIN := examples/bench
BENCH_ARGS ?=
BENCH_PY ?= /usr/bin/python3

$(BUILD)/examples/bench.o: examples/bench.c examples/openblas_env.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) \
	  -Iinclude -Isrc -D_GNU_SOURCE -c $< -o $@

$(BENCH_BIN): $(BUILD)/examples/bench.o lib/libinception.a
	$(CC) -o $@ $< lib/libinception.a $(LIBS) -Wl,-rpath,'$$ORIGIN/../lib'

BENCH_CONV_BIN := examples/bench_conv
BENCH_CONV_ARGS ?=

$(BUILD)/examples/bench_conv.o: examples/bench_conv.c examples/openblas_env.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) \
	  -Iinclude -Isrc -D_GNU_SOURCE -c $< -o $@

$(BENCH_CONV_BIN): $(BUILD)/examples/bench_conv.o lib/libinception.a
	$(CC) -o $@ $< lib/libinception.a $(LIBS) -Wl,-rpath,'$$ORIGIN/../lib'

.PHONY: bench bench-torch bench-compare bench-conv clean-bench
bench: $(BENCH_BIN)
	./$(BENCH_BIN) $(BENCH_ARGS)

bench-torch:
	$(BENCH_PY) examples/bench_torch.py $(BENCH_ARGS)

bench-compare: $(BENCH_BIN)
	./$(BENCH_BIN) $(BENCH_ARGS)
	$(BENCH_PY) examples/bench_torch.py $(BENCH_ARGS)

bench-conv: $(BENCH_CONV_BIN)
	./$(BENCH_CONV_BIN) $(BENCH_CONV_ARGS)

clean-bench:
	rm -f $(BENCH_BIN) $(BENCH_CONV_BIN)
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
