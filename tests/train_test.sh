#!/usr/bin/env bash
# tests/train_test.sh — end-to-end test of examples/train and examples/classify
# on a small slice of the real Fashion-MNIST (CPU, 28x28):
#   - command-line errors and data-file errors (truncated, wrong magic,
#     counts that disagree) give clear messages naming the file;
#   - the lecture's shape table (96x96 and 28x28) and parameter count;
#   - a 2-epoch run: epoch lines, the summary, metrics.csv, curve.png,
#     checkpoints and their metadata, no temporary files left;
#   - a run stopped after epoch 1 and resumed equals the uninterrupted run;
#   - classify reproduces the trainer's test accuracy, prints the confusion
#     matrix, and classifies PGM files.
# Ends with "train_test: N passed, N failed". Run from the repository root
# (make check-train). Environment: TRAIN, CLASSIFY (binaries), FMNIST_DIR.
# shellcheck disable=SC2016  # awk programs are single-quoted on purpose
set -u

TRAIN=${TRAIN:-examples/train}
CLASSIFY=${CLASSIFY:-examples/classify}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2

CHECK_NAME=train_test
# shellcheck source=tests/check_lib.sh
. "$(dirname "$0")/check_lib.sh"

for b in "$TRAIN" "$CLASSIFY"; do
  if [ ! -x "$b" ]; then
    bad "$b is not built"
    finish
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/train_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- command line -----------------------------------------------------------
"$TRAIN" --help > "$tmp/help" 2>&1
check "train --help exits 0 and documents --resume" grep -q -- "--resume" "$tmp/help"
"$CLASSIFY" --help > "$tmp/help" 2>&1
check "classify --help exits 0 and documents PGM" grep -q "PGM" "$tmp/help"
"$TRAIN" --bogus > "$tmp/o" 2>&1
rc=$?
check "unknown option: exit 2 with a message" test $rc -eq 2 -a -n "$(grep 'unknown option' "$tmp/o")"
"$TRAIN" --device gpu > "$tmp/o" 2>&1
check "bad --device value rejected" test $? -eq 2
"$TRAIN" --lr -1 > "$tmp/o" 2>&1
check "negative --lr rejected" test $? -eq 2
"$TRAIN" --epochs 0 > "$tmp/o" 2>&1
check "--epochs 0 rejected" test $? -eq 2

# ---- the lecture's shape table (binding only, no data) ---------------------
cat > "$tmp/want96" <<'EOF'
Sequential output shape: (1, 64, 24, 24)
Sequential output shape: (1, 192, 12, 12)
Sequential output shape: (1, 480, 6, 6)
Sequential output shape: (1, 832, 3, 3)
Sequential output shape: (1, 1024)
Linear output shape: (1, 10)
parameters: 5977530
EOF
cat > "$tmp/want28" <<'EOF'
Sequential output shape: (1, 64, 7, 7)
Sequential output shape: (1, 192, 4, 4)
Sequential output shape: (1, 480, 2, 2)
Sequential output shape: (1, 832, 1, 1)
Sequential output shape: (1, 1024)
Linear output shape: (1, 10)
parameters: 5977530
EOF
"$TRAIN" --device cpu --size 96 --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
grep -E "output shape|^parameters" "$tmp/o" > "$tmp/got96"
check "shape table at 96x96 is the lecture's" cmp -s "$tmp/want96" "$tmp/got96"
"$TRAIN" --device cpu --preset quick --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
grep -E "output shape|^parameters" "$tmp/o" > "$tmp/got28"
check "shape table at 28x28 (quick preset)" cmp -s "$tmp/want28" "$tmp/got28"
check "quick preset recipe" grep -q "size 28, batch 96, lr 0.04, momentum 0.9, weight decay 0.0005, epochs 5, init kaiming, warmup 200, schedule cosine, label smoothing 0.1" "$tmp/o"
"$TRAIN" --device cpu --preset d2l --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
check "d2l preset recipe" grep -q "size 96, batch 128, lr 0.1, momentum 0, weight decay 0, epochs 10, init xavier, warmup 0" "$tmp/o"
"$TRAIN" --device cpu --preset quick --init xavier --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
check "--init overrides the preset" grep -q "epochs 5, init xavier" "$tmp/o"
"$TRAIN" --init he > "$tmp/o" 2>&1
rc=$?
check "--init he: exit 2 with a message" test $rc -eq 2 -a -n "$(grep "init must be xavier or kaiming" "$tmp/o")"
"$TRAIN" --device cpu --preset d2l --size 64 --lr 0.05 --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
check "explicit options override the preset" grep -q "size 64, batch 128, lr 0.05, momentum 0," "$tmp/o"
"$TRAIN" --device cpu --model googlenet-bn --dry-run --out "$tmp/dry" > "$tmp/o" 2>&1
check "googlenet-bn: batch 32, lr 0.1, no warmup, a cosine schedule, weight decay, label smoothing" grep -q "model googlenet-bn, size 28, batch 32, lr 0.1, momentum 0.9, weight decay 0.0005, epochs 5, init kaiming, warmup 0, schedule cosine, label smoothing 0.1" "$tmp/o"
check "googlenet-bn: the batch norms' parameters (5977530 + 2 x 7280 channels)" grep -q "^parameters: 5992090" "$tmp/o"
"$TRAIN" --device cpu --model resnet --dry-run > "$tmp/o" 2>&1
check "--model resnet: exit 2 naming the models" test $? -eq 2 -a -n "$(grep "googlenet, googlenet-bn" "$tmp/o")"
check "--dry-run writes nothing" test ! -e "$tmp/dry"

