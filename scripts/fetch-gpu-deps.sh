#!/usr/bin/env bash
# fetch-gpu-deps.sh — download, on a machine with Debian's package registry,
# the Debian packages that scripts/gpu-check.sh needs on a GPU machine that
# has the CUDA toolkit but no registry: Check (the unit-test framework) and
# libsubunit, OpenBLAS (the CPU backend's BLAS, and its Fortran runtime),
# zlib's headers (the example trainer) and the Fashion-MNIST data set.
#
#   scripts/fetch-gpu-deps.sh [DIR]     (default DIR: .gpudeps, git-ignored)
#
# The .deb files are only downloaded (apt-get download), never installed;
# gpu-check.sh unpacks them with `dpkg -x` into a private prefix on the GPU
# machine and points CPATH, LIBRARY_PATH and LD_LIBRARY_PATH there, and only
# for what that machine lacks. About 45 MB, most of it the data set.
set -euo pipefail

cd "$(dirname "$0")/.."
dir=${1:-.gpudeps}
pkgs=(check libsubunit0 libsubunit-dev
      libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0
      zlib1g-dev dataset-fashion-mnist)

mkdir -p "$dir"
if ! ls "$dir"/*.deb >/dev/null 2>&1 || [ "${REFRESH:-0}" = 1 ]; then
  rm -f "$dir"/*.deb
  # Fresh package lists if they are missing (needs root; harmless otherwise).
  if ! apt-cache show check >/dev/null 2>&1; then
    apt-get update -q || { echo "fetch-gpu-deps: apt-get update failed" >&2; exit 1; }
  fi
  # apt-get download writes into the current directory.
  (cd "$dir" && apt-get download "${pkgs[@]}")
fi
missing=0
for p in "${pkgs[@]}"; do
  ls "$dir/${p}_"*.deb >/dev/null 2>&1 || { echo "fetch-gpu-deps: $p is missing" >&2; missing=1; }
done
[ "$missing" = 0 ] || exit 1
du -sh "$dir"
echo "fetch-gpu-deps: $dir is ready; carry it to the GPU machine (see docs/gpu.md)"
