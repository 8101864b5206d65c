"""The `hf-seqmodels` command: one entry point for the package's jobs.

Each job lives in its own module; this file only parses the command line, dispatches, and turns a
user's mistake (`UsageError`) into one line on stderr and exit code 2.

    hf-seqmodels train [CONFIG.json] [--option value ...]     (the same as scripts/train.py; --list_recipes)
    hf-seqmodels pretrain [CONFIG.json] [--option value ...]  (the same as scripts/pretrain.py; --list_recipes)
    hf-seqmodels distill [CONFIG.json] --teacher DIR [DIR ...] [tfidf] [--option value ...]  (scripts/distill.py)
    hf-seqmodels evaluate MODEL_DIR [MODEL_DIR ...] [--weights 1,2] [--split test] [data options as for train]
    hf-seqmodels predict MODEL_DIR [MODEL_DIR ...] [TEXT ...] [--weights 1,2] [--file PATH] [--json] [--device auto]
    hf-seqmodels export MODEL_DIR --output_dir OUT [--quantize int8] [--opset N]
    hf-seqmodels compare [--protocol bydate|seed] [--models rnn,gru] [--quick] [training options]
    hf-seqmodels benchmark [--quick] [--output benchmark_results.json] [--threads N] [--scaling] [--deploy] [--keras]
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import UsageError
from .serving import ensemble, prediction
from .utils import one_line
from .validation import check_utf8

# The applications (`training`, `compare`, `benchmark`: Trainer, data sets, scikit-learn, matplotlib, BERT,
# seconds of imports) are imported by the commands that run them, so `predict` and `--help` load none of them.

PROG = "hf-seqmodels"


def build_parser(benchmark_options: bool = True) -> argparse.ArgumentParser:
    """The command line; the benchmark's own options (whose defaults live in the benchmark module) are
    left out where they are not needed."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="RNN, LSTM, GRU and Transformer text classifiers on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"hf-seqmodels {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    # Listed for --help only: `train` hands everything after it to HfArgumentParser (see main()).
    commands.add_parser(
        "train",
        add_help=False,
        help="train one model: [CONFIG.json] [--architecture gru] [--output_dir DIR] ... (train --help lists all, "
        "train --list_recipes the recipes --architecture starts from)",
    )

    commands.add_parser(
        "pretrain",
        add_help=False,
        help="pretrain a masked language model on unlabelled text, to fine-tune with train --model_name_or_path "
        "(pretrain --help lists all)",
    )

    commands.add_parser(
        "distill",
        add_help=False,
        help="train one model on the probabilities of teachers (classifier folders, ensembles, tfidf) over labelled "
        "and unlabelled text (distill --help lists all)",
    )

    commands.add_parser(
        "compare",
        add_help=False,
        help="train the four architectures and the TF-IDF baselines side by side (compare --help lists all)",
    )

    add_evaluate_command(commands)
    add_predict_command(commands)
    add_export_command(commands)

    benchmark_help = "training and inference speed of the four models beside textbook PyTorch and BERT (--quick: 2 minutes)"
    if benchmark_options:
        from . import benchmark

        benchmark_parser = commands.add_parser(
            "benchmark", help=benchmark_help, description=benchmark.__doc__.split("\n\n")[0]
        )
        benchmark.add_arguments(benchmark_parser)
        benchmark_parser.set_defaults(handler=lambda args, rest: benchmark.run_from_args(args))
    else:
        commands.add_parser("benchmark", add_help=False, help=benchmark_help)
    return parser


def add_evaluate_command(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="metrics, per-class report and confusion matrix of a saved model on one split",
        epilog="Data options are those of `train` (--protocol, --remove, --train_file, --text_column, ...); "
        "by default the ones the model was trained with, read from MODEL_DIR/data_args.json.",
    )
    evaluate.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        nargs="+",
        help="a folder written by `train` (or a Hub repo); several: an ensemble (their probabilities averaged), "
        "which needs --output_dir and reads data_args.json from the first",
    )
    evaluate.add_argument("--weights", help=WEIGHTS_HELP)
    evaluate.add_argument("--split", choices=("train", "validation", "test"), default="test")
    evaluate.add_argument("--output_dir", help="where the report and the plot go (default: MODEL_DIR)")
    evaluate.add_argument("--batch_size", type=int, default=128)
    evaluate.set_defaults(handler=run_evaluate)


