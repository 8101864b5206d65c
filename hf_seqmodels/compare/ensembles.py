"""The comparison's ensemble rows: every model together, and the subset (a TF-IDF member included) best on
the validation split, each scored on the probabilities of the saved folders: those `train` saved beside each
model (`predictions_{split}.npz`), or, for a folder without them, those of running the folder as
`hf-seqmodels evaluate DIR1 DIR2 ...` does."""

import itertools
import time

import datasets
import numpy as np
from transformers import AutoConfig, EvalPrediction

from ..errors import UsageError
from ..metrics import compute_metrics
from ..serving.ensemble import mean_probabilities
from ..serving.loading import load_classifier
from ..training.evaluation import split_probabilities
from ..training.outputs import read_saved_predictions
from ..training.tfidf import TFIDF_LOGISTIC_REGRESSION_SETTINGS, tfidf_logistic_regression

# The one classic member: the TF-IDF baselines' vectorizer with a classifier that gives probabilities.
TFIDF_MEMBER = "TF-IDF + LogisticRegression"
TFIDF_MEMBER_SETTINGS = TFIDF_LOGISTIC_REGRESSION_SETTINGS


def compare_rows(model_rows: list[dict], splits: datasets.DatasetDict, output_dir, batch_size: int = 128) -> list[dict]:
    """The ensemble rows of `compare`: every model together, and the subset best on the validation split.

    Each model's probabilities on validation and test are those `train` saved in its folder, which are the
    saved model's own; where a folder has none that fit the split, the folder predicts it through
    `split_probabilities`, as `hf-seqmodels evaluate DIR1 DIR2 ...` does. Either way a row is what that command
    gives on its members. The subset is chosen on validation only; test decides nothing.
    """
    if len(model_rows) < 2:
        return []
    names = splits["train"].features["label"].names
    members = [_model_member(row, splits, names, output_dir, batch_size) for row in model_rows]
    members.append(_tfidf_member(splits))
    validation, test = np.asarray(splits["validation"]["label"]), np.asarray(splits["test"]["label"])

    models = members[:-1]
    rows = [_row("Ensemble: " + " + ".join(member["name"] for member in models), models, test, "all models", validation)]
    rows[0]["short_name"] = "Ensemble: all models"
    scored = []
    for size in range(2, len(members) + 1):
        for subset in itertools.combinations(members, size):
            probabilities = mean_probabilities([member["validation"] for member in subset], [1.0] * size)
            scores = compute_metrics(EvalPrediction(predictions=probabilities, label_ids=validation))
            entry = {"members": [member["name"] for member in subset], "validation_accuracy": scores["accuracy"],
                     "validation_macro_f1": scores["macro_f1"]}  # fmt: skip
            scored.append((entry, subset))
    # Most accurate on validation; then macro-F1; then the fewest members (the cheapest to run).
    scored.sort(key=lambda item: (-item[0]["validation_accuracy"], -item[0]["validation_macro_f1"], len(item[1])))
    _, best = scored[0]
    if len(best) == len(models) and all(a is b for a, b in zip(best, models)):
        rows[0]["chosen_on"] = "all models; also the subset best on validation"
    else:
        name = "Ensemble (best on validation): " + " + ".join(member["name"] for member in best)
        rows.append(_row(name, list(best), test, "validation", validation))
        rows[-1]["short_name"] = f"Ensemble: best {len(best)} on validation"
    rows[-1]["validation_subsets"] = [entry for entry, _ in scored]
    return rows


def _model_member(row: dict, splits, names: list[str], output_dir, batch_size: int) -> dict:
    folder = row["output_dir"]
    config = AutoConfig.from_pretrained(folder)  # the labels, without loading the weights
    if [config.id2label[index] for index in range(config.num_labels)] != names:
        raise UsageError(f"{folder!r}: its labels are not the comparison's {names}")
    member = {"name": row["name"], "num_parameters": row["num_parameters"], "train_seconds": row["train_seconds"],
              "train_samples": row["train_samples_per_second"] * row["train_seconds"]}  # fmt: skip
    classifier = None  # loaded only for a split whose predictions were not saved
    for split in ("validation", "test"):
        saved = read_saved_predictions(folder, split, splits[split]["label"])
        if saved is not None:
            member[split], member[f"{split}_seconds"] = saved
            continue
        classifier = classifier or load_classifier(folder)
        (member[split],), (member[f"{split}_seconds"],), _ = split_probabilities(
            [classifier], splits[split], split, output_dir, batch_size
        )
    return member


