# mk/reliability.mk — sanitizer, valgrind, allocation-failure, thread and
# fuzz builds of the CPU library and its Check runner (docs/reliability.md).
#
#   make check-asan          ASan + UBSan build (build/asan), every suite,
#                            CK_FORK=no, leaks fatal                  [CI_EXTRA]
#   make check-valgrind      memcheck over the plain -O2 build (build/vg),
#                            CK_FORK=no, --leak-check=full            [CI_EXTRA]
#   make check-faults        -DINC_FAULT_INJECTION + ASan (build/faults): the
#                            `faults` suite fails every allocation and every
#                            file write of a scenario in turn         [CI_EXTRA]
#   make check-tsan          TSan build (build/tsan), the `threads` suite and
#                            the others with OpenMP held to one thread [CI_EXTRA]
#   make check-fuzz-corpus   replays tests/fuzz/corpus/ through the fuzz
#                            targets built with gcc + ASan/UBSan  [CHECK_EXTRA]
#   make fuzz                clang libFuzzer builds (build/fuzz), each target
#                            for FUZZ_SECONDS (default 60)
#   make fuzz-corpus-seed    rewrites the library-made seed files of the corpus
#
# Every variant compiles the CPU sources (CUDA never, so the flavour of lib/
# does not matter) into its own directory and links its own runner from the
# same test sources as the regular one; nothing here touches lib/ or
# build/cuda*/. Timings and what each run leaves out: docs/reliability.md.

