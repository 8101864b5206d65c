"""What a comparison writes besides results.json: report.md and the plots."""

import csv
import itertools
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..metrics import plot_confusion_matrix
from . import distillation, ensembles, transfer


def write_plots(results: dict, output_dir: Path, label_names: list[str]) -> None:
    validation_accuracy_figure(results["rows"]).savefig(output_dir / "validation_accuracy.png", dpi=120)
    accuracy_vs_training_time_figure(results["rows"]).savefig(output_dir / "accuracy_vs_training_time.png", dpi=120)
    models = [row for row in results["rows"] if row["kind"] == "model"]
    if models:
        best = max(models, key=lambda row: row["test_accuracy"])
        predictions = Path(best["output_dir"]) / "test_predictions.csv"
        labels, predicted = _read_predictions(predictions, label_names)
        plot_confusion_matrix(labels, predicted, label_names, output_dir / "confusion_matrix_best.png")


def validation_accuracy_figure(rows: list[dict]) -> Figure:
    """The models' validation accuracy per epoch and per second of training; the baselines' validation accuracy
    as reference lines (not their test accuracy: on bydate, test runs several points above validation)."""
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    by_epoch, by_time = figure.subplots(1, 2, sharey=True)
    for row in rows:
        if row["kind"] in ("model", distillation.DISTILLED):
            epochs = [entry["epoch"] for entry in row["history"]]
            # A pretrained start's curve begins where its pretraining ended.
            seconds = [entry["elapsed_seconds"] + row.get("pretrain_seconds", 0) for entry in row["history"]]
            accuracy = [entry["eval_accuracy"] for entry in row["history"]]
            by_epoch.plot(epochs, accuracy, marker="o", label=row["name"])
            by_time.plot(seconds, accuracy, marker="o", label=row["name"])
    # Gray reference lines, one line style per baseline, named in the legend (both panels draw the same lines).
    baselines = [row for row in rows if row["kind"] == "baseline"]
    for row, linestyle in zip(baselines, itertools.cycle([":", "--", "-."])):
        for axes in (by_epoch, by_time):
            axes.axhline(row["validation_accuracy"], linestyle=linestyle, color="gray", label=f"{row['name']} (validation)")
    by_epoch.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy per epoch")
    by_time.set(xlabel="training time (s, pretraining included)", title="… per second of training")
    by_epoch.legend(fontsize=8)
    for axes in (by_epoch, by_time):
        axes.grid(alpha=0.3)
    return figure


def accuracy_vs_training_time_figure(rows: list[dict]) -> Figure:
    """Test accuracy against training time (log scale), every row a labelled point."""
    figure = Figure(figsize=(7, 5), layout="constrained")
    axes = figure.subplots()
    for row in rows:
        marker = {"baseline": "s", "ensemble": "D", distillation.DISTILLED: "*"}.get(row["kind"], "o")
        axes.scatter(row["train_seconds"], row["test_accuracy"], marker=marker, s=60)
    axes.set_xscale("log")
    axes.margins(x=0.08, y=0.1)
    # Labels run right of their point, but left of it in the right half of the axes, where the longest time
    # (an ensemble's, the sum of its members') would carry its label past the figure's edge.
    low, high = np.log10(axes.get_xlim())
    for row in rows:
        label = row.get("short_name", row["name"])  # an ensemble's full name lists every member
        # (A row read back with no time of its own has none to place; log10 of 0 is not a position.)
        right_half = row["train_seconds"] > 0 and (np.log10(row["train_seconds"]) - low) / (high - low) > 0.5
        axes.annotate(
            label,
            (row["train_seconds"], row["test_accuracy"]),
            xytext=(-5 if right_half else 5, 3),
            textcoords="offset points",
            horizontalalignment="right" if right_half else "left",
        )
    axes.set(xlabel="training time (s, log scale)", ylabel="test accuracy", title="Accuracy against training time")
    axes.grid(alpha=0.3)
    return figure


def _read_predictions(path: Path, label_names: list[str]):
    index = {name: i for i, name in enumerate(label_names)}
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [index[row["label"]] for row in rows], [index[row["prediction"]] for row in rows]


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
        "| model | test accuracy | test macro-F1 | validation accuracy | parameters | training time (s) "
        "| training (samples/s) | inference (samples/s) | epochs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda row: -row["test_accuracy"]):
        epochs = "–" if row["epochs"] is None else f"{row['epochs']:g}"
        lines.append(
            f"| {row['name']} | {row['test_accuracy']:.4f} | {row['test_macro_f1']:.4f} "
            f"| {_optional(row.get('validation_accuracy'))} | {row['num_parameters']:,} "
            f"| {row['train_seconds']:.1f} | {row['train_samples_per_second']:.1f} "
            f"| {row['inference_samples_per_second']:.1f} | {epochs} |"
        )
    lines += transfer.labels_note(results)
    lines += run_notes(rows)
    lines += transfer.report_section(results)
    lines += ensembles.report_notes(rows)
    lines += distillation.report_notes(rows)
    lines += ["", "## What the numbers say", "", *summary_sentences(rows), *ensembles.summary_sentences(rows)]
    lines += [*distillation.summary_sentences(rows), ""]
    lines += [
        "## Files",
        "",
        "- `results.json`: every figure above, the per-epoch validation history and the full settings.",
        "- `validation_accuracy.png`: validation accuracy per epoch and per second of training; the baselines' "
        "validation accuracy as gray reference lines.",
        "- `accuracy_vs_training_time.png`: test accuracy against training time (pretraining included), baselines included.",
        "- `confusion_matrix_best.png`: the test confusion matrix of the most accurate model.",
        "- `<architecture>/`: each trained model (loads with `AutoModelForSequenceClassification`), with its card; "
        "`<architecture>-distilled/` a distilled one.",
        "",
    ]
    return "\n".join(lines)


def _optional(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def run_notes(rows: list[dict]) -> list[str]:
    """Which rows --resume carried over: their times are not this run's alone."""
    read_back = [row["name"] for row in rows if row.get("read_back")]
    resumed = [f"{row['name']} (from step {row['resumed_from_step']})" for row in rows if row.get("resumed_from_step")]
    notes = []
    if read_back:
        notes.append(f"Read back from an earlier run of this comparison (--resume): {', '.join(read_back)}.")
    if resumed:
        notes.append(
            f"Resumed from a checkpoint: {', '.join(resumed)}; their training time counts the resumed part only."
        )
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
        f"- {len(above)} of {len(models)} models beat every baseline" + (f" ({', '.join(above)})." if above else ".")
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