def add_predict_command(commands) -> None:
    predict_parser = commands.add_parser(
        "predict",
        help="label and score of each text, from arguments, --file (one text a line) or stdin",
        usage="%(prog)s [options] MODEL_DIR [MODEL_DIR ...] [TEXT ...]",
    )
    predict_parser.add_argument("model_dir", metavar="MODEL_DIR", help=MODEL_DIRS_HELP)
    predict_parser.add_argument("texts", metavar="TEXT", nargs="*", help="texts to classify")
    predict_parser.add_argument("--weights", help=WEIGHTS_HELP)
    predict_parser.add_argument("--file", help="read texts from this file, one a line ('-': stdin)")
    predict_parser.add_argument("--json", action="store_true", help="print one JSON object a line")
    predict_parser.add_argument("--batch_size", type=int, default=64)
    predict_parser.add_argument(
        "--device",
        default="auto",
        help="where the model runs: auto (default: the accelerator evaluate's Trainer would use, e.g. cuda, else cpu), "
        "or cpu, cuda, cuda:1, mps, ...; a folder written by `export` runs on the CPU (ONNX Runtime)",
    )
    predict_parser.set_defaults(handler=run_predict)


def add_export_command(commands) -> None:
    export_parser = commands.add_parser(
        "export",
        help="write MODEL_DIR as an ONNX model with its tokenizer: a folder that predicts with ONNX Runtime, without torch",
    )
    export_parser.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by `train` (or a Hub repo)")
    export_parser.add_argument("--output_dir", required=True, help="a new or empty folder")
    export_parser.add_argument("--quantize", choices=("int8",), help="ONNX Runtime's dynamic int8 quantization")
    export_parser.add_argument("--opset", type=int, help="ONNX opset, 14 to 20 (default 17)")
    export_parser.set_defaults(handler=run_export)


MODEL_DIRS_HELP = (
    "a folder written by `train` (or a Hub repo). Further arguments that are folders holding a config.json are more "
    "model folders, up to the first one that is not: from there on, every argument is a text. Several folders "
    "predict as one (an ensemble): each tokenizes with its own tokenizer, and their probabilities are averaged"
)
WEIGHTS_HELP = "with several MODEL_DIRs: one weight per folder, comma-separated (e.g. 1,2,1); default: all alike"


def split_model_dirs(arguments: list[str]) -> tuple[list[str], list[str]]:
    """(model folders, texts) from `predict`'s positional arguments: the first is always a model; those after
    it are more models while they are folders holding a config.json (a text can hardly be one), then texts."""
    model_dirs = arguments[:1]
    for argument in arguments[1:]:
        if not Path(argument, "config.json").is_file():
            break
        model_dirs.append(argument)
    return model_dirs, arguments[len(model_dirs) :]


def run_train(argv: list[str]) -> int:
    from . import training

    if "--list_recipes" in argv:
        print(training.recipes.describe_recipes())
        return 0
    model_args, data_args, training_args = training.parse_args(argv, prog=f"{PROG} train")
    summary = training.train(model_args, data_args, training_args)
    if training_args.process_index == 0:  # under accelerate launch / torchrun every process gets here
        shown = ("architecture", "output_dir", "embeddings", "validation", "test")
        print(json.dumps({key: summary[key] for key in shown}))
    return 0


def run_pretrain(argv: list[str]) -> int:
    from . import training

    if "--list_recipes" in argv:
        print(training.recipes.describe_recipes("*-mlm"))
        return 0
    arguments = training.parse_pretraining_args(argv, prog=f"{PROG} pretrain")
    summary = training.pretrain(*arguments)
    if arguments[-1].process_index == 0:  # under accelerate launch / torchrun every process gets here
        print(json.dumps({key: summary[key] for key in ("architecture", "output_dir", "train_runtime", "validation")}))
    return 0