REL_LIB_C := $(sort $(wildcard src/*.c src/cpu/*.c src/layers/*.c))
REL_HEADERS := include/inception.h $(wildcard src/*.h src/cpu/*.h src/layers/*.h)
REL_TEST_H := $(wildcard tests/*.h)
REL_CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE -DINC_BUILD
REL_WARN := -Wall -Wextra -Wno-unused-parameter
REL_LIBS = $(BLAS_LIBS) -lgomp -lpthread -ldl -lm
REL_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

# Sanitizer runtime options shared by the ASan runs. allocator_may_return_null:
# the bad-argument suite asks for a 2^60-byte tensor and expects
# INC_ERR_OUT_OF_MEMORY, not an ASan abort.
REL_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
REL_RUN_ENV := CK_FORK=no OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2

# The Check runner of every test_*.c, as in tests/tests.mk. TEST_SRC is
# defined there (read after this file), hence the second expansion.
.SECONDEXPANSION:

# $(call rel_variant,NAME,CC,FLAGS): build/NAME/src/*.o, build/NAME/tests/run
define rel_variant
build/$(1)/src/%.o: src/%.c $$(REL_HEADERS)
	@mkdir -p $$(dir $$@)
	$(2) $$(REL_CPPFLAGS) -std=c99 $(3) $$(REL_CFLAGS_EXTRA) -fvisibility=hidden -fopenmp \
	  -ffp-contract=off $$(REL_WARN) -c $$< -o $$@

build/$(1)/tests/%.o: tests/%.c $$(REL_HEADERS) $$(REL_TEST_H)
	@mkdir -p $$(dir $$@)
	$(2) -std=c99 $(3) -fopenmp $$(REL_WARN) -Iinclude -Isrc -Itests -Ibuild/$(1)/tests \
	  -D_GNU_SOURCE -c $$< -o $$@

build/$(1)/tests/main.o: build/$(1)/tests/suites.inc

build/$(1)/tests/suites.inc: $$(sort $$(wildcard tests/test_*.c))
	@mkdir -p $$(dir $$@)
	@cat /dev/null $$^ | sed -n 's/^Suite \*inc_test_suite_\([a-z0-9_]*\)(void)$$$$/INC_SUITE(\1)/p' > $$@.tmp
	@mv $$@.tmp $$@

build/$(1)/libinception.a: $$(REL_LIB_C:%.c=build/$(1)/%.o)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/tests/run: $$$$(patsubst %.c,build/$(1)/%.o,$$$$(TEST_SRC)) build/$(1)/libinception.a
	$(2) $(3) -fopenmp -o $$@ $$(filter %.o,$$^) build/$(1)/libinception.a $$(CHECK_LIBS) \
	  $$(REL_LIBS)
endef

$(eval $(call rel_variant,asan,gcc,-O1 -g $(REL_SAN)))
$(eval $(call rel_variant,faults,gcc,-O1 -g $(REL_SAN) -DINC_FAULT_INJECTION))
$(eval $(call rel_variant,tsan,gcc,-O1 -g -fsanitize=thread))
$(eval $(call rel_variant,vg,gcc,-O2 -g))

# The CPU kernels dispatch through GCC target_clones (ifunc): their
# resolvers run while the dynamic loader relocates the program, before the
# TSan runtime is up, and crash if they call __tsan_func_entry. Without
# function entry/exit hooks those files still have every memory access
# checked (reports then show fewer frames inside them).
build/tsan/src/cpu/%.o: REL_CFLAGS_EXTRA := --param=tsan-instrument-func-entry-exit=0

.PHONY: check-asan check-valgrind check-faults check-tsan check-fuzz-corpus fuzz \
        fuzz-deps fuzz-corpus-seed reliability-deps

# valgrind, and clang with its libFuzzer runtime for `make fuzz`, come from
# Debian (test tools: `make deps`, not `make train`).
REL_DEBS := valgrind clang libclang-rt-dev
DEB_EXTRA += $(REL_DEBS)

reliability-deps:
	@for p in $(REL_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || \
	  { echo "missing $$p: run 'make deps'"; exit 1; }; done

# Each suite runs in its own process (CK_FORK=no would otherwise let the
# first crash hide every later suite); a line per suite, the log of a
# failing one, the total time. $(call rel_suites,VARIANT,ENV,WRAPPER,SUITES)
# with SUITES "all" or a list; an entry suite:case runs one Check case.
rel_list_suites = sed -n 's/^INC_SUITE(\(.*\))$$/\1/p' build/$(1)/tests/suites.inc
define rel_suites
@rc=0; total=$$(date +%s); \
  list="$(4)"; if [ "$$list" = all ]; then list=$$($(call rel_list_suites,$(1))); fi; \
  for s in $$list; do \
    suite=$${s%%:*}; case_=; case $$s in *:*) case_=$${s#*:};; esac; \
    log=build/$(1)/$$(echo $$s | tr : -).log; t0=$$(date +%s); \
    env CK_RUN_SUITE=$$suite $${case_:+CK_RUN_CASE=$$case_} $(2) $(3) build/$(1)/tests/run > $$log 2>&1; r=$$?; \
    printf '%-8s %-26s %-4s %4ss  %s\n' $(1) $$s $$( [ $$r = 0 ] && echo ok || echo FAIL) \
      $$(( $$(date +%s) - t0 )) "$$(grep -E '^[0-9]+ passed' $$log)"; \
    if [ $$r != 0 ]; then rc=1; echo "---- $$log (last 60 lines)"; tail -n 60 $$log; echo "----"; fi; \
  done; \
  echo "$(1): $$(( $$(date +%s) - total ))s, $$( [ $$rc = 0 ] && echo passed || echo FAILED)"; exit $$rc
endef

# ---- ASan + UBSan ----------------------------------------------------------
ASAN_SUITES ?= all
# The CUDA suites run a second time against the ASan build of the emulated
# CUDA module (mk/cudaemu.mk): cuda/*.cu and the emulator under ASan too.
EMU_CUDA_SUITES := cuda cuda_net cuda_faults batchnorm builders
EMU_CUDA_SUITES += grad_hook grad_hook_life winograd
check-asan: build/asan/tests/run build/asan-emu/$(CUDA_MODULE)
	@echo "check-asan: ASan + UBSan, CK_FORK=no, leaks fatal, one process per suite"
	$(call rel_suites,asan,$(REL_ASAN_ENV) $(REL_RUN_ENV),,$(ASAN_SUITES))
	@echo "check-asan: the CUDA suites on the emulated runtime (build/asan-emu)"
	$(call rel_suites,asan,$(REL_ASAN_ENV) $(REL_RUN_ENV) CUDAEMU_COOP=fibers \
	  INCEPTION_CUDA_MODULE=$(abspath build/asan-emu/$(CUDA_MODULE)),,$(EMU_CUDA_SUITES))

# ---- valgrind ----------------------------------------------------------------
# memcheck over the plain -O2 build. The whole runner takes ~10 min under
# valgrind on 2 cores, so by default the heaviest cases are left out
# (VALGRIND_SKIP: suites or suite:case); they run under ASan in check-asan.
# `make check-valgrind VALGRIND_SKIP=` runs everything.
VALGRIND ?= valgrind
VALGRIND_SKIP ?= train shapes kernels cpu_ops containers torch:googlenet onnx:googlenet winograd:against_direct
VALGRIND_FLAGS ?= --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 \
  --suppressions=$(CURDIR)/tests/valgrind.supp --num-callers=30
# The suites (and, for a suite with a skipped case, its other cases, from
# the tcase_create("...") calls of tests/test_<suite>.c) that valgrind runs.
rel_vg_list = for s in $$($(call rel_list_suites,vg)); do \
    skip=0; for x in $(VALGRIND_SKIP); do [ "$$x" = "$$s" ] && skip=1; done; \
    [ $$skip = 1 ] && continue; \
    cases=; for x in $(VALGRIND_SKIP); do case $$x in $$s:*) cases="$$cases $${x\#*:}";; esac; done; \
    if [ -z "$$cases" ]; then echo $$s; continue; fi; \
    for c in $$(sed -n 's/.*tcase_create("\([A-Za-z0-9_]*\)").*/\1/p' tests/test_$$s.c); do \
      keep=1; for x in $$cases; do [ "$$x" = "$$c" ] && keep=0; done; [ $$keep = 1 ] && echo $$s:$$c; \
    done; done
check-valgrind: build/vg/tests/run | reliability-deps
	@echo "check-valgrind: memcheck, CK_FORK=no, one process per suite; skipped: $(VALGRIND_SKIP)"
	$(call rel_suites,vg,CK_FORK=no CK_TIMEOUT_MULTIPLIER=50 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2,$(VALGRIND) $(VALGRIND_FLAGS),$$($(rel_vg_list)))

# ---- allocation failures and failed writes ----------------------------------
check-faults: build/faults/tests/run
	@echo "check-faults: -DINC_FAULT_INJECTION + ASan/UBSan, CK_FORK=no"
	$(call rel_suites,faults,$(REL_ASAN_ENV) $(REL_RUN_ENV),,faults:alloc faults:googlenet faults:writes faults:onnx)

# ---- ThreadSanitizer -----------------------------------------------------------
# libgomp is not built with TSan, so its barriers would look like races:
# every OpenMP team is held to one thread (OMP_THREAD_LIMIT=1; results do
# not depend on the thread count). The threads suite makes its own
# pthreads; a few quick suites run too (the numeric ones take tens of
# minutes under TSan with one thread and use no threads of their own).
TSAN_SUITES ?= threads api badargs persist layers kernels
REL_TSAN_ENV := CK_FORK=no OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 OPENBLAS_NUM_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1 suppressions=$(CURDIR)/tests/tsan.supp"
# The per-op CUDA cases on the TSan build of the emulated module: its
# cooperative kernels (shared memory, __syncthreads) run a block's threads
# as real threads, so a missing barrier is a race TSan reports.
check-tsan: build/tsan/tests/run build/tsan-emu/$(CUDA_MODULE)
	@echo "check-tsan: TSan, OpenMP teams of one thread, CK_FORK=no"
	$(call rel_suites,tsan,$(REL_TSAN_ENV),,$(TSAN_SUITES))
	@echo "check-tsan: the per-op CUDA cases on the emulated runtime (build/tsan-emu)"
	$(call rel_suites,tsan,$(REL_TSAN_ENV) CUDAEMU_COOP=threads \
	  INCEPTION_CUDA_MODULE=$(abspath build/tsan-emu/$(CUDA_MODULE)),,cuda)

# check-faults last: .ci/run stops at the first failing step.
CI_EXTRA += check-asan check-tsan check-valgrind check-faults

# ---- fuzzing -------------------------------------------------------------------
# Targets: st_parse (the safetensors parser, in memory), st_load (the public
# loaders through a file: inc_layer_load, inc_checkpoint_load,
# inc_checkpoint_metadata), idx (the trainer's IDX reader, examples/idx.c).
FUZZ_TARGETS := st_parse st_load idx
FUZZ_CORPUS_st_parse := safetensors
FUZZ_CORPUS_st_load := safetensors
FUZZ_CORPUS_idx := idx
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=3072 -max_len=65536 -print_final_stats=1
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC_st_parse := tests/fuzz/fuzz_st_parse.c
FUZZ_SRC_st_load := tests/fuzz/fuzz_st_load.c
FUZZ_SRC_idx := tests/fuzz/fuzz_idx.c examples/idx.c
FUZZ_LIBS_idx := -lz

# The library for libFuzzer: clang, coverage + ASan/UBSan, no OpenMP (the
# pragmas are ignored; omp.h and omp_get_max_threads still come from the
# compiler and libgomp), single-threaded.
build/fuzz/src/%.o: src/%.c $(REL_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(REL_CPPFLAGS) -std=c99 -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	  -Wno-unknown-pragmas -ffp-contract=off -c $< -o $@
build/fuzz/libinception.a: $(REL_LIB_C:%.c=build/fuzz/%.o)
	@rm -f $@
	ar rcs $@ $^

define fuzz_target
build/fuzz/$(1): $$(FUZZ_SRC_$(1)) tests/fuzz/fuzz_common.h build/fuzz/libinception.a
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) -std=c99 -O1 -g -fsanitize=fuzzer $$(FUZZ_SAN) -Iinclude -Isrc -Iexamples \
	  -D_GNU_SOURCE -o $$@ $$(FUZZ_SRC_$(1)) build/fuzz/libinception.a $$(REL_LIBS) $$(FUZZ_LIBS_$(1))

# Replay: the same target with tests/fuzz/replay.c as main(), gcc + ASan/UBSan.
build/asan/fuzz/$(1)-replay: $$(FUZZ_SRC_$(1)) tests/fuzz/replay.c tests/fuzz/fuzz_common.h \
    build/asan/libinception.a
	@mkdir -p $$(dir $$@)
	gcc -std=c99 -O1 -g $$(REL_SAN) $$(REL_WARN) -Iinclude -Isrc -Iexamples -D_GNU_SOURCE -o $$@ \
	  $$(FUZZ_SRC_$(1)) tests/fuzz/replay.c build/asan/libinception.a $$(REL_LIBS) $$(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

check-fuzz-corpus: $(FUZZ_TARGETS:%=build/asan/fuzz/%-replay)
	@rc=0; $(foreach t,$(FUZZ_TARGETS),$(REL_ASAN_ENV) build/asan/fuzz/$(t)-replay \
	  tests/fuzz/corpus/$(FUZZ_CORPUS_$(t)) || rc=1;) exit $$rc

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs $(FUZZ_CC): run 'make deps' (clang, libclang-rt-dev)"; exit 1; }

# New inputs go to build/fuzz/corpus/<target> (the committed corpus is read
# only); crashes to build/fuzz/artifacts/. A crash found here is fixed, then
# its input is added to tests/fuzz/corpus/<corpus>/ so check-fuzz-corpus
# replays it from then on.
fuzz: $(FUZZ_TARGETS:%=build/fuzz/%) | fuzz-deps
	@mkdir -p build/fuzz/artifacts
	@rc=0; for tc in $(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_CORPUS_$(t))); do \
	  t=$${tc%%:*}; c=$${tc#*:}; mkdir -p build/fuzz/corpus/$$t; \
	  dict=; test -f tests/fuzz/$$c.dict && dict=-dict=tests/fuzz/$$c.dict; \
	  echo "fuzz $$t: $(FUZZ_SECONDS)s, corpus tests/fuzz/corpus/$$c (new units in build/fuzz/corpus/$$t)"; \
	  ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 \
	  build/fuzz/$$t $(FUZZ_FLAGS) $$dict -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/artifacts/$$t- build/fuzz/corpus/$$t tests/fuzz/corpus/$$c \
	    > build/fuzz/$$t.log 2>&1 || { rc=1; echo "fuzz $$t: FAILED, see build/fuzz/$$t.log"; tail -40 build/fuzz/$$t.log; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added" build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done; exit $$rc

# The seed corpora (tests/fuzz/make_corpus.c): files saved by the library
# and hand-made edge cases; rewritten on demand, committed.
build/asan/fuzz/make_corpus: tests/fuzz/make_corpus.c tests/fuzz/fuzz_common.h build/asan/libinception.a
	@mkdir -p $(dir $@)
	gcc -std=c99 -O1 -g $(REL_SAN) $(REL_WARN) -Iinclude -Isrc -D_GNU_SOURCE -o $@ $< \
	  build/asan/libinception.a $(REL_LIBS) -lz
fuzz-corpus-seed: build/asan/fuzz/make_corpus
	$(REL_ASAN_ENV) build/asan/fuzz/make_corpus tests/fuzz/corpus

CHECK_EXTRA += check-fuzz-corpus
