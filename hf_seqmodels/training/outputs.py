"""What a run leaves beside the weights: the summary, per-example test predictions, a per-class report and
a confusion matrix per scored split, the data arguments `hf-seqmodels evaluate` reuses, and the saved
predictions of both scored splits.

`predictions_validation.npz` and `predictions_test.npz` (numpy `savez`, read with `allow_pickle=False`) hold the
arrays `probabilities` (examples x classes, float32: the softmax of the logits `trainer.predict` gave on that
split, in the split's order, columns in `id2label` order), `label_ids` (the split's labels) and `runtime_seconds`
(Trainer's `{prefix}_runtime` of that prediction). They are the saved folder's own predictions (the folder holds
the model `predict` ran), so an ensemble can average them without running the model again
(`read_saved_predictions`).
"""

import csv
import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..metrics import classification_report, plot_confusion_matrix
from .building import architecture_name


def training_summary(
    trainer,
    train_metrics: dict,
    history: list[dict],
    eval_metrics: dict,
    test_metrics: dict,
    resumed_from_step: int,
    embeddings: dict | None = None,
    start: dict | None = None,
    distillation: dict | None = None,
) -> dict:
    """`architecture`, `output_dir`, `num_parameters`, `epochs`, `global_step`, `resumed_from_step`,
    `best_checkpoint`, `train_runtime`, `train_samples_per_second`, `inference_samples_per_second`,
    `validation` and `test` (`loss` / `accuracy` / `macro_f1`), `history` (`epoch_history`),
    `embeddings` (`building.apply_word_vectors`' record of the word-vector file, None without one) and
    `start` (`building.describe_start`: the folder it was fine-tuned from, None from scratch) and `distillation`
    (`distillation.distill`'s record of the teachers and the transfer set, None for a model trained on labels alone)."""
    return {
        "architecture": architecture_name(trainer.model.config),
        "output_dir": trainer.args.output_dir,
        "num_parameters": trainer.model.num_parameters(),
        "epochs": trainer.state.epoch,
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_runtime": train_metrics["train_runtime"],
        "train_samples_per_second": train_metrics["train_samples_per_second"],
        "inference_samples_per_second": test_metrics["test_samples_per_second"],
        "validation": split_metrics(eval_metrics, "eval"),
        "test": split_metrics(test_metrics, "test"),
        "history": history,
        "embeddings": embeddings,
        "start": start,
        "distillation": distillation,
    }


def split_metrics(metrics: dict, prefix: str) -> dict:
    """`{"loss", "accuracy", "macro_f1"}` out of Trainer's `{prefix}_loss`, ... metrics."""
    return {name: metrics[f"{prefix}_{name}"] for name in ("loss", "accuracy", "macro_f1")}


# What a classifier's evaluations log; masked-LM pretraining logs the loss alone.
CLASSIFICATION_METRICS = ("eval_loss", "eval_accuracy", "eval_macro_f1")


def epoch_history(log_history: list[dict], metrics: tuple[str, ...] = CLASSIFICATION_METRICS) -> list[dict]:
    """One entry per evaluation during training (not the ones after it): epoch, step, seconds, the training loss
    logged at the same step, and `metrics`."""
    train_loss = {entry["step"]: entry["loss"] for entry in log_history if "loss" in entry}
    return [
        {
            "epoch": entry["epoch"],
            "step": entry["step"],
            "elapsed_seconds": entry.get("elapsed_seconds"),
            "train_loss": train_loss.get(entry["step"]),
        }
        | {metric: entry[metric] for metric in metrics}
        for entry in log_history
        if all(metric in entry for metric in metrics)
    ]


def write_run_outputs(output_dir: Path, validation, test, label_names, data_args, summary: dict) -> None:
    """Test predictions and report, both splits' saved predictions, the data arguments and the summary, into
    the output folder. `validation` and `test` are `trainer.predict` outputs (prefixes "eval" and "test")."""
    write_predictions(output_dir / "test_predictions.csv", test.predictions, test.label_ids, label_names)
    write_evaluation(output_dir, "test", test.predictions, test.label_ids, label_names)
    write_saved_predictions(output_dir, "validation", validation, validation.metrics["eval_runtime"])
    write_saved_predictions(output_dir, "test", test, test.metrics["test_runtime"])
    (output_dir / "data_args.json").write_text(json.dumps(dataclasses.asdict(data_args), indent=2) + "\n")
    write_summary(output_dir / "training_summary.json", summary)


def write_summary(path: Path, summary: dict) -> None:
    """A run's summary written whole or not at all (a temporary file renamed over it): a comparison reuses a
    folder that has one, and a run killed while writing must not leave half of one."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(staging, path)


def read_summary(path: Path) -> dict | None:
    """The summary at `path`, or None where there is none or it cannot be read (a run killed before it ended)."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def softmax_probabilities(logits) -> np.ndarray:
    """(examples, classes) float32 probabilities from logits, computed as `serving.prediction.class_probabilities` does."""
    return torch.from_numpy(np.asarray(logits)).float().softmax(dim=-1).numpy()


def saved_predictions_path(folder, split: str) -> Path:
    return Path(folder) / f"predictions_{split}.npz"


def write_saved_predictions(folder: Path, split: str, output, runtime_seconds: float) -> None:
    """`predictions_{split}.npz`: the split's probabilities, label ids and prediction time (module docstring)."""
    np.savez(
        saved_predictions_path(folder, split),
        probabilities=softmax_probabilities(output.predictions),
        label_ids=np.asarray(output.label_ids, dtype=np.int64),
        runtime_seconds=np.float64(runtime_seconds),
    )


def read_saved_predictions(folder, split: str, label_ids) -> tuple[np.ndarray, float] | None:
    """(probabilities, runtime seconds) saved in `folder` for `split`, or None where there are none that fit:
    no file (a folder from before they were saved), an unreadable one, or one whose rows or labels are not
    `label_ids` (the split the caller scores on)."""
    path = saved_predictions_path(folder, split)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            probabilities, saved_labels = saved["probabilities"], saved["label_ids"]
            runtime_seconds = float(saved["runtime_seconds"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    label_ids = np.asarray(label_ids)
    if probabilities.ndim != 2 or len(probabilities) != len(label_ids) or not np.array_equal(saved_labels, label_ids):
        return None
    return probabilities, runtime_seconds


def write_predictions(path: Path, logits, label_ids, label_names) -> None:
    """One row per example, in the split's order: true label, predicted label, its probability."""
    probabilities = softmax_probabilities(logits)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "prediction", "score"])
        for index, (label, row) in enumerate(zip(label_ids, probabilities)):
            predicted = int(row.argmax())
            writer.writerow([index, label_names[label], label_names[predicted], f"{row[predicted]:.6f}"])


def write_evaluation(folder: Path, split: str, logits, label_ids, label_names) -> dict:
    """`classification_report_{split}.json` (per class and averaged) and `confusion_matrix_{split}.png`."""
    predictions = np.asarray(logits).argmax(axis=-1)
    report = classification_report(label_ids, predictions, label_names)
    (folder / f"classification_report_{split}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_confusion_matrix(label_ids, predictions, label_names, folder / f"confusion_matrix_{split}.png")
    return report
