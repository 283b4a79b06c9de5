#!/usr/bin/env bash
# tests/classify_test.sh — end-to-end test of examples/classify on image
# files, with a checkpoint trained here in a few seconds (CPU, 32x32, so that
# the trainer's bilinear resize from 28x28 is exercised):
#   - the test-set evaluation without images still reproduces the trainer's
#     test accuracy and prints the confusion matrix;
#   - an image prints "FILE: CLASS (INDEX, p=P)" and the top 3 classes with
#     names and probabilities, sorted, summing to at most 1;
#   - a Fashion-MNIST test image written as PNG becomes exactly the network
#     input that the data set gives (--dump-input against --test-image, byte
#     for byte) and gets the same probabilities; so do its 16-bit, RGB, RGBA,
#     gray+alpha, palette, interlaced, transparent-background and doubled
#     (56x56) PNGs and its P5, 16-bit P5 and P2 PGMs; the negative with
#     --invert agrees to float rounding;
#   - gray conversion and resizing on constant images of odd sizes: the luma
#     weights 0.299/0.587/0.114, 16-bit and 1-bit samples, alpha over black;
#   - broken files (bad CRC, bad deflate data, truncated, absurd size, empty,
#     not an image, bad PGM headers and rasters, missing, a directory) give a
#     message naming the file and exit status 1, never a crash, and do not
#     stop the other images.
# The images come from tests/classify_images.c (IMAGES). Ends with
# "classify_test: N passed, N failed". Run from the repository root (make
# check-classify). Environment: TRAIN, CLASSIFY, IMAGES (binaries),
# FMNIST_DIR, CLASSIFY_CKPT (a checkpoint to use instead of training one).
# shellcheck disable=SC2016  # awk programs are single-quoted on purpose
# shellcheck disable=SC2317  # the helper functions run through check
set -u

TRAIN=${TRAIN:-examples/train}
CLASSIFY=${CLASSIFY:-examples/classify}
if [ -z "${IMAGES:-}" ]; then # the writer make built, for CUDA=1 or CUDA=0
  for IMAGES in build/cuda1/tests/classify_images build/cuda0/tests/classify_images; do
    [ -x "$IMAGES" ] && break
  done
fi
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2

CHECK_NAME=classify_test
# shellcheck source=tests/check_lib.sh
. "$(dirname "$0")/check_lib.sh"

for b in "$TRAIN" "$CLASSIFY" "$IMAGES"; do
  if [ ! -x "$b" ]; then
    bad "$b is not built"
    finish
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/classify_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
img=$tmp/img
mkdir -p "$img"

# ---- command line -------------------------------------------------------------
"$CLASSIFY" --help > "$tmp/help" 2>&1
check "classify --help exits 0 and documents PNG, PGM, --invert, --test-image, --dump-input" \
  test $? -eq 0 -a -n "$(grep PNG "$tmp/help" | grep PGM)" -a -n "$(grep -- --invert "$tmp/help")" \
  -a -n "$(grep -- --test-image "$tmp/help")" -a -n "$(grep -- --dump-input "$tmp/help")"
"$CLASSIFY" --digits 10 x.safetensors > "$tmp/o" 2>&1
check "--digits 10 rejected (exit 2)" test $? -eq 2
"$CLASSIFY" --test-image -1 x.safetensors > "$tmp/o" 2>&1
check "--test-image -1 rejected (exit 2)" test $? -eq 2

