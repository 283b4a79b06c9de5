#!/usr/bin/env bash
# tests/consumers/run.sh — builds and runs outside consumers of an installed
# libinception (make check-consumers, after `make install` into a stage):
#   1. pkg-config: the .pc file is valid and gives the version, -I and -l;
#   2. consumer.c built only with `pkg-config --cflags --libs` (dynamic;
#      an rpath into the stage) — it must load the staged libinception.so.0;
#   3. consumer.c built with `pkg-config --static --cflags --libs`, linking
#      libinception.a (-l:libinception.a) — no libinception.so needed;
#   4. consumer.cpp with g++ -std=c++11 -Wall -Wextra -Werror -pedantic;
#   5. the Python package as installed (share/doc/libinception/python/
#      inception/) with INCEPTION_LIB pointing into the stage;
#   6. a DESTDIR install (PREFIX=/usr) lands every file under DESTDIR and
#      `make uninstall` with the same DESTDIR removes every one of them;
#   7. the CUDA module: a CPU-only program maps nothing of CUDA; an AUTO
#      context finds the module installed beside the library (CUDA=1) or
#      says it looked there (CUDA=0).
# Environment: STAGE (absolute install prefix, already installed); for step 6
# DESTDIR_ROOT, DESTDIR_LIST and DESTDIR_LEFT (the files after install and
# after uninstall) and DESTDIR_PC (a copy of the installed .pc), all written
# by mk/package.mk; CC, CXX, VERSION, PYTHON. Ends with "consumers: N passed, N failed".
set -u

STAGE=${STAGE:?STAGE (the install prefix) is required}
CC=${CC:-cc}
CXX=${CXX:-g++}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=$STAGE/../consumers
SRC=$(cd "$(dirname "$0")" && pwd)
rm -rf "$OUT"
mkdir -p "$OUT"
export PKG_CONFIG_PATH=$STAGE/lib/pkgconfig
# Tiny networks: one thread is as fast and never spins against a busy machine.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# Runs a command quietly; on failure shows its output.
quiet() {
  local log=$OUT/last.log
  if "$@" > "$log" 2>&1; then return 0; fi
  sed 's/^/    /' "$log" | tail -40
  return 1
}

# ---- 1. pkg-config ---------------------------------------------------------
if pkg-config --validate libinception 2>/dev/null || pkg-config --exists libinception; then
  v=$(pkg-config --modversion libinception)
  if [ "$v" = "${VERSION:-$v}" ]; then ok "pkg-config finds libinception $v in the stage"
  else bad "pkg-config version $v, expected $VERSION"; fi
else
  bad "pkg-config cannot read $PKG_CONFIG_PATH/libinception.pc"
fi
CFLAGS_PC=$(pkg-config --cflags libinception)
LIBS_PC=$(pkg-config --libs libinception)
LIBS_STATIC=$(pkg-config --static --libs libinception)
echo "    --cflags: $CFLAGS_PC"
echo "    --libs: $LIBS_PC"
echo "    --static --libs: $LIBS_STATIC"
missing=""
for flag in "-I$STAGE/include" "-L$STAGE/lib" "-linception"; do
  case " $CFLAGS_PC $LIBS_PC " in *" $flag "*) ;; *) missing="$missing $flag" ;; esac
done
if [ -z "$missing" ]; then ok "flags point into the stage"
else bad "pkg-config flags lack$missing"; fi

# ---- 2. dynamic C consumer ---------------------------------------------------
# shellcheck disable=SC2086  # pkg-config output is a list of flags
if quiet "$CC" -std=c99 -Wall -Wextra -Werror -pedantic -o "$OUT/consumer-dyn" "$SRC/consumer.c" \
     $CFLAGS_PC $LIBS_PC -lm -Wl,-rpath,"$STAGE/lib"; then
  resolved=$(ldd "$OUT/consumer-dyn" | awk '$1 == "libinception.so.0" {print $3}')
  if [ "$resolved" = "$STAGE/lib/libinception.so.0" ]; then
    ok "dynamic consumer loads $resolved"
  else
    bad "dynamic consumer loads libinception.so.0 from '$resolved', not the stage"
  fi
  if quiet "$OUT/consumer-dyn" "$OUT"; then ok "dynamic C consumer: $(tail -1 "$OUT/last.log")"
  else bad "dynamic C consumer failed"; fi
else
  bad "dynamic C consumer did not build"
fi

# ---- 3. static C consumer ------------------------------------------------------
# -l:libinception.a picks the archive even though the .so sits beside it.
STATIC_FLAGS=$(echo " $LIBS_STATIC " | sed 's/ -linception / -l:libinception.a /')
# shellcheck disable=SC2086
if quiet "$CC" -std=c99 -Wall -Wextra -Werror -pedantic -o "$OUT/consumer-static" "$SRC/consumer.c" \
     $CFLAGS_PC $STATIC_FLAGS; then
  if readelf -d "$OUT/consumer-static" | grep -q 'NEEDED.*libinception'; then
    bad "static consumer still needs libinception.so"
  else
    ok "static consumer has libinception.a linked in (no libinception.so NEEDED)"
  fi
  if quiet "$OUT/consumer-static" "$OUT"; then ok "static C consumer: $(tail -1 "$OUT/last.log")"
  else bad "static C consumer failed"; fi