def run_distill(argv: list[str]) -> int:
    from .training import distillation

    arguments = distillation.parse_distillation_args(argv, prog=f"{PROG} distill")
    summary = distillation.distill(*arguments)
    if arguments[2].process_index == 0:  # under accelerate launch / torchrun every process gets here
        shown = ("architecture", "output_dir", "distillation", "validation", "test")
        print(json.dumps({key: summary[key] for key in shown}))
    return 0


def run_evaluate(args, data_argv: list[str]) -> int:
    from . import training

    data_args = evaluation_data_args(args.model_dir[0], data_argv)
    if len(args.model_dir) == 1 and args.weights is None:
        metrics = training.evaluate_folder(args.model_dir[0], data_args, args.split, args.output_dir, args.batch_size)
    else:
        weights = ensemble.check_weights(ensemble.parse_weights(args.weights), len(args.model_dir))
        metrics = training.evaluate_ensemble(args.model_dir, data_args, args.split, args.output_dir, args.batch_size, weights)
    print(json.dumps(metrics))
    return 0


def evaluation_data_args(model_dir: str, argv: list[str]):
    """The data the model was trained on (MODEL_DIR/data_args.json), changed by any options given."""
    from . import training

    saved = Path(model_dir, "data_args.json")
    defaults = saved if saved.is_file() else None
    (data_args,) = training.parse_arguments((training.DataArguments,), argv, f"{PROG} evaluate", defaults)
    return data_args


def run_predict(args, extra: list[str]) -> int:
    prediction.resolve_device(args.device)  # a bad --device is named before texts are read from stdin
    model_dirs, texts = split_model_dirs([args.model_dir, *args.texts])
    several = len(model_dirs) > 1 or args.weights is not None
    if several:
        weights = ensemble.check_weights(ensemble.parse_weights(args.weights), len(model_dirs))
    if args.file is not None:
        texts += read_lines(args.file)
    elif not texts:
        texts = read_lines("-")
    if not several:
        results = prediction.predict(model_dirs[0], texts, batch_size=args.batch_size, device=args.device)
    else:
        results = ensemble.predict_ensemble(model_dirs, texts, weights, batch_size=args.batch_size, device=args.device)
    for result in results:
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"{result['label']}\t{result['score']:.4f}\t{result['text']}")
    return 0


def run_export(args, extra: list[str]) -> int:
    try:
        from .serving.export import export  # onnx and onnxruntime are an optional extra
    except ImportError as error:
        raise UsageError(f"export needs `pip install hf_seqmodels[onnx]` ({error})") from None

    output = export(args.model_dir, args.output_dir, quantize=args.quantize, opset=args.opset)
    print(json.dumps({"output_dir": str(output), "quantize": args.quantize}))
    return 0


def read_lines(path: str) -> list[str]:
    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    try:
        check_utf8(path)  # refused with the line and byte named, as training data files are
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        raise UsageError(f"--file {path!r}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--file {path!r}: is a folder, not a file of texts") from None
    except ValueError as error:
        raise UsageError(f"--file: {error}") from None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("hf_seqmodels").setLevel(logging.INFO)
    command = argv[0] if argv else None
    parser = build_parser(benchmark_options=command == "benchmark")
    try:
        if command == "train":
            # HfArgumentParser owns every argument of `train` (a leading CONFIG.json, hundreds of
            # TrainingArguments); an argparse subparser would not pass them through untouched.
            return run_train(argv[1:])
        if command == "pretrain":
            return run_pretrain(argv[1:])
        if command == "distill":
            return run_distill(argv[1:])
        if command == "compare":
            # Options compare does not know go to every training run, so HfArgumentParser parses them too.
            from . import compare

            return compare.main(argv[1:], prog=f"{PROG} compare")
        args, rest = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if rest and args.command != "evaluate":
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.handler(args, rest)
    except UsageError as error:
        # Some of transformers' own messages span lines; the error stays one line all the same.
        print(f"{PROG} {command}: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
