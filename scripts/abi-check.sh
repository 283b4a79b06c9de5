#!/usr/bin/env bash
# scripts/abi-check.sh — the ABI gate of libinception (make abi-check).
#
#   scripts/abi-check.sh SOFILE BASELINE [OBJECTS...]
#
# SOFILE is the built lib/libinception.so.MAJOR.MINOR.PATCH, BASELINE the
# committed abi/libinception.so.MAJOR.abi; OBJECTS are the library's own
# object files (checked for forbidden imports one by one, so a failure
# names the file). Environment: HEADER (include/inception.h), MAP
# (src/libinception.map), ABI_DIR (where to write the current ABI dump),
# CC, CFLAGS_VERSION (extra flags for the version probe), MODULE (the CUDA
# module, default libinception-cuda.so.MAJOR beside SOFILE), MODULE_OBJ (its
# own objects, cuda/*.o, as one list; default build/cuda1/cuda/*.o) and
# MODULE_H (src/module.h, which names the module's entry point).
#
# Checks, each printed as one line "ok: ..." or "FAIL: ...":
#   1. file name, SONAME and symlinks follow the header's version macros;
#   2. the dynamic symbol table exports functions named inc_[a-z]* only
#      (never an internal inc__* one, never a CUDA/cuBLAS/C++ runtime one),
#      each with a default (@@) version from a LIBINCEPTION_<MAJOR>[.<n>]
#      node of the version script;
#   3. the exported set equals the set of INC_API functions in the header;
#   4. neither the library nor any of its objects imports exit, _exit,
#      _Exit, quick_exit, abort, the assert handlers, printf/puts/perror or
#      the stdout/stderr streams (the library never exits and never prints);
#   5. the library's DT_NEEDED names no CUDA library (libcudart, libcublas,
#      libcuda, libnccl, libcudnn, ...): the core loads CUDA only through
#      the module (src/module.c);
#   6. inc_version_number()/inc_version_string() of the loaded library agree
#      with the header it was built from;
#   7. abidiff against the baseline: an incompatible change (exit bit 8,
#      e.g. a removed function) fails, and so does any change to an existing
#      interface (exit bit 4 once additions are ignored: a parameter or
#      return type, an enumerator's value, ...); added functions pass with a
#      note asking for `make abi-baseline`;
#   8. the CUDA module, where it exists (CUDA=1 builds): SONAME
#      libinception-cuda.so.MAJOR; its dynamic symbol table defines its entry
#      point (INC__MODULE_ENTRY of src/module.h) and nothing else; none of
#      its own objects imports what check 4 forbids (the .so itself is not
#      held to that: it links NVIDIA's libcudart_static, whose imports are
#      not ours). Without the module one "skip: ..." line says so; a skip is
#      neither a pass nor a failure.
# Ends with "abi-check: N passed, N failed"; exit status 1 on any failure.
set -u

SO=${1:?usage: abi-check.sh SOFILE BASELINE [OBJECTS...]}
BASELINE=${2:?usage: abi-check.sh SOFILE BASELINE [OBJECTS...]}
shift 2
HEADER=${HEADER:-include/inception.h}
MAP=${MAP:-src/libinception.map}
ABI_DIR=${ABI_DIR:-build/abi}
CC=${CC:-cc}
# The options every ABI dump is made with; the baseline too (mk/abi.mk).
ABIDW_FLAGS=${ABIDW_FLAGS:---headers-dir include --drop-private-types --exported-interfaces-only
  --no-show-locs --no-corpus-path --no-comp-dir-path --no-elf-needed --type-id-style hash}

pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
indent() { sed 's/^/    /'; }

macro() { sed -n "s/^#define $1 \\([0-9]*\\).*/\\1/p" "$HEADER"; }
major=$(macro INC_VERSION_MAJOR) minor=$(macro INC_VERSION_MINOR) patch=$(macro INC_VERSION_PATCH)
version=$major.$minor.$patch
mkdir -p "$ABI_DIR"

# ---- 1. names -----------------------------------------------------------
libdir=$(dirname "$SO")
if [ "$(basename "$SO")" = "libinception.so.$version" ]; then
  ok "file name $(basename "$SO") matches the header's version $version"
else
  bad "file name $(basename "$SO") does not match the header's version $version"
fi
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libinception.so.$major" ]; then
  ok "SONAME $soname"
else
  bad "SONAME is '$soname', expected libinception.so.$major"
