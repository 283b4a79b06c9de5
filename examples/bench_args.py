"""bench_args.py: the options examples/bench's Python companions share.

examples/bench_torch.py and examples/bench_ort.py take examples/bench's
options with its defaults (--device --size --batch --steps --threads
--warmup --profile-steps --classes --infer-only), so that `make
bench-compare` can hand all three the same BENCH_ARGS.
"""


def add_bench_options(ap, infer_only_help):
    """Adds examples/bench's options to the argparse parser ap."""
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--profile-steps", type=int, default=0)  # accepted for symmetry
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--infer-only", action="store_true", help=infer_only_help)