if [ ! -f "$DATA/t10k-labels-idx1-ubyte.gz" ] || [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP: Fashion-MNIST is not installed in $DATA (make deps installs dataset-fashion-mnist);"
  echo "      the training, resume and classify checks did not run"
  finish
fi

# ---- data-file errors --------------------------------------------------------
mkdir -p "$tmp/bad"
cp "$DATA"/t10k-* "$tmp/bad/"
head -c 100000 "$DATA/t10k-images-idx3-ubyte.gz" > "$tmp/bad/train-images-idx3-ubyte.gz"
cp "$DATA/t10k-labels-idx1-ubyte.gz" "$tmp/bad/train-labels-idx1-ubyte.gz"
"$TRAIN" --device cpu --data "$tmp/bad" --out "$tmp/badout" > "$tmp/o" 2>&1
rc=$?
check "truncated gzip: exit 1 naming the file" \
  test $rc -eq 1 -a -n "$(grep "bad/train-images-idx3-ubyte.gz: corrupt or truncated" "$tmp/o")"
cp "$DATA/t10k-labels-idx1-ubyte.gz" "$tmp/bad/train-images-idx3-ubyte.gz"
"$TRAIN" --device cpu --data "$tmp/bad" --out "$tmp/badout" > "$tmp/o" 2>&1
check "labels as images: wrong magic named" grep -q "train-images-idx3-ubyte.gz: magic number 2049, expected 2051" "$tmp/o"
cp "$DATA/t10k-images-idx3-ubyte.gz" "$tmp/bad/train-images-idx3-ubyte.gz"
cp "$DATA/train-labels-idx1-ubyte.gz" "$tmp/bad/train-labels-idx1-ubyte.gz"
"$TRAIN" --device cpu --data "$tmp/bad" --out "$tmp/badout" > "$tmp/o" 2>&1
check "image and label counts disagree" grep -q "holds 10000 images but .*train-labels-idx1-ubyte.gz holds 60000 labels" "$tmp/o"
"$TRAIN" --device cpu --data "$tmp/nowhere" --out "$tmp/badout" > "$tmp/o" 2>&1
check "missing data dir: the file is named" grep -q "nowhere/train-images-idx3-ubyte.gz: No such file" "$tmp/o"

# ---- a 2-epoch run ------------------------------------------------------------
# 200 images in batches of 64 (the last one has 8), 150 test images (last 22).
# A constant rate, no weight decay or smoothing: the runs below lengthen
# their checkpoints (--resume --epochs N), which a cosine schedule forbids.
COMMON=(--device cpu --data "$DATA" --size 28 --batch 64 --limit 200 --test-limit 150 --seed 7
        --lr 0.01 --momentum 0.9 --schedule constant --weight-decay 0 --label-smoothing 0
        --threads 2 --progress-every 2)
full=$tmp/full
"$TRAIN" "${COMMON[@]}" --epochs 2 --out "$full" > "$tmp/full.out" 2> "$tmp/full.err"
rc=$?
check "2-epoch run exits 0" test $rc -eq 0
if [ $rc -ne 0 ]; then
  sed 's/^/  | /' "$tmp/full.out" "$tmp/full.err"
  finish
fi
check "shape table printed first" \
  test "$(grep -m1 -n "output shape" "$tmp/full.out" | cut -d: -f1)" -lt "$(grep -m1 -n "^epoch" "$tmp/full.out" | cut -d: -f1)"
re_epoch='^epoch [12]/2  loss [0-9]+\.[0-9]{3}  train acc [01]\.[0-9]{3}  test acc [01]\.[0-9]{3}  [0-9]+ img/s$'
check "two epoch lines in the book's format" test "$(grep -cE "$re_epoch" "$tmp/full.out")" -eq 2
check "summary line" grep -qE '^loss [0-9]+\.[0-9]{3}, train acc [01]\.[0-9]{3}, test acc [01]\.[0-9]{3}$' "$tmp/full.out"
check "examples/sec line names the device" grep -qE '^[0-9]+\.[0-9] examples/sec on CPU' "$tmp/full.out"
check "plain progress lines on a non-terminal stderr" grep -qE '^epoch 1/2 batch 2/4  loss [0-9.]+  acc [0-9.]+  [0-9]+ img/s  ETA' "$tmp/full.err"
check "no progress-bar escapes on a non-terminal" test -z "$(grep -l $'\r' "$tmp/full.err")"

csv=$full/metrics.csv
check "metrics.csv header" test "$(head -1 "$csv")" = "epoch,loss,train_acc,test_acc,img_per_s,seconds"
check "metrics.csv has 2 rows" test "$(tail -n +2 "$csv" | wc -l)" -eq 2
check "metrics.csv values in range" awk -F, 'NR > 1 {
    if (NF != 6 || $1 != NR - 1 || !($2 > 0 && $2 < 20) || $3 < 0 || $3 > 1 || $4 < 0 || $4 > 1 ||
        !($5 > 0) || !($6 > 0)) bad = 1 }
  END { exit bad }' "$csv"
