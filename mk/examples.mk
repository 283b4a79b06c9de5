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
#   make check-classify  classify on PNG and PGM files (tests/classify_test.sh,
#                        with the image writer tests/classify_images.c); part
#                        of `make check`
#
# The binaries link lib/libinception.a statically (plus $(LIBS) and zlib), so
# they run from the source tree without LD_LIBRARY_PATH; their RUNPATH
# names lib/ so that the core finds the CUDA module there. classify also
# links libpng (Debian's libpng-dev, which `make train` installs).

EX_CFLAGS ?= -std=c99 $(OPT) -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes $(WERROR)
EX_CPPFLAGS := -Iinclude -D_POSIX_C_SOURCE=200809L
EX_LDLIBS := -lz -lm
EX_RPATH := -Wl,-rpath,'$$ORIGIN/../lib'
EX_DIR := $(BUILD)/examples
EX_COMMON_OBJ := $(addprefix $(EX_DIR)/,idx.o data.o util.o progress.o net.o recipe.o)
# resume.o: --resume, which needs the trainer's options
EX_TRAIN_OBJ := $(EX_DIR)/train_options.o $(EX_DIR)/resume.o $(EX_DIR)/curve.o $(EX_DIR)/augment.o
# train_dist.o: mpirun support, on libinception-dist where mpicc is found (mk/dist.mk);
# train_results.o: the files written after each epoch
EX_TRAIN_OBJ += $(EX_DIR)/train_dist.o $(EX_DIR)/train_results.o
EX_CLASSIFY_OBJ := $(EX_DIR)/image.o
EX_ALL_OBJ := $(EX_COMMON_OBJ) $(EX_TRAIN_OBJ) $(EX_CLASSIFY_OBJ) $(EX_DIR)/train.o \
              $(EX_DIR)/classify.o
EX_HEADERS := include/inception.h $(wildcard examples/*.h)
EX_BINS := examples/train examples/classify
IDX_TEST := $(BUILD)/tests/idx_test
CLASSIFY_IMAGES := $(BUILD)/tests/classify_images
PNG_CFLAGS := $(shell pkg-config --cflags libpng 2>/dev/null)
PNG_LIBS := $(or $(shell pkg-config --libs libpng 2>/dev/null),-lpng)
DEB_TRAIN += libpng-dev

.PHONY: examples check-train check-idx check-classify train

examples: $(EX_BINS)

$(EX_ALL_OBJ): $(EX_DIR)/%.o: examples/%.c $(EX_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) -c $< -o $@
$(EX_CLASSIFY_OBJ): EX_CPPFLAGS += $(PNG_CFLAGS)

examples/train: $(EX_DIR)/train.o $(EX_TRAIN_OBJ) $(EX_COMMON_OBJ) lib/libinception.a \
    $(EX_TRAIN_DIST_DEPS)
	$(EX_TRAIN_LD) $(EX_CFLAGS) -o $@ $(filter %.o,$^) $(EX_TRAIN_DIST_LIBS) lib/libinception.a \
	  $(LIBS) $(EX_LDLIBS) $(EX_RPATH)

examples/classify: $(EX_DIR)/classify.o $(EX_CLASSIFY_OBJ) $(EX_COMMON_OBJ) lib/libinception.a
	$(CC) $(EX_CFLAGS) -o $@ $(filter %.o,$^) lib/libinception.a $(LIBS) $(PNG_LIBS) $(EX_LDLIBS) \
	  $(EX_RPATH)

# The data-module test needs neither the library nor the data set.
$(IDX_TEST): tests/idx_test.c examples/idx.c examples/data.c examples/augment.c examples/idx.h \
  examples/data.h examples/augment.h
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) -o $@ tests/idx_test.c examples/idx.c examples/data.c \
	  examples/augment.c \
	  $(EX_LDLIBS)

check-idx: $(IDX_TEST)
	$(IDX_TEST)

check-train: $(IDX_TEST) $(EX_BINS)
	@rc=0; $(IDX_TEST) || rc=1; \
	TRAIN=examples/train CLASSIFY=examples/classify bash tests/train_test.sh || rc=1; \
	exit $$rc

CHECK_EXTRA += check-train

# Writes the test's PNG and PGM files; needs libpng and the IDX reader only.
$(CLASSIFY_IMAGES): tests/classify_images.c examples/idx.c examples/idx.h
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(PNG_CFLAGS) $(EX_CFLAGS) -o $@ tests/classify_images.c examples/idx.c \
	  $(PNG_LIBS) $(EX_LDLIBS)

check-classify: $(CLASSIFY_IMAGES) $(EX_BINS)
	TRAIN=examples/train CLASSIFY=examples/classify IMAGES=$(CLASSIFY_IMAGES) \
	  bash tests/classify_test.sh

CHECK_EXTRA += check-classify

train: deps-train
	@$(MAKE) --no-print-directory examples/train
	examples/train $(TRAIN_ARGS)

.PHONY: clean-examples
clean-examples:
	rm -f $(EX_BINS)
clean: clean-examples

# The loss of the quick preset's first 20 training steps, 9 digits, CPU, two
# threads: a change to the execution engine must leave it bit for bit as it
# was (tests/loss_trace.c; needs the data set).
LOSS_TRACE := $(BUILD)/tests/loss_trace
$(LOSS_TRACE): tests/loss_trace.c $(EX_DIR)/train_options.o $(EX_DIR)/augment.o $(EX_COMMON_OBJ) \
  lib/libinception.a
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) -o $@ tests/loss_trace.c $(EX_DIR)/train_options.o \
	  $(EX_DIR)/augment.o \
	  $(EX_COMMON_OBJ) lib/libinception.a $(LIBS) $(EX_LDLIBS) $(EX_RPATH)
.PHONY: loss-trace
loss-trace: $(LOSS_TRACE)
	$(LOSS_TRACE) 20
