"""Evaluation: ``compute_metrics`` for ``transformers.Trainer``, a per-class report, a confusion matrix.

``evaluate.load("accuracy")`` fetches the metric's script from the Hugging Face Hub, which fails
on a machine without internet. The two metrics we need are therefore defined here as ordinary
``evaluate.Metric`` subclasses computing, with scikit-learn, what the Hub's ``accuracy`` and
``f1`` scripts compute: instantiating a class needs no download, no copied script and no module
cache, and keeps evaluate's ``add_batch`` / ``compute`` API.
"""

import datasets
import evaluate
import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics as skm


class _ClassIdMetric(evaluate.Metric):
    """A metric over integer class ids; its description is the subclass's docstring."""

    def _info(self):
        return evaluate.MetricInfo(
            description=self.__doc__,
            citation="",
            inputs_description="predictions, references: sequences of integer class ids.",
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
        )


class Accuracy(_ClassIdMetric):
    """Accuracy: the fraction of predictions equal to the reference label."""

    def _compute(self, predictions, references):
        return {"accuracy": float(skm.accuracy_score(references, predictions))}


class F1(_ClassIdMetric):
    """F1 score; with ``average="macro"`` every class weighs the same, whatever its size. ``labels``: the
    classes averaged over (default: those among the predictions and references)."""

    def _compute(self, predictions, references, average="macro", labels=None):
        return {"f1": float(skm.f1_score(references, predictions, labels=labels, average=average, zero_division=0))}


def compute_metrics(eval_pred):
    """``Trainer(compute_metrics=...)``: logits and labels in, accuracy and macro-F1 out.

    Macro-F1 averages over every class of the model (a logit column each), as ``classification_report``'s
    macro average does: a class absent from the split and never predicted counts as F1 0, so the two agree.
    """
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):  # models that also return hidden states / attentions
        logits = logits[0]
    predictions = np.asarray(logits).argmax(axis=-1)
    # Trainer has already gathered the predictions of all processes, so the metrics can keep
    # them in memory instead of writing Arrow files under ~/.cache/huggingface/metrics.
    accuracy = Accuracy(keep_in_memory=True).compute(predictions=predictions, references=labels)
    classes = list(range(np.asarray(logits).shape[-1]))
    f1 = F1(keep_in_memory=True).compute(predictions=predictions, references=labels, average="macro", labels=classes)
    return {"accuracy": accuracy["accuracy"], "macro_f1": f1["f1"]}


def classification_report(labels, predictions, label_names) -> dict:
    """Per-class precision, recall, F1 and support, plus accuracy and macro/weighted averages."""
    return skm.classification_report(
        labels,
        predictions,
        labels=list(range(len(label_names))),  # every class listed, even one never predicted
        target_names=list(label_names),
        output_dict=True,
        zero_division=0,
    )


def plot_confusion_matrix(labels, predictions, label_names, path):
    """Write a row-normalised confusion matrix (each row: where that class's examples went) as PNG.

    Rows are normalised so that small and large classes read on the same 0..1 scale; the figure
    grows with the number of classes so that 20 newsgroup names stay legible.
    """
    n = len(label_names)
    size = max(6.0, 0.55 * n + 3)
    # A bare Figure renders with Agg and leaves pyplot's global backend and figure list alone,
    # so this is safe on servers, in Trainer callbacks and inside notebooks.
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    skm.ConfusionMatrixDisplay.from_predictions(
        labels,
        predictions,
        labels=list(range(n)),
        display_labels=list(label_names),
        normalize="true",
        values_format=".2f",
        cmap="Blues",
        colorbar=False,
        xticks_rotation=90,
        ax=ax,
        text_kw={"fontsize": 7 if n > 10 else 10},
    )
    ax.set_title("Confusion matrix (rows normalised to recall)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