check "test acc is a multiple of 1/150" awk -F, 'NR > 1 { c = $4 * 150; if (c - int(c + 0.5) > 1e-3 || int(c + 0.5) - c > 1e-3) bad = 1 } END { exit bad }' "$csv"
last=$(tail -1 "$csv")
summary=$(awk -F, '{ printf "loss %.3f, train acc %.3f, test acc %.3f", $2, $3, $4 }' <<< "$last")
check "summary matches the last CSV row" grep -qx "$summary" "$tmp/full.out"

if command -v gnuplot > /dev/null 2>&1; then
  check "curve.png is a PNG" test "$(head -c 8 "$full/curve.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
else
  echo "note: gnuplot not installed, curve.png not checked"
  check "missing gnuplot is a warning" grep -q "gnuplot not found" "$tmp/full.err"
fi
check "checkpoint per epoch" test -s "$full/ckpt-epoch-001.safetensors" -a -s "$full/ckpt-epoch-002.safetensors"
# The curve within epochs: 4 batches an epoch, so a point after each batch
# (CURVE_POINTS = 5 > 4); x rises by 1/4; each epoch's last point is that
# epoch's row of metrics.csv (the same running means).
steps=$full/steps.csv
check "steps.csv header" test "$(head -1 "$steps")" = "x,train_loss,train_acc"
check "steps.csv: 4 points per epoch at x = 0.25, 0.5, ... 2" awk -F, 'NR > 1 {
    if (NF != 3 || ($1 - (NR - 1) / 4.0) > 1e-6 || ((NR - 1) / 4.0 - $1) > 1e-6 ||
        !($2 > 0) || $3 < 0 || $3 > 1) bad = 1; n++ }
  END { exit bad || n != 8 }' "$steps"