fi
if [ "$(readlink "$libdir/libinception.so.$major")" = "libinception.so.$version" ] &&
   [ "$(readlink "$libdir/libinception.so")" = "libinception.so.$major" ]; then
  ok "symlinks libinception.so -> libinception.so.$major -> libinception.so.$version"
else
  bad "symlinks in $libdir are not libinception.so -> .so.$major -> .so.$version"
fi

# ---- 2. exported symbols --------------------------------------------------
# Defined dynamic symbols, as "name@@VERSION" (readelf -W, column 8), minus
# the version-definition symbols themselves (ABS, named like the node).
readelf --dyn-syms -W "$SO" | awk 'NR > 3 && $7 != "UND" && $8 != "" {print $5, $7, $8}' \
  > "$ABI_DIR/exports.txt"
nodes=$(sed -n 's/^[[:space:]]*\(LIBINCEPTION_[0-9.]*\)[[:space:]]*{.*/\1/p' "$MAP" | sort -u)
exports=$(awk '$2 != "ABS" {print $3}' "$ABI_DIR/exports.txt")
bad_names=$(echo "$exports" | grep -v '^inc_[a-z][a-z0-9_]*@@LIBINCEPTION_' || true)
n_exports=$(echo "$exports" | grep -c . || true)
if [ -z "$bad_names" ] && [ "$n_exports" -gt 0 ]; then
  ok "$n_exports exported symbols, all inc_[a-z]* with a default LIBINCEPTION_ version"
else
  bad "exported symbols outside inc_[a-z]*@@LIBINCEPTION_* (internal, runtime or unversioned):"
  echo "$bad_names" | head -40 | indent
fi
bad_nodes=""
for v in $(echo "$exports" | sed -n 's/.*@@//p' | sort -u); do
  if ! echo "$nodes" | grep -qx "$v" || ! echo "$v" | grep -qx "LIBINCEPTION_${major}\(\.[0-9][0-9]*\)*"; then
    bad_nodes="$bad_nodes $v"
  fi
done
if [ -z "$bad_nodes" ]; then
  ok "symbol versions $(echo "$exports" | sed -n 's/.*@@//p' | sort -u | tr '\n' ' ')are nodes of $MAP for SONAME major $major"
else
  bad "symbol versions not declared in $MAP or not of major $major:$bad_nodes"
fi
abs=$(awk '$2 == "ABS" {print $3}' "$ABI_DIR/exports.txt" | grep -v '^LIBINCEPTION_' || true)
if [ -n "$abs" ]; then bad "unexpected absolute symbols: $abs"; fi

# ---- 3. header == exports ---------------------------------------------------
# Every INC_API declaration names its function on the line of INC_API.
sed -n 's/^INC_API[^(]*[^a-z0-9_]\(inc_[a-z0-9_]*\)[[:space:]]*(.*/\1/p' "$HEADER" | sort -u \
  > "$ABI_DIR/header-functions.txt"
echo "$exports" | sed 's/@.*//' | sort -u > "$ABI_DIR/exported-functions.txt"
if cmp -s "$ABI_DIR/header-functions.txt" "$ABI_DIR/exported-functions.txt"; then
  ok "the $(wc -l < "$ABI_DIR/header-functions.txt") INC_API functions of $HEADER are exactly the exports"
else
  bad "INC_API functions of $HEADER (<) and exports (>) differ:"
  diff "$ABI_DIR/header-functions.txt" "$ABI_DIR/exported-functions.txt" | grep '^[<>]' | indent
fi

# ---- 4. forbidden imports -----------------------------------------------------
FORBIDDEN='exit _exit _Exit quick_exit abort __assert_fail __assert_perror_fail __assert
  printf vprintf __printf_chk __vprintf_chk puts putchar perror stdout stderr'
forbidden_in() { # file, nm options...
  local f=$1
  shift
  nm "$@" --undefined-only "$f" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | sort -u |
    grep -Fx -f <(echo "$FORBIDDEN" | tr ' ' '\n' | grep .) | tr '\n' ' '
}
hits=$(forbidden_in "$SO" -D)
if [ -z "$hits" ]; then
  ok "$(basename "$SO") imports none of exit/_exit/abort/__assert_fail/printf/puts/stdout/stderr"
else
  bad "$(basename "$SO") imports forbidden symbols: $hits"
  ours=0
  for f in "$@"; do
    h=$(forbidden_in "$f")
    if [ -n "$h" ]; then echo "    from $f: $h"; ours=1; fi
  done
  if [ "$ours" = 0 ]; then
    echo "    (none from our objects: a static archive linked in, e.g. cudart_static, imports it)"
  fi
