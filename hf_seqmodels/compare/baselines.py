"""The classic baselines the models are measured against: TF-IDF + LinearSVC and TF-IDF + ComplementNB."""

import time

import numpy as np
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from transformers import EvalPrediction

from ..metrics import compute_metrics
from ..training.tfidf import describe, tfidf


BASELINES = {
    "TF-IDF + LinearSVC": lambda: make_pipeline(tfidf(), LinearSVC(C=1.0)),
    "TF-IDF + ComplementNB": lambda: make_pipeline(tfidf(), ComplementNB(alpha=0.1)),
}


def baseline_descriptions() -> dict[str, str]:
    return {name: describe(build()) for name, build in BASELINES.items()}


def run_baseline(name: str, splits) -> dict:
    """Fit on train; score test (the table's figures, timed) and validation (beside the models' validation curves)."""
    pipeline = BASELINES[name]()
    train, test = splits["train"], splits["test"]
    started = time.perf_counter()
    pipeline.fit(train["text"], train["label"])
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predictions = pipeline.predict(test["text"])
    predict_seconds = time.perf_counter() - started
    num_labels = len(train.features["label"].names)
    scores = _scores(predictions, test, num_labels)
    validation = _scores(pipeline.predict(splits["validation"]["text"]), splits["validation"], num_labels)
    classifier = pipeline[-1]
    parameters = (
        classifier.coef_.size + np.size(classifier.intercept_)
        if hasattr(classifier, "coef_")
        else classifier.feature_log_prob_.size
    )
    return {
        "name": name,
        "kind": "baseline",
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "validation_accuracy": validation["accuracy"],
        "num_parameters": int(parameters),
        "train_seconds": round(train_seconds, 2),
        "train_samples_per_second": round(len(train) / train_seconds, 1),
        "inference_samples_per_second": round(len(test) / predict_seconds, 1),
        "epochs": None,
        "history": [],
    }


def _scores(predictions, split, num_labels: int) -> dict:
    # One-hot "logits", so the baselines are scored by the very code that scores the models.
    one_hot = np.eye(num_labels)[predictions]
    return compute_metrics(EvalPrediction(predictions=one_hot, label_ids=np.asarray(split["label"])))
