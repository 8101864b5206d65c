"""What a run leaves beside the weights: the summary, per-example test predictions, a per-class report and
a confusion matrix per scored split, and the data arguments `hf-seqmodels evaluate` reuses."""

import csv
import dataclasses
import json
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
) -> dict:
    """`architecture`, `output_dir`, `num_parameters`, `epochs`, `global_step`, `resumed_from_step`,
    `best_checkpoint`, `train_runtime`, `train_samples_per_second`, `inference_samples_per_second`,
    `validation` and `test` (`loss` / `accuracy` / `macro_f1`), `history` (`epoch_history`), and
    `embeddings` (`building.apply_word_vectors`' record of the word-vector file, None without one)."""
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
    }


def split_metrics(metrics: dict, prefix: str) -> dict:
    """`{"loss", "accuracy", "macro_f1"}` out of Trainer's `{prefix}_loss`, ... metrics."""
    return {name: metrics[f"{prefix}_{name}"] for name in ("loss", "accuracy", "macro_f1")}


def epoch_history(log_history: list[dict]) -> list[dict]:
    """One entry per evaluation during training (not the ones after it), with the training loss logged at the
    same step."""
    train_loss = {entry["step"]: entry["loss"] for entry in log_history if "loss" in entry}
    return [
        {
            "epoch": entry["epoch"],
            "step": entry["step"],
            "elapsed_seconds": entry.get("elapsed_seconds"),
            "train_loss": train_loss.get(entry["step"]),
            "eval_loss": entry["eval_loss"],
            "eval_accuracy": entry["eval_accuracy"],
            "eval_macro_f1": entry["eval_macro_f1"],
        }
        for entry in log_history
        if "eval_macro_f1" in entry
    ]


def write_run_outputs(output_dir: Path, test, label_names, data_args, summary: dict) -> None:
    """Test predictions and report, the data arguments and the summary, into the output folder."""
    write_predictions(output_dir / "test_predictions.csv", test.predictions, test.label_ids, label_names)
    write_evaluation(output_dir, "test", test.predictions, test.label_ids, label_names)
    (output_dir / "data_args.json").write_text(json.dumps(dataclasses.asdict(data_args), indent=2) + "\n")
    (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def write_predictions(path: Path, logits, label_ids, label_names) -> None:
    """One row per example, in the split's order: true label, predicted label, its probability."""
    probabilities = torch.from_numpy(np.asarray(logits)).float().softmax(dim=-1).numpy()
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