have_data=1
if [ ! -f "$DATA/t10k-labels-idx1-ubyte.gz" ] || [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  have_data=0
fi
if [ $have_data = 1 ]; then
  "$IMAGES" write "$img" "$DATA" 0 > "$tmp/o" 2>&1
else
  "$IMAGES" write "$img" > "$tmp/o" 2>&1
fi
check "the image writer ran" test $? -eq 0
[ -s "$tmp/o" ] && sed 's/^/  | /' "$tmp/o"

# ---- a checkpoint ---------------------------------------------------------------
csv=""
if [ -n "${CLASSIFY_CKPT:-}" ]; then
  ckpt=$CLASSIFY_CKPT
elif [ $have_data = 1 ]; then
  "$TRAIN" --device cpu --data "$DATA" --size 32 --batch 64 --limit 200 --test-limit 150 \
    --epochs 1 --seed 7 --lr 0.01 --momentum 0.9 --threads 2 --out "$tmp/run" \
    > "$tmp/train.out" 2>&1
  rc=$?
  check "training a 32x32 checkpoint exits 0" test $rc -eq 0
  [ $rc -ne 0 ] && sed 's/^/  | /' "$tmp/train.out"
  ckpt=$tmp/run/ckpt-epoch-001.safetensors
  csv=$tmp/run/metrics.csv
else
  echo "SKIP: Fashion-MNIST is not installed in $DATA and CLASSIFY_CKPT is not set;"
  echo "      no checkpoint, the classify checks did not run"
  finish
fi
if [ ! -s "$ckpt" ]; then
  bad "no checkpoint at $ckpt"
  finish
fi
CL=("$CLASSIFY" --device cpu --threads 2 --data "$DATA")
names='T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot'

# top3_ok FILE LABEL TOL: FILE is "LABEL: CLASS (INDEX, p=P)" and three lines
# "  k. CLASS  P" with known classes, the first that of the head line, P
# sorted descending, summing to at most 1 + TOL, the first at least 0.1 - TOL
# (the largest of 10 probabilities; TOL: rounding).
top3_ok() {
  [ "$(grep -cE "^  [1-3]\. ($names) +[01]\.[0-9]+$" "$1")" -eq 3 ] || return 1
  awk -v label="$2" -v tol="$3" '
    NR == 1 { if (index($0, label ": ") != 1) bad = 1
              top = substr($0, length(label) + 3); sub(/ \([0-9], p=[01]\.[0-9]+\)$/, "", top)
              if (top == substr($0, length(label) + 3)) bad = 1; next }
    NR <= 4 { p = $NF; c = substr($0, 6); sub(/ +[0-9.]+$/, "", c)
              if (substr($0, 1, 5) != "  " NR - 1 ". ") bad = 1
              if ((NR == 2 && c != top) || (NR > 2 && p > prev)) bad = 1
              if (NR == 2) first = p
              prev = p; sum += p; next }
    { bad = 1 }
    END { exit bad || NR != 4 || sum > 1 + tol || first < 0.1 - tol }' "$1"
}
# same_top3 A B TOL: the same three classes in the same order, probabilities
# within TOL
same_top3() {
  paste -d'|' <(grep -E '^  [1-3]\. ' "$1") <(grep -E '^  [1-3]\. ' "$2") | awk -F'|' -v tol="$3" '
    { a = $1; b = $2; pa = a; pb = b; sub(/ +[0-9.]+$/, "", a); sub(/ +[0-9.]+$/, "", b)
      sub(/.* /, "", pa); sub(/.* /, "", pb); n++
      if (a != b || pa - pb > tol || pb - pa > tol) bad = 1 }
    END { exit bad || n != 3 }'
}

# ---- the test-set evaluation (no images) still works ------------------------------
if [ $have_data = 1 ]; then
  "${CL[@]}" --test-limit 150 "$ckpt" > "$tmp/eval.out" 2>&1
  check "test-set evaluation exits 0" test $? -eq 0
  size=$(sed -n 's/^checkpoint .*, input \([0-9]*\)x[0-9]*, .*/\1/p' "$tmp/eval.out")
  check "test-set evaluation names the input size ($size)" test -n "$size"
  got=$(sed -n 's/^test acc [0-9.]*  (\([0-9]*\)\/150 correct)$/\1/p' "$tmp/eval.out")
  if [ -n "$csv" ]; then
    want=$(tail -1 "$csv" | awk -F, '{ printf "%d", $4 * 150 + 0.5 }')
    check "test acc reproduces the trainer's ($got/150 vs $want/150)" \
      test -n "$got" -a "$got" = "$want"
  fi
  check "confusion matrix: 10 rows with class names summing to 150" \
    test "$(grep -E '^[0-9] ' "$tmp/eval.out" | sed 's/^[0-9] [A-Za-z/ -]*[a-z]//' |
      awk '{ for (i = 1; i <= 10; i++) s += $i; n++ } END { print n, s }')" = "10 150"
