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
	rm -f $(BENCH_BIN) $(BENCH_CONV_BIN)
clean: clean-bench