check "each epoch's last curve point is its metrics.csv row" test \
  "$(awk -F, 'NR > 1 && $1 == int($1) { printf "%d,%s,%s;", $1, $2, $3 }' "$steps")" = \
  "$(awk -F, 'NR > 1 { printf "%d,%s,%s;", $1, $2, $3 }' "$csv")"
extra=""
for f in "$full"/* "$full"/.[!.]*; do
  [ -e "$f" ] || continue
  case ${f##*/} in
    metrics.csv | steps.csv | curve.png | ckpt-epoch-001.safetensors | ckpt-epoch-002.safetensors) ;;
    *) extra="$extra ${f##*/}" ;;
  esac
done
check "no temporary files left${extra:+ (found:$extra)}" test -z "$extra"
# safetensors metadata, read straight from the file's JSON header
if command -v python3 > /dev/null 2>&1; then
  python3 - "$full/ckpt-epoch-002.safetensors" > "$tmp/meta" 2>&1 <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n)).get("__metadata__", {})
for k in sorted(meta):
    print("%s=%s" % (k, meta[k].replace("\n", ";")))
PY
  for kv in 'epoch=2' 'epochs=2' 'size=28' 'batch=64' 'seed=7' 'limit=200' 'test_limit=150' \
            'lr=0.01' 'momentum=0.9' 'weight_decay=0' 'rng=[0-9a-f]{16}' \
            'metrics=1,[0-9.,]+;2,[0-9.,]+;'; do
    check "checkpoint metadata $kv" grep -qxE "$kv" "$tmp/meta"
  done
else
  echo "note: python3 not installed, checkpoint metadata not inspected"
fi

# ---- stop after epoch 1, resume, compare -------------------------------------
res=$tmp/resume
"$TRAIN" "${COMMON[@]}" --epochs 1 --out "$res" > "$tmp/r1.out" 2> "$tmp/r1.err"
check "1-epoch run exits 0" test $? -eq 0
"$TRAIN" --device cpu --data "$DATA" --threads 2 --resume --epochs 2 --out "$res" > "$tmp/r2.out" 2> "$tmp/r2.err"
rc=$?
check "resume exits 0" test $rc -eq 0
[ $rc -ne 0 ] && sed 's/^/  | /' "$tmp/r2.out" "$tmp/r2.err"
check "resume says where it resumed from" grep -q "resumed from .*ckpt-epoch-001.safetensors" "$tmp/r2.out"
check "resume trains only epoch 2" test "$(grep -c "^epoch 2/2" "$tmp/r2.out")" -eq 1 -a -z "$(grep "^epoch 1/2 batch" "$tmp/r2.err")"
cut -d, -f1-4 "$csv" > "$tmp/a.csv"
cut -d, -f1-4 "$res/metrics.csv" > "$tmp/b.csv"
check "resumed metrics.csv equals the uninterrupted one (loss, accuracies)" cmp -s "$tmp/a.csv" "$tmp/b.csv"
check "resumed steps.csv (the curve within epochs) equals the uninterrupted one" \
  cmp -s "$full/steps.csv" "$res/steps.csv"
# the weights and momentum buffers bit for bit (metrics.csv shows 6 digits:
# a last-bit difference, e.g. a learning rate read back rounded, hides there)
if command -v python3 > /dev/null 2>&1; then
  python3 - "$full/ckpt-epoch-002.safetensors" "$res/ckpt-epoch-002.safetensors" \
    > "$tmp/tensors" 2>&1 <<'PY'
import json, struct, sys
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]]
            for k, v in head.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = sorted(k for k in a if a[k] != b.get(k)) + sorted(k for k in b if k not in a)
print("%d tensors, %d differ%s" % (len(a), len(bad), (": " + " ".join(bad[:5])) if bad else ""))
sys.exit(1 if bad or not a else 0)
PY
  check "resumed checkpoint's tensors equal the uninterrupted one's bit for bit" test $? -eq 0
  [ -s "$tmp/tensors" ] && sed 's/^/  | /' "$tmp/tensors"