fi
obj_hits=""
for f in "$@"; do
  h=$(forbidden_in "$f")
  [ -n "$h" ] && obj_hits="$obj_hits $f: $h;"
done
if [ $# -gt 0 ]; then
  if [ -z "$obj_hits" ]; then
    ok "none of the library's $# objects imports a forbidden symbol"
  else
    bad "objects import forbidden symbols:$obj_hits"
  fi
fi

# ---- 5. no CUDA library in DT_NEEDED ----------------------------------------------
# The core must load on a machine without CUDA: it dlopens the module, and
# links none of NVIDIA's libraries (nor the emulated runtime of tests/cudaemu).
CUDA_LIBS='^lib(cuda|cudart|cudaemu|cublas|cublasLt|cudnn[a-z_]*|nccl|cufftw?|curand|cusparse(Lt)?|cusolver(Mg)?|cupti|nvrtc[a-z_-]*|nvJitLink|nvToolsExt|nvidia-ml|npp[a-z]*|nvjpeg)\.so'
needed=$(readelf -d "$SO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
cuda_needed=$(echo "$needed" | grep -E "$CUDA_LIBS" | tr '\n' ' ' || true)
if [ -z "$cuda_needed" ]; then
  ok "$(basename "$SO") needs no CUDA library (DT_NEEDED: $(echo "$needed" | tr '\n' ' ' | sed 's/ $//'))"
else
  bad "$(basename "$SO") needs CUDA libraries (DT_NEEDED): ${cuda_needed% }; the core must reach CUDA only through the module it dlopens (src/module.c)"
fi

# ---- 6. run-time version ---------------------------------------------------------
probe="$ABI_DIR/version-probe"
# shellcheck disable=SC2086  # CC and CFLAGS_VERSION are word lists
if $CC -std=c99 -Wall -Wextra -Werror -Iinclude ${CFLAGS_VERSION:-} -DEXPECT_VERSION="\"$version\"" \
     tests/abi/version.c -o "$probe" -L"$libdir" -linception -Wl,-rpath,"$(cd "$libdir" && pwd)" \
     2> "$ABI_DIR/version-probe.log"; then
  if out=$("$probe" 2>&1); then
    ok "$out"
  else
    bad "version probe: $out"
  fi
else
  bad "version probe did not build:"
  indent < "$ABI_DIR/version-probe.log"
fi

# ---- 7. abidiff against the baseline -----------------------------------------------
current="$ABI_DIR/$(basename "$BASELINE")"
# shellcheck disable=SC2086  # ABIDW_FLAGS is a list of options
if ! abidw $ABIDW_FLAGS "$SO" > "$current" 2> "$ABI_DIR/abidw.log"; then
  bad "abidw failed:"
  indent < "$ABI_DIR/abidw.log"
elif [ ! -f "$BASELINE" ]; then
  bad "no baseline $BASELINE: run 'make abi-baseline' and commit it"
else
  abidiff "$BASELINE" "$current" > "$ABI_DIR/abidiff.txt" 2>&1
  rc=$?
  abidiff --no-added-syms "$BASELINE" "$current" > "$ABI_DIR/abidiff-changes.txt" 2>&1
  rc_changes=$?
  if [ $((rc & 3)) -ne 0 ] || [ $((rc_changes & 3)) -ne 0 ]; then
    bad "abidiff could not compare (exit $rc):"
    indent < "$ABI_DIR/abidiff.txt"
  elif [ $((rc & 8)) -ne 0 ]; then
    bad "INCOMPATIBLE ABI change against $BASELINE (abidiff exit $rc; ABIDIFF_ABI_INCOMPATIBLE_CHANGE):"
    indent < "$ABI_DIR/abidiff.txt"
    echo "    Removing or changing an existing interface breaks every program linked against"
    echo "    libinception.so.$major: keep the old function (add a new one instead), or bump"
    echo "    INC_VERSION_MAJOR (new SONAME) and run 'make abi-baseline' (docs/ABI.md)."
  elif [ $((rc_changes & 4)) -ne 0 ]; then
    bad "existing interfaces changed against $BASELINE (abidiff exit $rc_changes; ABIDIFF_ABI_CHANGE):"
    indent < "$ABI_DIR/abidiff-changes.txt"
    echo "    A changed parameter, return type or enumerator is a break for callers built"
    echo "    against the old header. Revert it, or bump INC_VERSION_MAJOR and run"
    echo "    'make abi-baseline' (docs/ABI.md)."
  elif [ $((rc & 4)) -ne 0 ]; then
    ok "compatible with $BASELINE; additions only (not yet in the baseline):"
    grep -E '^\s*\[A\]|Added' "$ABI_DIR/abidiff.txt" | indent
    echo "    Put new functions in a new version node of $MAP and record them with"
    echo "    'make abi-baseline' when the release is cut (docs/ABI.md)."
  else
    ok "ABI matches $BASELINE (abidiff exit 0; harmless changes such as appended enumerators pass)"
  fi
fi

# ---- 8. the CUDA module ------------------------------------------------------------
# Built by CUDA=1 builds. lib/ is shared by both flavours, so it may also be
# left there by an earlier CUDA=1 build when this one is CUDA=0; the core
# beside it would still load it, so it is checked whenever it exists.
MODULE=${MODULE:-$libdir/libinception-cuda.so.$major}
MODULE_H=${MODULE_H:-src/module.h}
if [ ! -e "$MODULE" ]; then
  echo "skip: CUDA module checks: no $MODULE (a CUDA=0 build has no CUDA module)"
else
  mod=$(basename "$MODULE")
  msoname=$(readelf -d "$MODULE" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  if [ "$msoname" = "libinception-cuda.so.$major" ]; then
    ok "$mod: SONAME $msoname"
  else
    bad "$mod: SONAME is '$msoname', expected libinception-cuda.so.$major"
  fi

  # Every defined dynamic symbol, versioned or not, ABS ones included.
  entry=$(sed -n 's/^#define INC__MODULE_ENTRY "\([A-Za-z0-9_]*\)".*/\1/p' "$MODULE_H")
  readelf --dyn-syms -W "$MODULE" | awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $8 != "" {print $8}' |
    sort -u > "$ABI_DIR/module-exports.txt"
  if [ -z "$entry" ]; then
    bad "$mod: no '#define INC__MODULE_ENTRY \"name\"' in $MODULE_H to check the exports against"
  elif [ "$(sed 's/@.*//' "$ABI_DIR/module-exports.txt")" = "$entry" ]; then
    ok "$mod: the dynamic symbol table defines $entry and nothing else"
  else
    others=$(grep -v "^$entry\(@\|\$\)" "$ABI_DIR/module-exports.txt" || true)
    if ! grep -q "^$entry\(@\|\$\)" "$ABI_DIR/module-exports.txt"; then
      bad "$mod: does not define $entry, the one symbol the core looks up${others:+; it defines:}"
    else
      bad "$mod: must define only $entry; it also defines (past -fvisibility=hidden and cuda/module.map):"
    fi
    [ -n "$others" ] && echo "$others" | head -40 | indent
  fi

  # Rule 4 for the module's own objects, one by one.
  if [ -z "${MODULE_OBJ+set}" ]; then MODULE_OBJ=$(echo build/cuda1/cuda/*.o); fi
  # shellcheck disable=SC2206  # MODULE_OBJ is a list of paths
  mobjs=($MODULE_OBJ)
  missing="" mobj_hits=""
  for f in "${mobjs[@]}"; do
    if [ ! -f "$f" ]; then missing="$missing $f"; continue; fi
    h=$(forbidden_in "$f")
    [ -n "$h" ] && mobj_hits="$mobj_hits $f: ${h% };"
  done
  if [ ${#mobjs[@]} -eq 0 ] || [ -n "$missing" ]; then
    bad "$mod: its objects are not there to check for forbidden imports (${missing:+missing:$missing; }MODULE_OBJ='${MODULE_OBJ}'); rebuild the module with 'make lib CUDA=1' or remove the stale $MODULE"
  elif [ -z "$mobj_hits" ]; then
    ok "none of the CUDA module's ${#mobjs[@]} objects imports exit/_exit/abort/__assert_fail/printf/puts/stdout/stderr"
  else
    bad "CUDA module objects import forbidden symbols:$mobj_hits"
  fi
  so_hits=$(forbidden_in "$MODULE" -D)
  if [ -n "$so_hits" ] && [ -z "$mobj_hits" ] && [ -z "$missing" ] && [ ${#mobjs[@]} -gt 0 ]; then
    echo "    note: the linked $mod imports ${so_hits% }; not counted: libcudart_static, linked in, may"
    echo "    import these, so only the module's own objects are held to the rule"
  fi
fi

echo "abi-check: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