else
  bad "static C consumer did not build with pkg-config --static"
fi

# ---- 4. C++ consumer -------------------------------------------------------------
# shellcheck disable=SC2086
if quiet "$CXX" -std=c++11 -Wall -Wextra -Werror -pedantic -o "$OUT/consumer-cxx" \
     "$SRC/consumer.cpp" $CFLAGS_PC $LIBS_PC -Wl,-rpath,"$STAGE/lib"; then
  if quiet "$OUT/consumer-cxx"; then ok "C++ consumer: $(tail -1 "$OUT/last.log")"
  else bad "C++ consumer failed"; fi
else
  bad "C++ consumer did not build with g++ -std=c++11 -pedantic"
fi

# ---- 5. Python binding, as installed -----------------------------------------------
PYDIR=$STAGE/share/doc/libinception/python
if [ ! -f "$PYDIR/inception/__init__.py" ]; then
  bad "the Python binding was not installed to $PYDIR"
elif ! "$PYTHON" -c 'import ctypes' 2>/dev/null; then
  echo "(no usable $PYTHON: the Python consumer was skipped)"
else
  if INCEPTION_LIB=$STAGE/lib/libinception.so.0 INCEPTION_BINDING_DIR=$PYDIR \
       quiet "$PYTHON" "$SRC/../python/test_binding.py"; then
    ok "Python binding from the stage: $(tail -1 "$OUT/last.log")"
  else
    bad "Python binding from the stage failed"
  fi
fi

# ---- 6. DESTDIR install and uninstall ------------------------------------------------
if [ -n "${DESTDIR_LIST:-}" ]; then
  outside=$(grep -v "^${DESTDIR_ROOT:-/nonexistent}/" "$DESTDIR_LIST" || true)
  n=$(wc -l < "$DESTDIR_LIST")
  want="usr/include/inception.h usr/lib/libinception.so usr/lib/libinception.so.0
    usr/lib/libinception.so.$VERSION usr/lib/libinception.a usr/lib/pkgconfig/libinception.pc
    usr/share/doc/libinception/python/inception/__init__.py"
  [ -f "$STAGE/lib/libinception-cuda.so.${VERSION%%.*}" ] &&
    want="$want usr/lib/libinception-cuda.so.${VERSION%%.*}"
  missing=""
  for f in $want; do grep -qx "${DESTDIR_ROOT:-}/$f" "$DESTDIR_LIST" || missing="$missing $f"; done
  if [ -z "$outside" ] && [ -z "$missing" ] && [ "$n" -gt 8 ]; then
    ok "DESTDIR install put $n files under DESTDIR with PREFIX=/usr"
  else
    bad "DESTDIR install: missing:$missing outside: $outside"
  fi
  if grep -q '^prefix=/usr$' "${DESTDIR_PC:-/nonexistent}" 2>/dev/null; then
    ok "the DESTDIR .pc file says prefix=/usr (DESTDIR not baked in)"
  else
    bad "the DESTDIR .pc file does not say prefix=/usr"
  fi
  if [ -f "${DESTDIR_LEFT:-/nonexistent}" ] && [ ! -s "$DESTDIR_LEFT" ]; then
    ok "make uninstall removed every installed file"
  else
    bad "make uninstall left files behind: $(tr '\n' ' ' < "${DESTDIR_LEFT:-/dev/null}")"
  fi
fi

# ---- 7. the CUDA module ---------------------------------------------------------------
MODULE=$STAGE/lib/libinception-cuda.so.${VERSION%%.*}
if quiet "$CC" -std=c99 -Wall -Wextra -Werror -o "$OUT/backend" "$SRC/backend.c" $CFLAGS_PC \
     $LIBS_PC -Wl,-rpath,"$STAGE/lib"; then
  loaded=$(env -u INCEPTION_CUDA_MODULE LD_DEBUG=files "$OUT/backend" cpu 2>&1 |
    grep -oE 'file=[^ ]*(cuda|cublas)[^ ]*' | sort -u | tr '\n' ' ')
  if [ -z "$loaded" ]; then ok "a CPU-only consumer loads nothing of CUDA (LD_DEBUG=files)"
  else bad "a CPU-only consumer loads $loaded"; fi
  got=$(env -u INCEPTION_CUDA_MODULE "$OUT/backend" 2>&1)
  if [ -f "$MODULE" ]; then
    case $got in
    cuda\|*) ok "AUTO runs on the GPU through the installed module" ;;
    cpu\|*"CUDA backend: no usable GPU"*) ok "AUTO finds the module beside the library: ${got#cpu|}" ;;
    *) bad "AUTO with the module installed: $got" ;;
    esac
  else
    case $got in
    cpu\|*"found neither in $STAGE/lib"*) ok "AUTO without the module says where it looked: ${got#cpu|}" ;;
    *) bad "AUTO without the module installed: $got" ;;
    esac
  fi
else
  bad "the backend consumer did not build"
fi

echo "consumers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