fi
if ! cmp -s "$tmp/a.csv" "$tmp/b.csv"; then diff "$tmp/a.csv" "$tmp/b.csv" | sed 's/^/  | /'; fi
check "resumed final summary equals the uninterrupted one" \
  test "$(grep '^loss ' "$tmp/full.out")" = "$(grep '^loss ' "$tmp/r2.out")"
check "resumed epoch-2 line equals the uninterrupted one" \
  test "$(grep '^epoch 2/2' "$tmp/full.out" | sed 's/  [0-9]* img\/s$//')" = "$(grep '^epoch 2/2' "$tmp/r2.out" | sed 's/  [0-9]* img\/s$//')"
"$TRAIN" --device cpu --data "$DATA" --resume --lr 0.5 --epochs 3 --out "$res" > "$tmp/o" 2>&1
check "resume with a different --lr is refused" test $? -ne 0 -a -n "$(grep "differs from the checkpoint" "$tmp/o")"

# ---- --keep: the last N checkpoints and the best one stay ----------------------
keep=$tmp/keep
"$TRAIN" "${COMMON[@]}" --epochs 3 --keep 1 --out "$keep" --export-onnx "$tmp/k.onnx" \
  > "$tmp/k.out" 2>&1
check "--keep 1 run exits 0" test $? -eq 0
best=$(awk -F, 'NR > 1 && (b == "" || $4 > max) { max = $4; b = $1 } END { printf "%03d", b }' \
  "$keep/metrics.csv")
want=$(printf '%s\n' ckpt-epoch-003.safetensors "ckpt-epoch-$best.safetensors" | sort -u | tr '\n' ' ')
got=$(cd "$keep" && printf '%s\n' ckpt-epoch-*.safetensors | sort | tr '\n' ' ')
check "--keep 1 keeps the last epoch's checkpoint and the best one (epoch $best): $got" \
  test "$got" = "$want"
# --export-onnx: the trained model, and the same from its checkpoint through
# classify, byte for byte (what onnxruntime makes of it: tests/python/test_onnx.py)
check "train --export-onnx writes the model" test -s "$tmp/k.onnx"
"$CLASSIFY" --device cpu --export-onnx "$tmp/c.onnx" "$keep/ckpt-epoch-003.safetensors" \
  > "$tmp/c.out" 2>&1
check "classify --export-onnx of the same checkpoint writes the same bytes, nothing else" \
  test $? -eq 0 -a -z "$(grep -v '^ONNX model in ' "$tmp/c.out")" -a -s "$tmp/c.onnx"
cmp -s "$tmp/k.onnx" "$tmp/c.onnx"
check "... byte for byte" test $? -eq 0
"$TRAIN" --device cpu --data "$DATA" --threads 2 --resume --epochs 4 --keep 1 --out "$keep" \
  > "$tmp/k2.out" 2>&1
check "--resume after --keep continues from the last epoch" \
  grep -q "resumed from .*ckpt-epoch-003.safetensors" "$tmp/k2.out"

# ---- classify -------------------------------------------------------------------
"$CLASSIFY" --device cpu --data "$DATA" --test-limit 150 --threads 2 "$full/ckpt-epoch-002.safetensors" > "$tmp/c.out" 2>&1
check "classify exits 0" test $? -eq 0
got=$(sed -n 's/^test acc [0-9.]*  (\([0-9]*\)\/150 correct)$/\1/p' "$tmp/c.out")
want=$(tail -1 "$csv" | awk -F, '{ printf "%d", $4 * 150 + 0.5 }')
check "classify reproduces the trainer's test accuracy ($got/150 vs $want/150)" test -n "$got" -a "$got" = "$want"
check "classify prints 'test acc' like the trainer" \
  test "$(sed -n 's/^test acc \([0-9.]*\) .*/\1/p' "$tmp/c.out")" = "$(tail -1 "$csv" | awk -F, '{ printf "%.3f", $4 }')"
check "confusion matrix: 10 rows with class names" \
  test "$(grep -cE '^[0-9] (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) ' "$tmp/c.out")" -eq 10
