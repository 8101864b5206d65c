"""The classic baselines the models are measured against: TF-IDF + LinearSVC and TF-IDF + ComplementNB."""

import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from transformers import EvalPrediction

from ..metrics import compute_metrics

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
        "num_parameters": int(parameters),
        "train_seconds": round(train_seconds, 2),
        "train_samples_per_second": round(len(train) / train_seconds, 1),
        "inference_samples_per_second": round(len(test) / predict_seconds, 1),
        "epochs": None,
        "history": [],
    }
