"""`hf-seqmodels compare`: RNN, LSTM, GRU and Transformer trained side by side on one 20 Newsgroups split,
next to the classic TF-IDF baselines, with a report, the figures as JSON, and plots.

Every model trains with its ready config (`hf_seqmodels/configs/<architecture>.json`) through the same
`training.train` as `hf-seqmodels train`, on the same split, tokenizer settings and stopping rule; the
baselines (TF-IDF + LinearSVC, TF-IDF + ComplementNB) are fitted on the same training split.
"""

import csv
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from transformers import EvalPrediction, HfArgumentParser
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from . import ensemble, machine, training
from .metrics import compute_metrics, plot_confusion_matrix
from .models import ARCHITECTURES
from .utils import comma_list

# The original notebook's protocol removed headers, footers and quotes; the standard bydate one keeps them.
DEFAULT_REMOVE = {"bydate": "", "seed": "headers,footers,quotes"}
# A smoke check: a small stratified slice, one short epoch, a small vocabulary.
QUICK_ARGS = [
    "--max_train_samples", "1200", "--max_eval_samples", "300", "--max_test_samples", "600",
    "--num_train_epochs", "1", "--max_length", "128", "--vocab_size", "8000", "--early_stopping_patience", "0",
]  # fmt: skip


@dataclass
class CompareArguments:
    protocol: str = field(
        default="bydate",
        metadata={"help": "bydate (standard train/test, headers kept) or seed (the original notebook's: all posts, random 60/20/20)."},
    )
    models: str = field(default="rnn,lstm,gru,transformer", metadata={"help": "Architectures to train, comma-separated."})
    remove: str | None = field(
        default=None,
        metadata={"help": "Parts of the posts to strip (headers,footers,quotes); default: none for bydate, all three for seed."},
    )
    output_dir: str | None = field(default=None, metadata={"help": "Where to write; default: outputs/compare-<protocol>."})
    quick: bool = field(default=False, metadata={"help": "Smoke check: a small slice and one epoch (about two minutes)."})
    data_home: str | None = field(default=None, metadata={"help": "scikit-learn data folder (default: $SCIKIT_LEARN_DATA)."})
    seed: int = field(default=42, metadata={"help": "Seed of the split, the slices and the training runs."})
    num_processes: int = field(
        default=1,
        metadata={"help": "Train each model across this many processes (GPUs, or CPU processes) via accelerate launch."},
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "Keep each model's checkpoint-* folders (optimizer state; ~300 MB per model at the ready configs)."},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue an interrupted comparison in the same --output_dir with the same options: finished models "
            "are read back, an interrupted one resumes from its newest complete checkpoint, the rest train from the start."
        },
    )

    def __post_init__(self):
        if self.protocol not in DEFAULT_REMOVE:
            raise training.UsageError(f"--protocol must be one of {', '.join(DEFAULT_REMOVE)}, got {self.protocol!r}")
        unknown = [name for name in self.model_names if name not in ARCHITECTURES]
        if unknown or not self.model_names:
            raise training.UsageError(
                f"--models {self.models!r}: unknown {', '.join(unknown) or 'empty list'}; valid: {', '.join(ARCHITECTURES)}"
            )
        if self.num_processes < 1:
            raise training.UsageError(f"--num_processes must be ≥ 1, got {self.num_processes}")
        if self.remove is None:
            self.remove = DEFAULT_REMOVE[self.protocol]
        if self.output_dir is None:
            self.output_dir = f"outputs/compare-{self.protocol}" + ("-quick" if self.quick else "")

    @property
    def model_names(self) -> list[str]:
        return comma_list(self.models)


def parse_args(argv: list[str] | None = None, prog: str | None = None):
    """Compare's own options; anything else (e.g. `--num_train_epochs 2`) goes to every training run."""
    parser = HfArgumentParser(CompareArguments, prog=prog)
    compare_args, extra = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    return compare_args, extra


def config_path(architecture: str) -> Path:
    return Path(str(resources.files("hf_seqmodels") / "configs" / f"{architecture}.json"))


def training_argv(args: CompareArguments, architecture: str, extra: list[str]) -> list[str]:
    argv = [
        str(config_path(architecture)),
        "--output_dir", str(Path(args.output_dir) / architecture),
        "--protocol", args.protocol, "--remove", args.remove,
        "--seed", str(args.seed), "--split_seed", str(args.seed),
    ]  # fmt: skip
    if args.data_home:
        argv += ["--data_home", args.data_home]
    return argv + (QUICK_ARGS if args.quick else []) + list(extra)


