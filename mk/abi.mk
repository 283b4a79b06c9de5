# mk/abi.mk — the ABI gate (docs/ABI.md).
#
#   make abi-check      checks the built lib/libinception.so.* against the
#                       committed baseline abi/libinception.so.$(V_MAJOR).abi
#                       with abidiff (libabigail), plus the export table
#                       (inc_[a-z]* only, each @@LIBINCEPTION_*), header ==
#                       exports, no exit/abort/assert/printf imports, no CUDA
#                       library in DT_NEEDED, SONAME and run-time version;
#                       and, where lib/libinception-cuda.so.$(V_MAJOR) exists,
#                       the module's SONAME, its one export and its objects'
#                       imports; part of .ci/run (CI_EXTRA)
#   make abi-baseline   rewrites the baseline from the current build: only
#                       on purpose (a new SONAME, or recording additions at a
#                       release), then commit abi/
#
# The baseline is the same for CUDA=0 and CUDA=1 builds (the dump holds only
# what the public header reaches; DT_NEEDED is left out), so either flavour
# may be checked against it.

ABI_BASELINE := abi/libinception.so.$(V_MAJOR).abi
ABI_DIR := $(BUILD)/abi
ABIDW_FLAGS := --headers-dir include --drop-private-types --exported-interfaces-only \
  --no-show-locs --no-corpus-path --no-comp-dir-path --no-elf-needed --type-id-style hash

# abidw/abidiff come from Debian's abigail-tools; g++ builds the C++ consumer
# (mk/package.mk) and the emulated CUDA module (mk/cudaemu.mk); `make deps`
# installs them (test tools: not `make train`).
ABI_DEBS := abigail-tools g++
DEB_EXTRA += $(ABI_DEBS)

.PHONY: abi-check abi-baseline

# The CUDA module: a CUDA=1 build makes it first and checks it with its own
# objects ($(CUDA_OBJ)). lib/ is shared by the flavours, so after a CUDA=0
# build it may still hold the module of an earlier CUDA=1 build, whose
# objects are build/cuda1's; without a module the script says it skipped.
ABI_MODULE_OBJ := $(if $(filter 1,$(CUDA)),$(CUDA_OBJ),$(wildcard $(CUDA_CU:%.cu=build/cuda1/%.o)))

abi-check: lib/$(SOFILE) $(if $(filter 1,$(CUDA)),lib/$(CUDA_MODULE)) tests/abi/version.c scripts/abi-check.sh
	@HEADER=include/inception.h MAP=src/libinception.map ABI_DIR=$(ABI_DIR) CC="$(CC)" \
	  ABIDW_FLAGS="$(ABIDW_FLAGS)" MODULE=lib/$(CUDA_MODULE) MODULE_H=src/module.h \
	  MODULE_OBJ="$(ABI_MODULE_OBJ)" \
	  bash scripts/abi-check.sh lib/$(SOFILE) $(ABI_BASELINE) $(LIB_OBJ)

abi-baseline: lib/$(SOFILE)
	@mkdir -p $(dir $(ABI_BASELINE))
	abidw $(ABIDW_FLAGS) lib/$(SOFILE) > $(ABI_BASELINE).tmp
	mv $(ABI_BASELINE).tmp $(ABI_BASELINE)
	@echo "abi-baseline: wrote $(ABI_BASELINE) from lib/$(SOFILE) ($(VERSION)); review and commit it"

CI_EXTRA += abi-check
