"""Each model of a comparison: its plan (fresh, resumed or read back), its training, and its row."""

import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .. import training
from ..errors import UsageError
from ..models import ARCHITECTURES
from ..training.outputs import read_summary
from .arguments import VARIANT_TITLES, CompareArguments, training_argv

# Written into each model's folder before it trains: what --resume checks a folder against.
RUN_RECORD = "compare_run.json"


@dataclass
class ModelPlan:
    argv: list[str]  # what `hf-seqmodels train` gets
    settings_argv: list[str]  # the same without the folder and the resume option: what the model's folder records
    arguments: tuple  # `argv` parsed: (model_args, data_args, training_args)
    finished: dict | None = None  # the training summary of a finished run, read back with --resume


def plan_model(
    args: CompareArguments, architecture: str, extra: list[str], variant: str = "scratch", pretrained: Path | None = None
) -> ModelPlan:
    """How one model's run goes (`plan_run` of its `hf-seqmodels train` command line)."""
    return plan_run(training_argv(args, architecture, extra, variant, pretrained), training.parse_args, args.resume)


def plan_run(argv: list[str], parse, resume: bool) -> ModelPlan:
    """How one run of a comparison (a model's training, a student's distillation) goes: from the start, or with
    --resume read back or resumed. `parse` reads `argv` (bad options are named there, before anything trains)
    into argument dataclasses, the training arguments third.

    With --resume a folder is only trusted when it records the very options this comparison passes: read back
    under other settings, its figures would sit in a table they were not made for.
    """
    arguments = parse(argv)
    model_dir = Path(arguments[2].output_dir)
    # The folder itself is not a setting: a comparison moved elsewhere still resumes.
    settings = [value for i, value in enumerate(argv) if "--output_dir" not in argv[max(i - 1, 0) : i + 1]]
    if not resume or not model_dir.is_dir() or not any(model_dir.iterdir()):
        return ModelPlan(argv, settings, arguments)
    check_recorded_settings(model_dir, settings)
    finished = read_summary(model_dir / "training_summary.json")  # None: not finished; its checkpoints remain
    if finished is not None:
        return ModelPlan(argv, settings, arguments, finished=finished)
    if any(model_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")):
        argv = argv + ["--resume_from_checkpoint", "last"]
        return ModelPlan(argv, settings, parse(argv))
    return ModelPlan(argv, settings, arguments)


def check_recorded_settings(model_dir: Path, settings: list[str]) -> None:
    """A `UsageError` unless `model_dir` records `settings` as the options that trained it (`RUN_RECORD`)."""
    try:
        recorded = json.loads((model_dir / RUN_RECORD).read_text(encoding="utf-8"))["training_argv"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"--resume: {str(model_dir)!r} does not record the options that trained it ({RUN_RECORD} is missing or "
            "unreadable); move the folder away, or give another --output_dir"
        ) from None
    if recorded != settings:
        same = next(
            (i for i, (a, b) in enumerate(zip(recorded, settings)) if a != b), min(len(recorded), len(settings))
        )
        raise UsageError(
            f"--resume: {str(model_dir)!r} was trained with other options than this comparison's: "
            f"{' '.join(recorded[same:]) or '(nothing)'} there, {' '.join(settings[same:]) or '(nothing)'} now. "
            "Run with the options it records, or give another --output_dir"
        )


def write_run_record(model_dir: Path, settings: list[str]) -> None:
    """What `check_recorded_settings` reads back, written into the folder before its run starts."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / RUN_RECORD).write_text(json.dumps({"training_argv": settings}, indent=2) + "\n")


def remove_checkpoints(model_dir: Path) -> None:
    """Delete a finished run's checkpoint-* folders: the best model is saved at the top of `model_dir`, and
    the checkpoints (two per model, mostly AdamW state) would only serve to resume a run that has ended."""
    for checkpoint in model_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        if checkpoint.is_dir():
            shutil.rmtree(checkpoint)


def launch_training(
    argv: list[str], num_processes: int, output_dir: str, command: str = "train", summary_name: str = "training_summary.json"
) -> dict:
    """`hf-seqmodels COMMAND ARGV` (train or pretrain) across `num_processes` processes (DDP), as `accelerate
    launch` runs it; the summary the job wrote.

    --multi_gpu is the launcher that starts local processes; without a GPU they train on the CPU over
    gloo. Port 0: a free one, so two comparisons on one machine do not collide.
    """
    launcher = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--main_process_port", "0", "-m", "hf_seqmodels.cli", command, *argv,
    ]  # fmt: skip
    subprocess.run(launcher, check=True)
    return json.loads((Path(output_dir) / summary_name).read_text())


# The training settings worth recording next to the figures (TrainingArguments has ~150).
RECORDED_TRAINING_ARGUMENTS = (
    "learning_rate", "weight_decay", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps",
    "lr_scheduler_type", "warmup_steps", "max_grad_norm", "early_stopping_patience", "metric_for_best_model",
    "train_sampling_strategy", "seed",
)  # fmt: skip


def model_row(
    architecture: str,
    summary: dict,
    model_args,
    training_args,
    read_back: bool = False,
    variant: str = "scratch",
    pretraining: dict | None = None,
) -> dict:
    """A model's row; fine-tuned from a pretrained folder, its time includes the pretraining's."""
    output_dir = Path(summary["output_dir"])
    config = json.loads((output_dir / "config.json").read_text())
    recorded = {name: getattr(training_args, name) for name in RECORDED_TRAINING_ARGUMENTS}
    pretrain_seconds = round(pretraining["train_runtime"], 1) if pretraining else 0.0
    return {
        "name": ARCHITECTURES[architecture].title + VARIANT_TITLES[variant],
        "kind": "model",
        "architecture": architecture,
        "variant": variant,
        "pretrain_seconds": pretrain_seconds,
        "pretraining": pretraining and {
            key: pretraining[key]
            for key in ("output_dir", "train_runtime", "epochs", "validation", "mlm_vocab_size", "reused", "history")
        },
        "embeddings": summary.get("embeddings"),
        "test_accuracy": summary["test"]["accuracy"],
        "test_macro_f1": summary["test"]["macro_f1"],
        "validation_accuracy": summary["validation"]["accuracy"],
        "num_parameters": summary["num_parameters"],
        "train_seconds": round(summary["train_runtime"] + pretrain_seconds, 1),
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
