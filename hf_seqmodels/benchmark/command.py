"""`hf-seqmodels benchmark`: its options, and the settings they make."""

import argparse
from pathlib import Path

from ..models import ARCHITECTURES
from ..errors import UsageError
from .deployment import check_onnx_installed
from .keras_peers import check_keras_installed
from .report import write_report
from .run import run_benchmark
from .settings import BenchmarkSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults, quick = BenchmarkSettings(), BenchmarkSettings.quick()
    parser.add_argument("--quick", action="store_true", help="fewer, smaller batches and repeats: under two minutes")
    parser.add_argument("--architectures", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES))
    parser.add_argument("--batch_size", type=int, help=f"posts per batch (default {defaults.batch_size}, quick {quick.batch_size})")
    parser.add_argument("--num_batches", type=int, help=f"batches per timed pass (default {defaults.num_batches}, quick {quick.num_batches})")
    parser.add_argument("--repeats", type=int, help=f"timed passes; the median is reported (default {defaults.repeats}, quick {quick.repeats})")
    parser.add_argument("--no_baselines", action="store_true", help="leave out the textbook, unpacked and BERT baselines")
    parser.add_argument("--keras", action="store_true", help="also time the Keras 3 peers of our models (torch backend; the [bench] extra)")
    parser.add_argument("--scaling", action="store_true", help="also sweep hidden and batch sizes of our models")
    parser.add_argument("--compile", action="store_true", help="run our models through torch.compile")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1', ...")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast dtype (fp16: CUDA only)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: one per idle core: torch's one per core, less the 1-minute load average)",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="also time each model exported to ONNX (fp32, int8) against eager PyTorch: batch-1 latency, batch throughput, file size",
    )
    parser.add_argument(
        "--deploy_posts",
        type=int,
        help=f"posts of median length timed one at a time (default {defaults.deployment_posts}, quick {quick.deployment_posts})",
    )
    parser.add_argument(
        "--model_dirs",
        nargs="+",
        default=[],
        metavar="MODEL_DIR",
        help="trained folders to deploy instead of fresh models (implies --deploy); adds their test accuracy",
    )
    parser.add_argument("--output", default="benchmark_results.json", help="where the JSON report goes")


def settings_from_args(args: argparse.Namespace) -> BenchmarkSettings:
    overrides = {
        "architectures": tuple(args.architectures),
        "baselines": not args.no_baselines,
        "scaling": args.scaling,
        "compile": args.compile,
        "device": args.device,
        "amp": args.amp,
        "threads": args.threads,
        "keras": args.keras,
        "deployment": args.deploy or bool(args.model_dirs),
        "model_dirs": tuple(args.model_dirs),
    }
    if args.keras:
        check_keras_installed()
    if overrides["deployment"]:
        check_onnx_installed("--model_dirs" if args.model_dirs else "--deploy")
    for model_dir in args.model_dirs:
        if not Path(model_dir, "config.json").is_file():
            raise UsageError(f"--model_dirs {model_dir!r}: no config.json there; give folders written by `hf-seqmodels train`")
    if args.deploy_posts is not None:
        if args.deploy_posts < 1:
            raise UsageError(f"--deploy_posts must be ≥ 1, got {args.deploy_posts}")
        overrides["deployment_posts"] = args.deploy_posts
    for name in ("batch_size", "num_batches", "repeats"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return BenchmarkSettings.quick(**overrides) if args.quick else BenchmarkSettings(**overrides)


def run_from_args(args: argparse.Namespace) -> int:
    print(write_report(run_benchmark(settings_from_args(args)), args.output))
    return 0