fi
# the input size, from the length of a dumped input
"${CL[@]}" --dump-input "$tmp/size.bin" "$ckpt" "$img/red.png" > "$tmp/o" 2>&1
bytes=$(wc -c < "$tmp/size.bin" 2> /dev/null || echo 0)
side=$(awk -v b="$bytes" 'BEGIN { printf "%d", sqrt(b / 4) + 0.5 }')
check "--dump-input writes one square float32 plane (${side}x$side)" \
  test "$bytes" -gt 0 -a $((4 * side * side)) -eq "$bytes" -a "${size:-$side}" = "$side"
size=$side

# ---- a Fashion-MNIST test image as PNG and PGM ------------------------------------
if [ $have_data = 1 ]; then
  "${CL[@]}" "$ckpt" "$img/fm.png" > "$tmp/fm.out" 2>&1
  check "fm.png: exit 0" test $? -eq 0
  check "fm.png: top 3 with names and probabilities, sorted, sum <= 1" \
    top3_ok "$tmp/fm.out" "$img/fm.png" 0.0015
  check "fm.png: three decimals by default" \
    test "$(grep -cE '^  [1-3]\. .* [01]\.[0-9]{3}$' "$tmp/fm.out")" -eq 3
  "${CL[@]}" --digits 9 --dump-input "$tmp/fm.bin" "$ckpt" "$img/fm.png" > "$tmp/fm9.out" 2>&1
  check "fm.png --digits 9: sum <= 1 to 1e-8" top3_ok "$tmp/fm9.out" "$img/fm.png" 1e-8
  "${CL[@]}" --digits 9 --dump-input "$tmp/ref.bin" --test-image 0 "$ckpt" > "$tmp/ref.out" 2>&1
  check "--test-image 0: exit 0, names the true class" \
    test $? -eq 0 -a -n "$(grep -x 'test image 0 (true class Ankle boot): .*' "$tmp/ref.out")"
  check "--test-image 0: top 3" top3_ok "$tmp/ref.out" "test image 0 (true class Ankle boot)" 1e-8
  check "--dump-input: one ${size}x$size float32 plane" \
    test "$(wc -c < "$tmp/ref.bin")" -eq $((4 * size * size))
  check "fm.png becomes the data set's input byte for byte (--dump-input)" \
    cmp -s "$tmp/fm.bin" "$tmp/ref.bin"
  check "fm.png: same classes and probabilities (1e-5) as the data set's image" \
    same_top3 "$tmp/fm9.out" "$tmp/ref.out" 1e-5
  # the test-set path agrees: accuracy on image 0 alone is 1 iff image mode is right
  "${CL[@]}" --test-limit 1 "$ckpt" > "$tmp/one.out" 2>&1
  top=$(sed -n 's/^  1\. \(.*[^ ]\) *[01]\.[0-9]*$/\1/p' "$tmp/fm.out")
  want=0.000
  [ "$top" = "Ankle boot" ] && want=1.000
  check "test-set evaluation of image 0 agrees with the PNG's top 1 ($top)" \
    grep -q "^test acc $want  (" "$tmp/one.out"
  for f in fm16.png fm_rgb.png fm_rgba.png fm_ga.png fm_pal.png fm_adam7.png fm_bg.png \
           fm_x2.png fm.pgm fm16.pgm fm_plain.pgm; do
    "${CL[@]}" --digits 9 --dump-input "$tmp/$f.bin" "$ckpt" "$img/$f" > "$tmp/$f.out" 2>&1
    check "$f: exit 0, same input as fm.png" \
      test $? -eq 0 -a -z "$(cmp "$tmp/$f.bin" "$tmp/fm.bin" 2>&1)"
    check "$f: same top 3 as fm.png" same_top3 "$tmp/$f.out" "$tmp/fm9.out" 1e-5
  done
  cp "$img/fm.png" "$img/png_named.pgm"
  "${CL[@]}" --digits 9 "$ckpt" "$img/png_named.pgm" > "$tmp/named.out" 2>&1
  check "the format is found by content (a PNG named .pgm)" \
    same_top3 "$tmp/named.out" "$tmp/fm9.out" 1e-5
  "${CL[@]}" --invert --digits 9 --dump-input "$tmp/neg.bin" "$ckpt" "$img/fm_neg.png" \
    > "$tmp/neg.out" 2>&1
  check "--invert on the negative: input within 1e-6 of fm.png's" \
    "$IMAGES" close "$tmp/neg.bin" "$tmp/fm.bin" 1e-6
  check "--invert on the negative: same top 3 (1e-4)" same_top3 "$tmp/neg.out" "$tmp/fm9.out" 1e-4
  # several images in one run: each reported, in order
  "${CL[@]}" "$ckpt" "$img/fm.png" --test-image 0 "$img/fm.pgm" > "$tmp/multi.out" 2>&1
  heads=$(grep -v '^  ' "$tmp/multi.out" | sed 's/:.*//')
  check "three inputs in one run: three reports in order" test "$heads" = \
    "$(printf '%s\n' "$img/fm.png" "test image 0 (true class Ankle boot)" "$img/fm.pgm")"
  "${CL[@]}" --test-image 10000 "$ckpt" > "$tmp/o" 2>&1
  check "--test-image 10000: exit 1, the test set's size named" \
    test $? -eq 1 -a -n "$(grep "test set has 10000 images" "$tmp/o")"
