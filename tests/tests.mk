# tests/tests.mk — the Check suites and `make check`.
#
# Every tests/test_*.c defines one `Suite *inc_test_suite_<name>(void)` at
# the start of a line; the build lists them in suites.inc and tests/main.c
# runs them all (or those named in CK_RUN_SUITE) and prints the summary. The runner links the static
# library so that tests can reach internal symbols (kernel bodies, backend
# tables) as well as the public API.

TEST_SRC := $(sort $(wildcard tests/test_*.c)) tests/main.c $(wildcard tests/fixture.c tests/util.c tests/cuda_util.c tests/op_cases.c tests/op_bodies.c)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(BUILD)/tests/run
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -lpthread)
TEST_CFLAGS := -std=c99 $(OPT) -g -fopenmp -Wall -Wextra -Wno-unused-parameter $(WERROR) \
               -Iinclude -Isrc -Itests -D_GNU_SOURCE $(EXTRA_CFLAGS)

$(BUILD)/tests/%.o: tests/%.c $(HEADERS) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

# The list of suites, generated from the test files.
$(BUILD)/tests/suites.inc: $(sort $(wildcard tests/test_*.c))
	@mkdir -p $(dir $@)
	@cat /dev/null $^ | sed -n 's/^Suite \*inc_test_suite_\([a-z0-9_]*\)(void)$$/INC_SUITE(\1)/p' > $@.tmp
	@mv $@.tmp $@
$(BUILD)/tests/main.o: $(BUILD)/tests/suites.inc
$(BUILD)/tests/main.o: TEST_CFLAGS += -I$(BUILD)/tests

$(TEST_BIN): $(TEST_OBJ) lib/libinception.a
	$(CC) $(TEST_CFLAGS) -o $@ $(TEST_OBJ) lib/libinception.a $(CHECK_LIBS) $(LIBS) \
	  -Wl,-rpath,'$$ORIGIN/../../../lib'

.PHONY: check-unit
# Tests pin their thread counts so results never depend on the machine.
check-unit: $(TEST_BIN)
	OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $(TEST_BIN)

# Packages first (apt-get when root), then the suites, then each area's
# extra checks, one after the other so their output stays readable.
check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory lib
	@$(MAKE) --no-print-directory check-unit
	@for t in $(CHECK_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done
test: check

# Extra targets .ci/run runs after `make check` (areas append to CI_EXTRA).
.PHONY: ci-extra-targets
ci-extra-targets:
	@echo $(CI_EXTRA)

# test_bf16.c asks oneDNN itself (its ISA limit) in the GEMM=onednn build.
$(BUILD)/tests/test_bf16.o: TEST_CFLAGS += $(GEMM_CPPFLAGS)