check "confusion matrix sums to 150" test "$(grep -E '^[0-9] ' "$tmp/c.out" | sed 's/^[0-9] [A-Za-z/ -]*[a-z]//' | awk '{ for (i = 1; i <= 10; i++) s += $i } END { print s }')" = 150
# the first test image (an ankle boot) as PGM, and an enlarged copy
{ printf 'P5\n# first Fashion-MNIST test image\n28 28\n255\n'; zcat "$DATA/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 784; } > "$tmp/boot.pgm"
printf 'P5\n2 2\n255\n\000\377\377\000' > "$tmp/tiny.pgm"
printf 'P5\n28 28\n255\n\000\000' > "$tmp/short.pgm"
"$CLASSIFY" --device cpu "$full/ckpt-epoch-002.safetensors" "$tmp/boot.pgm" "$tmp/tiny.pgm" > "$tmp/c2.out" 2>&1
check "classify PGM files" test $? -eq 0 -a "$(grep -cE '\.pgm: (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) \([0-9], p=[01]\.[0-9]{3}\)$' "$tmp/c2.out")" -eq 2
"$CLASSIFY" --device cpu "$full/ckpt-epoch-002.safetensors" "$tmp/short.pgm" > "$tmp/c3.out" 2>&1
check "truncated PGM: exit 1 naming the file" test $? -eq 1 -a -n "$(grep "short.pgm: truncated PGM" "$tmp/c3.out")"
"$CLASSIFY" --device cpu "$tmp/boot.pgm" > "$tmp/c4.out" 2>&1
check "a non-checkpoint is refused" test $? -ne 0

# ---- the batch-norm model: recorded, resumed, classified -------------------------
# (googlenet-bn: cosine schedule; with dropout, label smoothing and augmentation)
bn=$tmp/bn
"$TRAIN" "${COMMON[@]}" --model googlenet-bn --dropout 0.4 --label-smoothing 0.1 --epochs 2 \
  --schedule cosine --weight-decay 5e-4 --augment flip,crop=2 --out "$bn" > "$tmp/bn.out" 2>&1
check "googlenet-bn run exits 0" test $? -eq 0
rm -f "$bn/ckpt-epoch-002.safetensors"
"$TRAIN" --device cpu --data "$DATA" --resume --model googlenet --out "$bn" > "$tmp/o" 2>&1
check "resume with another --model is refused" test $? -ne 0 -a -n "$(grep "model googlenet differs" "$tmp/o")"
"$TRAIN" --device cpu --data "$DATA" --resume --augment flip --out "$bn" > "$tmp/o" 2>&1
check "resume with another --augment is refused" test $? -ne 0 -a -n "$(grep "augment flip differs from the checkpoint's flip,crop=2" "$tmp/o")"
"$TRAIN" --device cpu --data "$DATA" --resume --epochs 3 --out "$bn" > "$tmp/o" 2>&1
check "a cosine run cannot be lengthened on resume" test $? -ne 0 -a -n "$(grep "cosine schedule" "$tmp/o")"
"$TRAIN" --device cpu --data "$DATA" --threads 2 --resume --out "$bn" > "$tmp/bn2.out" 2>&1
check "resume takes model, dropout, smoothing, schedule and augmentation from the checkpoint" \
  grep -q "model googlenet-bn,.* schedule cosine, label smoothing 0.1, dropout 0.4, augment flip,crop=2" "$tmp/bn2.out"
check "resumed googlenet-bn epoch 2 (dropout masks, augmentation, schedule, running statistics) equals the uninterrupted one" \
  test -n "$(grep '^epoch 2/2  loss' "$tmp/bn.out")" -a \
  "$(grep '^epoch 2/2  loss' "$tmp/bn.out" | sed 's/  [0-9]* img\/s$//')" = "$(grep '^epoch 2/2  loss' "$tmp/bn2.out" | sed 's/  [0-9]* img\/s$//')"
"$CLASSIFY" --device cpu --data "$DATA" --test-limit 150 --threads 2 "$bn/ckpt-epoch-002.safetensors" > "$tmp/c5.out" 2>&1
check "classify builds the checkpoint's model and reproduces its accuracy" \
  test "$(sed -n 's/^test acc \([0-9.]*\) .*/\1/p' "$tmp/c5.out")" = "$(tail -1 "$bn/metrics.csv" | awk -F, '{ printf "%.3f", $4 }')"

finish