fi

# ---- gray conversion and resizing, on constant images ------------------------------
# FILE VALUE [--invert]: the input is VALUE everywhere (to 1e-6)
const_case() {
  local f=$1 v=$2
  shift 2
  "${CL[@]}" "$@" --dump-input "$tmp/c.bin" "$ckpt" "$img/$f" > "$tmp/c.out" 2>&1 &&
    "$IMAGES" const "$tmp/c.bin" $((size * size)) "$v" 1e-6
}
# value EXPR: EXPR (awk arithmetic) with 9 decimals
value() { awk "BEGIN { printf \"%.9f\", $1 }"; }
check "red.png (40x30 RGB): 0.299" const_case red.png 0.299
check "green.png (7x9, enlarged): 0.587" const_case green.png 0.587
check "blue.png (100x37, area-averaged): 0.114" const_case blue.png 0.114
check "red16.png (16-bit RGB, 29x101): 0.299" const_case red16.png 0.299
check "gray51.png (3x3): 0.2" const_case gray51.png 0.2
check "stripes3.png (84x28, columns 255 0 0): area-averaged to 1/3" \
  const_case stripes3.png "$(value '1 / 3')"
check "gray16.png (16-bit gray 1000x2): 32768/65535" \
  const_case gray16.png "$(value '32768 / 65535')"
check "bits1.png (1-bit gray, all set): 1" const_case bits1.png 1
printf 'P5\n3 2\n1000\n\001\364\001\364\001\364\001\364\001\364\001\364' > "$img/p5_1000.pgm"
check "P5, maxval 1000, samples 500 (two bytes, big-endian): 0.5" const_case p5_1000.pgm 0.5
printf 'P2 # comment\n2 # width\n2\n4\n1 1\n1 1' > "$img/p2_4.pgm"
check "P2 with comments, maxval 4, samples 1: 0.25" const_case p2_4.pgm 0.25
check "ga.png (gray 200, alpha 128): composited over black" \
  const_case ga.png "$(value '200 / 255 * 128 / 255')"
check "ga.png --invert: inverted, then over black" \
  const_case ga.png "$(value '55 / 255 * 128 / 255')" --invert
