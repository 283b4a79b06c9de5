# mk/cudaemu.mk — the CUDA backend executed on the CPU (docs/gpu.md).
#
#   make check-cuda-emu   builds the emulated CUDA runtime and cuBLAS
#                         (tests/cudaemu/ -> build/emu/libcudaemu.so), the
#                         CUDA module from the same cuda/*.cu sources with g++
#                         against it (build/emu/$(CUDA_MODULE)), and runs the
#                         CUDA suites with the core loading that module
#                         [CHECK_EXTRA]: `cuda` (every op against the CPU
#                         backend; cooperative kernels on real threads),
#                         `cuda_net` (loader, GoogLeNet step and a training
#                         run against the CPU, misuse the emulator catches),
#                         `cuda_faults` (device faults) and `registry`
#                         (the generated backend tables); the last three
#                         with cooperative blocks as fibers (fast, see
#                         tests/cudaemu/launch.cc). Needs g++ only: no nvcc,
#                         no GPU.
#
# The ASan + UBSan build of the same (build/asan-emu/) is run by check-asan,
# the TSan one (build/tsan-emu/, the `cuda` suite with real threads) by
# check-tsan (mk/reliability.mk). $(call emu_variant,DIR,FLAGS) makes
# DIR/libcudaemu.so and DIR/$(CUDA_MODULE); FLAGS may hold $$(VAR)s,
# expanded when the rules run.

EMU_CXX ?= g++
EMU_SRC := $(sort $(wildcard tests/cudaemu/*.cc))
EMU_HDR := $(wildcard tests/cudaemu/*.h)
EMU_WARN := -Wall -Wextra -Wno-unused-parameter
# suite:CUDAEMU_COOP mode
EMU_SUITES := cuda:threads cuda_net:fibers cuda_faults:fibers registry:fibers batchnorm:fibers builders:fibers
EMU_SUITES += grad_hook:fibers grad_hook_life:fibers winograd:fibers conv_unroll:fibers

define emu_variant
$(1)/cudaemu/%.o: tests/cudaemu/%.cc $$(EMU_HDR)
	@mkdir -p $$(dir $$@)
	$$(EMU_CXX) -std=c++17 $(2) -fPIC $$(EMU_WARN) $$(WERROR) -Itests/cudaemu -c $$< -o $$@

$(1)/libcudaemu.so: $$(EMU_SRC:tests/cudaemu/%.cc=$(1)/cudaemu/%.o)
	$$(EMU_CXX) $(2) -shared -Wl,-soname,libcudaemu.so -Wl,--no-undefined -o $$@ $$^ -lpthread

# cuda/*.cu as host C++: the emulator's cuda_runtime.h and cublas_v2.h come
# first on the include path; -ffp-contract=off as nvcc's -fmad=false.
$(1)/cuda/%.o: cuda/%.cu $$(HEADERS) $$(EMU_HDR)
	@mkdir -p $$(dir $$@)
	$$(EMU_CXX) -x c++ -std=c++17 $(2) -fPIC -fvisibility=hidden -ffp-contract=off $$(EMU_WARN) \
	  $$(WERROR) -Itests/cudaemu -Iinclude -Isrc -D_GNU_SOURCE -c $$< -o $$@

$(1)/$$(CUDA_MODULE): $$(CUDA_CU:cuda/%.cu=$(1)/cuda/%.o) $(1)/libcudaemu.so cuda/module.map
	$$(EMU_CXX) $(2) -shared -Wl,-soname,$$(CUDA_MODULE) -Wl,--version-script=cuda/module.map \
	  -Wl,--no-undefined -o $$@ $$(filter %.o,$$^) -L$(1) -lcudaemu -Wl,-rpath,'$$$$ORIGIN' \
	  -lpthread
endef

$(eval $(call emu_variant,build/emu,-O2 -g))
$(eval $(call emu_variant,build/asan-emu,-O1 -g $$(REL_SAN)))
$(eval $(call emu_variant,build/tsan-emu,-O1 -g -fsanitize=thread))

.PHONY: check-cuda-emu
# One process per suite; Check forks each test, so a device fault in one
# test never reaches the next. The last line sums the suites.
check-cuda-emu: $(BUILD)/tests/run build/emu/$(CUDA_MODULE)
	@echo "check-cuda-emu: the CUDA suites against build/emu/$(CUDA_MODULE) (cuda/*.cu on the emulated runtime)"
	@rc=0; passed=0; failed=0; t0=$$(date +%s); \
	for sm in $(EMU_SUITES); do \
	  s=$${sm%%:*}; log=build/emu/$$s.log; t1=$$(date +%s); \
	  INCEPTION_CUDA_MODULE=$(abspath build/emu/$(CUDA_MODULE)) CK_RUN_SUITE=$$s \
	    CUDAEMU_COOP=$${sm#*:} OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
	    $(BUILD)/tests/run > $$log 2>&1 || rc=1; \
	  line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed' $$log | tail -1); \
	  echo "  $$s: $${line:-no result}, $$(( $$(date +%s) - t1 ))s (log: $$log)"; \
	  grep -E '^(CUDA device|CUDA parity|CUDA network|googlenet|cuda_faults|winograd)' $$log | sed 's/^/    /'; \
	  p=$$(echo "$$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); f=$$(echo "$$line" | sed -n 's/.*, \([0-9]*\) failed.*/\1/p'); \
	  passed=$$((passed + $${p:-0})); failed=$$((failed + $${f:-1})); \
	  if grep -qE 'CUDA (parity|network|device-fault|registry) cases skipped' $$log; then \
	    rc=1; echo "  $$s: the emulated device was not used"; fi; \
	  if [ "$$(grep -cE '^[0-9]+ passed, 0 failed' $$log)" = 0 ]; then rc=1; grep -E ':[EF]:|MISUSE|LEAK' $$log | head -30; fi; \
	done; \
	echo "check-cuda-emu: $$(( $$(date +%s) - t0 ))s"; \
	echo "check-cuda-emu: $$passed passed, $$failed failed"; exit $$rc

CHECK_EXTRA += check-cuda-emu

.PHONY: clean-emu
clean-emu:
	rm -rf build/emu build/asan-emu
clean: clean-emu