def compare(args: CompareArguments, extra: list[str] = ()) -> dict:
    """Train the chosen architectures and the baselines on one split; write report.md, results.json, plots."""
    started = time.perf_counter()
    if any(option.split("=")[0] == "--resume_from_checkpoint" for option in extra):
        raise training.UsageError(
            "--resume_from_checkpoint names one model's checkpoint; to continue an interrupted comparison, "
            "run it again with the same options and --resume"
        )
    # Every model's plan (and, with --resume, every check of what its folder holds) before anything is written.
    plans = {architecture: plan_model(args, architecture, extra) for architecture in args.model_names}
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # Baselines first: seconds, and they tell at once what the split is worth.
    _, data_args, _ = training.parse_args(training_argv(args, args.model_names[0], extra))
    splits = training.load_data(data_args)
    label_names = splits["train"].features["label"].names
    rows = [run_baseline(name, splits) for name in BASELINES]

    # The models, one after the other, each on the whole machine.
    for architecture, plan in plans.items():
        model_args, data_args, training_args = plan.arguments
        if plan.finished is not None:
            summary = plan.finished
        else:
            model_dir = Path(training_args.output_dir)
            model_dir.mkdir(parents=True, exist_ok=True)
            (model_dir / RUN_RECORD).write_text(json.dumps({"training_argv": plan.settings_argv}, indent=2) + "\n")
            if args.num_processes > 1:
                summary = launch_training(plan.argv, args.num_processes, training_args.output_dir)
            else:
                summary = training.train(model_args, data_args, training_args)
        rows.append(model_row(architecture, summary, model_args, training_args, read_back=plan.finished is not None))
        if not args.keep_checkpoints:
            remove_checkpoints(Path(training_args.output_dir))

    # Ensembles of the models just trained (or read back), scored by running their saved folders.
    rows += ensemble.compare_rows([row for row in rows if row["kind"] == "model"], splits, output_dir)

    results = {
        "protocol": args.protocol,
        "remove": args.remove,
        "quick": args.quick,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "split_sizes": {split: len(splits[split]) for split in splits},
        "total_seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
        "settings": {
            "compare": asdict(args),
            "extra_training_arguments": list(extra),
            "baselines": baseline_descriptions(),
            "models": {row["name"]: row["settings"] for row in rows if row["kind"] == "model"},
            "ensemble_member": {ensemble.TFIDF_MEMBER: ensemble.TFIDF_MEMBER_SETTINGS},
        },
    }
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_plots(results, output_dir, label_names)
    (output_dir / "report.md").write_text(render_report(results))
    return results


# Written into each model's folder before it trains: what --resume checks a folder against.
RUN_RECORD = "compare_run.json"


@dataclass
class ModelPlan:
    argv: list[str]  # what `hf-seqmodels train` gets
    settings_argv: list[str]  # the same without the folder and the resume option: what the model's folder records
    arguments: tuple  # `argv` parsed: (model_args, data_args, training_args)
    finished: dict | None = None  # the training summary of a finished run, read back with --resume


