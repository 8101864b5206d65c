"""hf_seqmodels.metrics: the numbers Trainer reports, offline, and the evaluation artefacts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from transformers import EvalPrediction

from hf_seqmodels.metrics import classification_report, compute_metrics, plot_confusion_matrix

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"group.{i}" for i in range(20)]


def one_hot_logits(predictions, num_classes):
    logits = np.random.default_rng(0).normal(size=(len(predictions), num_classes)).astype(np.float32)
    logits[np.arange(len(predictions)), predictions] += 100.0  # argmax is the prediction
    return logits


@pytest.fixture
def noisy_predictions():
    """20 classes, ~70% right, and class 19 never predicted (its F1 is 0, not skipped)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 20, size=2000)
    predictions = np.where(rng.random(2000) < 0.7, labels, rng.integers(0, 20, size=2000))
    predictions[predictions == 19] = 0
    return labels, predictions


def test_known_values():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    result = compute_metrics(EvalPrediction(predictions=one_hot_logits(predictions, 3), label_ids=labels))
    # Per-class F1 by hand: class 0: P=1/2 R=1/2 -> 1/2; class 1: P=2/3 R=1 -> 4/5; class 2: P=1 R=1/2 -> 2/3.
    assert result == pytest.approx({"accuracy": 4 / 6, "macro_f1": (1 / 2 + 4 / 5 + 2 / 3) / 3})


def test_macro_f1_averages_over_every_class_in_compute_metrics_and_the_report():
    # Four classes; class 3 is neither in the split nor predicted. By hand: class 0: P=1 R=1/2 -> 2/3;
    # class 1: P=1/3 R=1 -> 1/2; class 2: never predicted -> 0; class 3: absent -> 0.
    labels = np.array([0, 0, 1, 2])
    predictions = np.array([0, 1, 1, 1])
    by_hand = (2 / 3 + 1 / 2 + 0 + 0) / 4
    result = compute_metrics(EvalPrediction(predictions=one_hot_logits(predictions, 4), label_ids=labels))
    report = classification_report(labels, predictions, ["a", "b", "c", "d"])
    assert result["macro_f1"] == pytest.approx(by_hand)
    assert report["macro avg"]["f1-score"] == pytest.approx(by_hand)
    # A perfect model on a split holding two of three classes: 2/3 in both, not 1.0 in one of them.
    labels = np.array([0, 0, 1, 1])
    result = compute_metrics(EvalPrediction(predictions=one_hot_logits(labels, 3), label_ids=labels))
    assert result == pytest.approx({"accuracy": 1.0, "macro_f1": 2 / 3})
    assert classification_report(labels, labels, ["a", "b", "c"])["macro avg"]["f1-score"] == pytest.approx(2 / 3)


def counted(labels, predictions, num_classes=20):
    """Per-class precision, recall, F1 and support counted from the confusion matrix (0 where undefined):
    an oracle independent of the scikit-learn calls the metrics make."""
    confusion = np.zeros((num_classes, num_classes))
    np.add.at(confusion, (labels, predictions), 1)
    true_positives, support, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(true_positives, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros(num_classes), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(num_classes), where=total > 0)
    return precision, recall, f1, support


def test_twenty_classes_count_every_class(noisy_predictions):
    labels, predictions = noisy_predictions
    result = compute_metrics(EvalPrediction(predictions=one_hot_logits(predictions, 20), label_ids=labels))
    _, _, f1, _ = counted(labels, predictions)
    assert set(result) == {"accuracy", "macro_f1"}
    assert result["accuracy"] == pytest.approx(np.mean(labels == predictions))
    assert f1[19] == 0 and result["macro_f1"] == pytest.approx(f1.mean())  # the never-predicted class counts as 0
    assert result["macro_f1"] < result["accuracy"]


def test_accepts_tuple_of_model_outputs():
    # A model returning hidden states too gives Trainer a tuple; the logits come first.
    labels = np.array([2, 0, 1])
    logits = one_hot_logits(labels, 3)
    hidden = np.zeros((3, 5, 8), dtype=np.float32)
    result = compute_metrics(EvalPrediction(predictions=(logits, hidden), label_ids=labels))
    assert result == {"accuracy": 1.0, "macro_f1": 1.0}


@pytest.mark.slow
def test_works_offline_with_empty_hub_cache(tmp_path):
    # A fresh process with the Hub switched off, an empty Hugging Face cache and every network
    # connection refused: evaluate.load("accuracy") would fail here, our metrics must not.
    script = """
import json, socket
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
import numpy as np
from transformers import EvalPrediction
from hf_seqmodels.metrics import compute_metrics
logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [1.0, 0.0]])
print(json.dumps(compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 0])))))
"""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_EVALUATE_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == pytest.approx({"accuracy": 0.75, "macro_f1": (2 / 3 + 4 / 5) / 2})


def test_classification_report_per_class(noisy_predictions):
    labels, predictions = noisy_predictions
    report = classification_report(labels, predictions, NAMES)
    precision, recall, f1, support = counted(labels, predictions)
    for i, name in enumerate(NAMES):
        assert report[name]["precision"] == pytest.approx(precision[i])
        assert report[name]["recall"] == pytest.approx(recall[i])
        assert report[name]["f1-score"] == pytest.approx(f1[i])
        assert report[name]["support"] == support[i]
    assert report["group.19"]["f1-score"] == 0.0  # listed although never predicted
    assert report["accuracy"] == pytest.approx(np.mean(labels == predictions))
    assert report["macro avg"]["f1-score"] == pytest.approx(f1.mean())


def test_confusion_matrix_png(noisy_predictions, tmp_path):
    labels, predictions = noisy_predictions
    figures_before = plt.get_fignums()
    path = plot_confusion_matrix(labels, predictions, NAMES, tmp_path / "confusion.png")

    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert min(image.shape[:2]) >= 1000  # 20 rotated names and 400 cells need room
    assert image.std() > 0.05  # something was drawn, not a blank canvas
    assert plt.get_fignums() == figures_before  # no figure left open in pyplot
