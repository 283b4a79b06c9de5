# mk/examples.mk — the example trainer and classifier, and their tests.
#
#   make examples        build examples/train and examples/classify
#   make train           install what building and training need (make
#                        deps-train, no test tools), build, then run
#                        examples/train $(TRAIN_ARGS), e.g.
#                        make train TRAIN_ARGS="--device cpu --epochs 1 --limit 6000"
#   make check-train     the data-module unit test (tests/idx_test.c) and the
#                        end-to-end trainer test (tests/train_test.sh); part of
#                        `make check`
#
# The binaries link lib/libinception.a statically (plus $(LIBS) and zlib), so
# they run from the source tree without LD_LIBRARY_PATH; their RUNPATH
# names lib/ so that the core finds the CUDA module there.

EX_CFLAGS ?= -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes $(WERROR)
EX_CPPFLAGS := -Iinclude -D_POSIX_C_SOURCE=200809L
EX_LDLIBS := -lz -lm
EX_RPATH := -Wl,-rpath,'$$ORIGIN/../lib'
EX_DIR := $(BUILD)/examples
EX_COMMON_OBJ := $(addprefix $(EX_DIR)/,idx.o data.o util.o progress.o net.o)
EX_TRAIN_OBJ := $(EX_DIR)/train_options.o
EX_ALL_OBJ := $(EX_COMMON_OBJ) $(EX_TRAIN_OBJ) $(EX_DIR)/train.o $(EX_DIR)/classify.o
EX_HEADERS := include/inception.h $(wildcard examples/*.h)
EX_BINS := examples/train examples/classify
IDX_TEST := $(BUILD)/tests/idx_test

.PHONY: examples check-train check-idx train

examples: $(EX_BINS)

$(EX_ALL_OBJ): $(EX_DIR)/%.o: examples/%.c $(EX_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) -c $< -o $@

examples/train: $(EX_DIR)/train.o $(EX_TRAIN_OBJ) $(EX_COMMON_OBJ) lib/libinception.a
	$(CC) $(EX_CFLAGS) -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS) $(EX_LDLIBS) $(EX_RPATH)

examples/classify: $(EX_DIR)/classify.o $(EX_COMMON_OBJ) lib/libinception.a
	$(CC) $(EX_CFLAGS) -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS) $(EX_LDLIBS) $(EX_RPATH)

# The data-module test needs neither the library nor the data set.
$(IDX_TEST): tests/idx_test.c examples/idx.c examples/data.c examples/idx.h examples/data.h
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) -o $@ tests/idx_test.c examples/idx.c examples/data.c \
	  $(EX_LDLIBS)

check-idx: $(IDX_TEST)
	$(IDX_TEST)

check-train: $(IDX_TEST) $(EX_BINS)
	@rc=0; $(IDX_TEST) || rc=1; \
	TRAIN=examples/train CLASSIFY=examples/classify bash tests/train_test.sh || rc=1; \
	exit $$rc

CHECK_EXTRA += check-train

train: deps-train
	@$(MAKE) --no-print-directory examples/train
	examples/train $(TRAIN_ARGS)

.PHONY: clean-examples
clean-examples:
	rm -f $(EX_BINS)
clean: clean-examples