def _tfidf_member(splits) -> dict:
    pipeline = tfidf_logistic_regression()
    train = splits["train"]
    started = time.perf_counter()
    pipeline.fit(train["text"], train["label"])
    member = {"name": TFIDF_MEMBER, "train_seconds": time.perf_counter() - started, "train_samples": len(train)}
    classifier = pipeline[-1]
    member["num_parameters"] = int(classifier.coef_.size + classifier.intercept_.size)
    for split in ("validation", "test"):
        started = time.perf_counter()
        # predict_proba's columns are the classes seen in training; place them in the data's columns.
        probabilities = np.zeros((len(splits[split]), len(train.features["label"].names)))
        probabilities[:, classifier.classes_] = pipeline.predict_proba(splits[split]["text"])
        member[f"{split}_seconds"] = time.perf_counter() - started
        member[split] = probabilities
    return member


def _row(name: str, members: list[dict], test_labels: np.ndarray, chosen_on: str, validation_labels: np.ndarray) -> dict:
    on_validation = mean_probabilities([member["validation"] for member in members], [1.0] * len(members))
    validation_accuracy = float((on_validation.argmax(axis=-1) == validation_labels).mean())
    started = time.perf_counter()
    probabilities = mean_probabilities([member["test"] for member in members], [1.0] * len(members))
    averaging_seconds = time.perf_counter() - started
    scores = compute_metrics(EvalPrediction(predictions=probabilities, label_ids=test_labels))
    # Every member runs on every post: the ensemble's prediction time is theirs added up.
    predict_seconds = sum(member["test_seconds"] for member in members) + averaging_seconds
    train_seconds = sum(member["train_seconds"] for member in members)
    return {
        "name": name,
        "kind": "ensemble",
        "members": [member["name"] for member in members],
        "chosen_on": chosen_on,
        "test_accuracy": scores["accuracy"],
        "test_macro_f1": scores["macro_f1"],
        "validation_accuracy": validation_accuracy,
        "num_parameters": int(sum(member["num_parameters"] for member in members)),
        "train_seconds": round(train_seconds, 1),
        "train_samples_per_second": round(sum(member["train_samples"] for member in members) / train_seconds, 1),
        "inference_samples_per_second": round(len(test_labels) / predict_seconds, 1),
        "epochs": None,
        "history": [],
    }


def report_notes(rows: list[dict]) -> list[str]:
    """What the ensemble rows are, for the report's table."""
    ensembles = [row for row in rows if row["kind"] == "ensemble"]
    if not ensembles:
        if sum(row["kind"] == "model" for row in rows) < 2:
            return ["", "No ensemble rows: an ensemble needs at least two models, and --models gave one."]
        return []
    searched = len(ensembles[-1].get("validation_subsets", []))
    chosen = "" if ensembles[-1]["chosen_on"] == "validation" else " (here: all the models together)"
    return [
        "",
        "Ensemble rows average their members' softmax probabilities on each test post, as "
        "`hf-seqmodels predict DIR1 DIR2 ...` does; their parameters and training time are the members' sums, "
        "and their inference speed is every member's run on the test split, added up. The subset "
        f'"best on validation" is, of the {searched} subsets of two or more of the models and '
        f"{TFIDF_MEMBER} (C=20, fitted on the training split), the most accurate on the validation split{chosen}; "
        "the test split chose nothing.",
    ]


def summary_sentences(rows: list[dict]) -> list[str]:
    """The best ensemble against the best single model: what it gains, and what it costs at prediction time."""
    ensembles = [row for row in rows if row["kind"] == "ensemble"]
    models = [row for row in rows if row["kind"] == "model"]
    if not ensembles or not models:
        return []
    ensemble = max(ensembles, key=lambda row: row["test_accuracy"])
    model = max(models, key=lambda row: row["test_accuracy"])
    margin = ensemble["test_accuracy"] - model["test_accuracy"]
    slowdown = model["inference_samples_per_second"] / ensemble["inference_samples_per_second"]
    return [
        f"- The best ensemble ({', '.join(ensemble['members'])}) reaches {ensemble['test_accuracy']:.4f}, "
        f"{abs(margin) * 100:.1f} points {'above' if margin >= 0 else 'below'} the {model['name']} alone; "
        f"it predicts {ensemble['inference_samples_per_second']:.0f} samples/s against the {model['name']}'s "
        f"{model['inference_samples_per_second']:.0f} ({slowdown:.1f}× the prediction time)."
    ]