def plan_model(args: CompareArguments, architecture: str, extra: list[str]) -> ModelPlan:
    """How one model's run goes: trained from the start, or with --resume read back or resumed.

    With --resume a folder is only trusted when it records the very training options this comparison
    passes: read back under other settings, its figures would sit in a table they were not made for.
    """
    argv = training_argv(args, architecture, extra)
    arguments = training.parse_args(argv)  # bad options are named here, before any model trains
    model_dir = Path(arguments[2].output_dir)
    # The folder itself is not a setting: a comparison moved elsewhere still resumes.
    settings = [value for i, value in enumerate(argv) if "--output_dir" not in argv[max(i - 1, 0) : i + 1]]
    if not args.resume or not model_dir.is_dir() or not any(model_dir.iterdir()):
        return ModelPlan(argv, settings, arguments)
    try:
        recorded = json.loads((model_dir / RUN_RECORD).read_text(encoding="utf-8"))["training_argv"]
    except (OSError, ValueError, KeyError, TypeError):
        raise training.UsageError(
            f"--resume: {str(model_dir)!r} does not record the options that trained it ({RUN_RECORD} is missing or "
            "unreadable); move the folder away, or give another --output_dir"
        ) from None
    if recorded != settings:
        same = next((i for i, (a, b) in enumerate(zip(recorded, settings)) if a != b), min(len(recorded), len(settings)))
        raise training.UsageError(
            f"--resume: {str(model_dir)!r} was trained with other options than this comparison's: "
            f"{' '.join(recorded[same:]) or '(nothing)'} there, {' '.join(settings[same:]) or '(nothing)'} now. "
            "Run with the options it records, or give another --output_dir"
        )
    try:
        finished = json.loads((model_dir / "training_summary.json").read_text(encoding="utf-8"))
        return ModelPlan(argv, settings, arguments, finished=finished)
    except (OSError, ValueError):  # not finished (or killed while writing its summary): its checkpoints remain
        pass
    if any(model_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")):
        argv = argv + ["--resume_from_checkpoint", "last"]
        return ModelPlan(argv, settings, training.parse_args(argv))
    return ModelPlan(argv, settings, arguments)


def remove_checkpoints(model_dir: Path) -> None:
    """Delete a finished run's checkpoint-* folders: the best model is saved at the top of `model_dir`, and
    the checkpoints (two per model, mostly AdamW state) would only serve to resume a run that has ended."""
    for checkpoint in model_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        if checkpoint.is_dir():
            shutil.rmtree(checkpoint)


def launch_training(argv: list[str], num_processes: int, output_dir: str) -> dict:
    """`hf-seqmodels train ARGV` across `num_processes` processes (DDP), as `accelerate launch` runs it.

    --multi_gpu is the launcher that starts local processes; without a GPU they train on the CPU over
    gloo. Port 0: a free one, so two comparisons on one machine do not collide.
    """
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--main_process_port", "0", "-m", "hf_seqmodels.cli", "train", *argv,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return json.loads((Path(output_dir) / "training_summary.json").read_text())


# --------------------------------------------------------------------------- baselines

BASELINES = {
    # The vectorizer settings of the reference figures in the data set's README.
    "TF-IDF + LinearSVC": lambda: make_pipeline(
        TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=2), LinearSVC(C=1.0)
    ),
    "TF-IDF + ComplementNB": lambda: make_pipeline(
        TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=2), ComplementNB(alpha=0.1)
    ),
}


def baseline_descriptions() -> dict[str, str]:
    """Each baseline's scikit-learn pipeline as scikit-learn prints it (every step, settings that differ
    from its defaults), on one line: what results.json records of how the baselines were made."""
    return {name: " ".join(repr(build()).split()) for name, build in BASELINES.items()}


def run_baseline(name: str, splits) -> dict:
    pipeline = BASELINES[name]()
    train, test = splits["train"], splits["test"]
    started = time.perf_counter()
    pipeline.fit(train["text"], train["label"])
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predictions = pipeline.predict(test["text"])
    predict_seconds = time.perf_counter() - started
    # One-hot "logits", so the baselines are scored by the very code that scores the models.
    one_hot = np.eye(len(train.features["label"].names))[predictions]
    scores = compute_metrics(EvalPrediction(predictions=one_hot, label_ids=np.asarray(test["label"])))
    classifier = pipeline[-1]
    parameters = classifier.coef_.size + np.size(classifier.intercept_) if hasattr(classifier, "coef_") else classifier.feature_log_prob_.size
    return {
        "name": name,
        "kind": "baseline",
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "num_parameters": int(parameters),
        "train_seconds": round(train_seconds, 2),
        "train_samples_per_second": round(len(train) / train_seconds, 1),
        "inference_samples_per_second": round(len(test) / predict_seconds, 1),
        "epochs": None,
        "history": [],
    }


# The training settings worth recording next to the figures (TrainingArguments has ~150).
RECORDED_TRAINING_ARGUMENTS = (
    "learning_rate", "weight_decay", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "lr_scheduler_type", "warmup_steps", "max_grad_norm", "early_stopping_patience", "metric_for_best_model",
    "train_sampling_strategy", "seed",
)  # fmt: skip