check "pal4_trns.png (4-bit palette, red with tRNS alpha 128)" \
  const_case pal4_trns.png "$(value '0.299 * 128 / 255')"
"${CL[@]}" "$ckpt" "$img/red.png" > "$tmp/red.out" 2>&1
check "red.png: top 3 format" top3_ok "$tmp/red.out" "$img/red.png" 0.0015

# ---- broken files: a message naming the file, exit 1, no crash ----------------------
printf 'P6\n1 1\n255\n\0\0\0' > "$img/p6.ppm"
printf 'P5\n2 2\n0\n\0\0\0\0' > "$img/max0.pgm"
printf 'P5\n2 2\n70000\n' > "$img/max70000.pgm"
printf 'P2\n2 2\n255\n1 2 300 4\n' > "$img/over.pgm"
printf 'P2\n2 2\n255\n1 2 x 4\n' > "$img/garbage.pgm"
printf 'P2\n2 2\n255\n1 2\n' > "$img/short2.pgm"
printf 'P5\n2 2\n65535\n\0\0\0' > "$img/short16.pgm"
printf 'P5\n2 2\n255\n\001\002' > "$img/short.pgm"
printf 'P5 2\n' > "$img/header.pgm"
printf 'P5\n2 2\n15\n\001\002\003\377' > "$img/above.pgm"
mkdir -p "$img/dir.png"
# FILE MESSAGE: classify FILE exits 1 with "classify: PATH: MESSAGE"
broken() {
  "${CL[@]}" "$ckpt" "$img/$1" > "$tmp/b.out" 2> "$tmp/b.err"
  local rc=$?
  [ "$rc" -eq 1 ] && [ ! -s "$tmp/b.out" ] && grep -qF "classify: $img/$1: $2" "$tmp/b.err"
}
if [ $have_data = 1 ]; then
  check "bad CRC in IDAT" broken fm_crc.png "corrupt or truncated PNG (libpng: IDAT: CRC error)"
  check "bad deflate data" broken fm_zlib.png "corrupt or truncated PNG (libpng: "
  check "truncated PNG" broken fm_cut.png "corrupt or truncated PNG (libpng: "
fi
check "20000x20000 PNG header: too large" broken huge.png "image of 20000x20000 is too large"
check "empty file" broken empty.png "empty file"
check "text file" broken text.png "unsupported image format (not PNG or PGM)"
check "missing file" broken nothere.png "No such file or directory"
check "a directory" broken dir.png "Is a directory"
check "PPM: unsupported Netpbm type" broken p6.ppm "unsupported Netpbm type P6"
check "PGM maxval 0" broken max0.pgm "unsupported PGM maxval 0"
check "PGM maxval 70000" broken max70000.pgm "unsupported PGM maxval 70000"
check "P2 sample above maxval" broken over.pgm "malformed PGM: sample 2"
check "P2 garbage sample" broken garbage.pgm "malformed PGM: sample 2"
check "P2 truncated" broken short2.pgm "truncated PGM: 2 of 4 samples"
check "P5 16-bit truncated" broken short16.pgm "truncated PGM: 3 of 8 pixel bytes"
check "P5 truncated" broken short.pgm "truncated PGM: 2 of 4 pixel bytes"
check "P5 pixel above maxval" broken above.pgm "corrupt PGM: pixel 3 is 255, above maxval 15"
check "PGM header cut short" broken header.pgm "malformed PGM header"
"${CL[@]}" "$ckpt" "$img/empty.png" "$img/red.png" "$img/text.png" \
  > "$tmp/mix.out" 2> "$tmp/mix.err"
rc=$?
check "good and bad files mixed: exit 1, the good one classified, both bad named" \
  test $rc -eq 1 -a "$(grep -c ': .* (.*, p=' "$tmp/mix.out")" -eq 1 \
  -a "$(grep -c '^classify: ' "$tmp/mix.err")" -eq 2
"${CL[@]}" "$img/red.png" > "$tmp/o" 2>&1
check "an image as the checkpoint is refused" test $? -eq 1

finish