def model_row(architecture: str, summary: dict, model_args, training_args, read_back: bool = False) -> dict:
    output_dir = Path(summary["output_dir"])
    config = json.loads((output_dir / "config.json").read_text())
    recorded = {name: getattr(training_args, name) for name in RECORDED_TRAINING_ARGUMENTS}
    return {
        "name": ARCHITECTURES[architecture].title,
        "kind": "model",
        "architecture": architecture,
        "test_accuracy": summary["test"]["accuracy"],
        "test_macro_f1": summary["test"]["macro_f1"],
        "validation_accuracy": summary["validation"]["accuracy"],
        "num_parameters": summary["num_parameters"],
        "train_seconds": round(summary["train_runtime"], 1),
        "train_samples_per_second": round(summary["train_samples_per_second"], 1),
        "inference_samples_per_second": round(summary["inference_samples_per_second"], 1),
        "epochs": summary["epochs"],
        "resumed_from_step": summary["resumed_from_step"],
        "read_back": read_back,  # with --resume, from a finished run's folder
        "history": summary["history"],
        "output_dir": str(output_dir),
        "settings": {
            "config": {key: config[key] for key in sorted(config) if key not in ("id2label", "label2id")},
            "model_arguments": asdict(model_args),
            "training_arguments": json.loads(json.dumps(recorded, default=str)),
        },
    }


# --------------------------------------------------------------------------- plots


def write_plots(results: dict, output_dir: Path, label_names: list[str]) -> None:
    models = [row for row in results["rows"] if row["kind"] == "model"]

    figure = Figure(figsize=(12, 4.5), layout="constrained")
    by_epoch, by_time = figure.subplots(1, 2, sharey=True)
    for row in models:
        epochs = [entry["epoch"] for entry in row["history"]]
        seconds = [entry["elapsed_seconds"] for entry in row["history"]]
        accuracy = [entry["eval_accuracy"] for entry in row["history"]]
        by_epoch.plot(epochs, accuracy, marker="o", label=row["name"])
        by_time.plot(seconds, accuracy, marker="o", label=row["name"])
    for row in results["rows"]:
        if row["kind"] == "baseline":
            by_epoch.axhline(row["test_accuracy"], linestyle=":", color="gray")
            by_time.axhline(row["test_accuracy"], linestyle=":", color="gray")
            by_time.annotate(f"{row['name']} (test)", (0, row["test_accuracy"]), fontsize=8, color="gray",
                             xycoords=("axes fraction", "data"), xytext=(4, 2), textcoords="offset points")
    by_epoch.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    by_time.set(xlabel="training time (s)", title="… per second of training")
    by_epoch.legend()
    for axes in (by_epoch, by_time):
        axes.grid(alpha=0.3)
    figure.savefig(output_dir / "validation_accuracy.png", dpi=120)

    figure = Figure(figsize=(7, 5), layout="constrained")
    axes = figure.subplots()
    for row in results["rows"]:
        marker = {"baseline": "s", "ensemble": "D"}.get(row["kind"], "o")
        axes.scatter(row["train_seconds"], row["test_accuracy"], marker=marker, s=60)
        label = row.get("short_name", row["name"])  # an ensemble's full name lists every member
        axes.annotate(label, (row["train_seconds"], row["test_accuracy"]), xytext=(5, 3), textcoords="offset points")
    axes.set_xscale("log")
    axes.set(xlabel="training time (s, log scale)", ylabel="test accuracy", title="Accuracy against training time")
    axes.grid(alpha=0.3)
    figure.savefig(output_dir / "accuracy_vs_training_time.png", dpi=120)

    if models:
        best = max(models, key=lambda row: row["test_accuracy"])
        predictions = Path(best["output_dir"]) / "test_predictions.csv"
        labels, predicted = _read_predictions(predictions, label_names)
        plot_confusion_matrix(labels, predicted, label_names, output_dir / "confusion_matrix_best.png")


def _read_predictions(path: Path, label_names: list[str]):
    index = {name: i for i, name in enumerate(label_names)}
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [index[row["label"]] for row in rows], [index[row["prediction"]] for row in rows]


# --------------------------------------------------------------------------- report


def render_report(results: dict) -> str:
    rows = results["rows"]
    protocol = {
        "bydate": "bydate (standard train/test split, validation carved from train)",
        "seed": "seed (all 18,846 posts, random stratified 60/20/20)",
    }[results["protocol"]]
    lines = [
        f"# Four sequence models on 20 Newsgroups — {results['protocol']}{' (quick)' if results['quick'] else ''}",
        "",
        f"Protocol: {protocol}; removed: {results['remove'] or 'nothing'}. "
        f"Splits: {', '.join(f'{k} {v:,}' for k, v in results['split_sizes'].items())}. "
        f"Run {results['date']} on {results['machine']['processor']} ({results['machine']['cpu_cores']} cores, "
        f"torch {results['machine']['torch']}); {results['total_seconds']:.0f} s in all.",
        "",
        "| model | test accuracy | test macro-F1 | parameters | training time (s) | training (samples/s) | inference (samples/s) | epochs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda row: -row["test_accuracy"]):
        epochs = "–" if row["epochs"] is None else f"{row['epochs']:g}"
        lines.append(
            f"| {row['name']} | {row['test_accuracy']:.4f} | {row['test_macro_f1']:.4f} | {row['num_parameters']:,} "
            f"| {row['train_seconds']:.1f} | {row['train_samples_per_second']:.1f} "
            f"| {row['inference_samples_per_second']:.1f} | {epochs} |"
        )
    lines += run_notes(rows)
    lines += ensemble.report_notes(rows)
    lines += ["", "## What the numbers say", "", *summary_sentences(rows), *ensemble.summary_sentences(rows), ""]
    lines += [
        "## Files",
        "",
        "- `results.json`: every figure above, the per-epoch validation history and the full settings.",
        "- `validation_accuracy.png`: validation accuracy per epoch and per second of training.",
        "- `accuracy_vs_training_time.png`: test accuracy against training time, baselines included.",
        "- `confusion_matrix_best.png`: the test confusion matrix of the most accurate model.",
        "- `<architecture>/`: each trained model (loads with `AutoModelForSequenceClassification`), with its card.",
        "",
    ]
    return "\n".join(lines)


def run_notes(rows: list[dict]) -> list[str]:
    """Which rows --resume carried over: their times are not this run's alone."""
    read_back = [row["name"] for row in rows if row.get("read_back")]
    resumed = [f"{row['name']} (from step {row['resumed_from_step']})" for row in rows if row.get("resumed_from_step")]
    notes = []
    if read_back:
        notes.append(f"Read back from an earlier run of this comparison (--resume): {', '.join(read_back)}.")
    if resumed:
        notes.append(f"Resumed from a checkpoint: {', '.join(resumed)}; their training time counts the resumed part only.")
    return ["", *notes] if notes else []


def summary_sentences(rows: list[dict]) -> list[str]:
    models = [row for row in rows if row["kind"] == "model"]
    baselines = [row for row in rows if row["kind"] == "baseline"]
    if not models:
        return []
    best = max(models, key=lambda row: row["test_accuracy"])
    best_baseline = max(baselines, key=lambda row: row["test_accuracy"])
    margin = best["test_accuracy"] - best_baseline["test_accuracy"]
    sentences = [
        f"- The most accurate model is the {best['name']} at {best['test_accuracy']:.4f} test accuracy, "
        f"{abs(margin) * 100:.1f} points {'above' if margin >= 0 else 'below'} the best baseline "
        f"({best_baseline['name']}, {best_baseline['test_accuracy']:.4f})."
    ]
    above = [row["name"] for row in models if row["test_accuracy"] > best_baseline["test_accuracy"]]
    sentences.append(
        f"- {len(above)} of {len(models)} models beat every baseline"
        + (f" ({', '.join(above)})." if above else ".")
    )
    worst = min(models, key=lambda row: row["test_accuracy"])
    if worst is not best:
        sentences.append(
            f"- The weakest is the {worst['name']} ({worst['test_accuracy']:.4f}), "
            f"{(best['test_accuracy'] - worst['test_accuracy']) * 100:.1f} points behind."
        )
    # Speed only from whole runs: a resumed run's time counts the part after its checkpoint.
    timed = [row for row in models if not row.get("resumed_from_step")]
    if timed:
        fastest = max(timed, key=lambda row: row["train_samples_per_second"])
        slowest_baseline = max(row["train_seconds"] for row in baselines)
        sentences.append(
            f"- The {fastest['name']} trains fastest ({fastest['train_samples_per_second']:.0f} samples/s, "
            f"{fastest['train_seconds']:.0f} s in all); the baselines fit in {slowest_baseline:.1f} s or less, "
            f"so the neural models buy their accuracy with {min(row['train_seconds'] for row in timed) / slowest_baseline:.0f}× "
            "or more training time."
        )
    return sentences


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args, extra = parse_args(argv, prog=prog)
    results = compare(args, extra)
    print((Path(args.output_dir) / "report.md").read_text())
    return 0 if results["rows"] else 1
