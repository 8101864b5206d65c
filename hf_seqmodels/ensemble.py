"""Several saved classifiers as one: the (weighted) mean of their softmax probabilities.

Models with different architectures make different mistakes, and averaging their probabilities is the
oldest way to use that. Each folder keeps its own tokenizer and vocabulary; what the members must share
is the label set, in the same order, since their probability columns are added up.

`predict_ensemble()` and `evaluate_ensemble()` serve `hf-seqmodels predict / evaluate DIR1 DIR2 ...`;
`compare_rows()` adds the ensemble rows to `hf-seqmodels compare`: all models together, and the subset
(a TF-IDF + LogisticRegression member included) that scores best on the validation split.
"""

import itertools
import json
import math
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from transformers import EvalPrediction

from .inference import check_texts, class_probabilities, label_answers
from .metrics import compute_metrics
from .training import DataArguments, UsageError, check_batch_size, load_classifier, load_data, predict_split, write_evaluation

# --------------------------------------------------------------------------- several folders as one


def check_weights(weights: list[float] | None, count: int) -> list[float]:
    """One weight per folder, none negative, not all zero; `None` weighs every folder alike."""
    if weights is None:
        return [1.0] * count
    text = ",".join(f"{weight:g}" for weight in weights)
    if len(weights) != count:
        raise UsageError(f"--weights {text}: {len(weights)} weights for {count} model folders; give one per folder")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights) or not any(weights):
        raise UsageError(f"--weights {text}: weights must be finite and ≥ 0, and at least one > 0")
    return [float(weight) for weight in weights]


def parse_weights(text: str | None) -> list[float] | None:
    """`"1,2,1"` -> [1.0, 2.0, 1.0], for the command line."""
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights {text!r}: not a comma-separated list of numbers (e.g. 1,2,1)") from None


def load_members(model_dirs: list[str]) -> list[tuple]:
    """(tokenizer, model) of every folder, refusing any whose labels differ from the first folder's."""
    if not model_dirs:
        raise UsageError("MODEL_DIR: no model folder given")
    members = [load_classifier(model_dir) for model_dir in model_dirs]
    first = label_names(members[0][1])
    for model_dir, (_, model) in zip(model_dirs[1:], members[1:]):
        names = label_names(model)
        if names != first:
            where = next((i for i, (a, b) in enumerate(zip(names, first)) if a != b), min(len(names), len(first)))
            raise UsageError(
                f"MODEL_DIR {model_dir!r}: its labels differ from those of the first folder {model_dirs[0]!r} "
                f"(label {where}: {_label_at(names, where)} there, {_label_at(first, where)} in the first); "
                "an ensemble's folders need the same labels in the same order"
            )
    return members


def label_names(model) -> list[str]:
    return [model.config.id2label[index] for index in range(model.config.num_labels)]


def _label_at(names: list[str], index: int) -> str:
    return repr(names[index]) if index < len(names) else "(none)"


def mean_probabilities(probabilities: list, weights: list[float]) -> np.ndarray:
    """The weighted mean of the members' (examples, classes) probability arrays."""
    total = sum(weight * np.asarray(member, dtype=np.float64) for weight, member in zip(weights, probabilities))
    return total / sum(weights)


def predict_ensemble(
    model_dirs: list[str], texts: list[str], weights: list[float] | None = None, batch_size: int = 64
) -> list[dict]:
    """`inference.predict()` over several folders: each tokenizes the texts itself; probabilities are averaged.

    Returns `{"label", "score", "text"}` for each text, `score` being the mean probability of `label`.
    """
    check_texts(texts)
    weights = check_weights(weights, len(model_dirs))
    check_batch_size(batch_size)
    members = load_members(model_dirs)
    probabilities = [class_probabilities(tokenizer, model, texts, batch_size).numpy() for tokenizer, model in members]
    mean = torch.from_numpy(mean_probabilities(probabilities, weights))
    return label_answers(texts, mean, members[0][1].config.id2label)


def split_probabilities(members: list[tuple], dataset: datasets.Dataset, split: str, output_dir, batch_size: int):
    """Every member's probabilities on one split, as `evaluate` computes them, and the seconds each took.

    The seconds are Trainer's own `{split}_runtime` (the model's forward passes, tokenizing excluded), the
    measure behind every model row's inference speed in `compare`.
    """
    probabilities, seconds, label_ids = [], [], None
    for tokenizer, model in members:
        output = predict_split(tokenizer, model, dataset, split, Path(output_dir), batch_size)
        probabilities.append(torch.from_numpy(np.asarray(output.predictions)).float().softmax(dim=-1).numpy())
        seconds.append(output.metrics[f"{split}_runtime"])
        label_ids = output.label_ids
    return probabilities, seconds, label_ids


def ensemble_metrics(probabilities: np.ndarray, label_ids) -> dict:
    """Loss (cross-entropy of the mean probabilities), accuracy and macro-F1, scored as every model is."""
    label_ids = np.asarray(label_ids)
    # Probabilities as "logits": argmax is all compute_metrics reads, so the scoring is the models' own.
    scores = compute_metrics(EvalPrediction(predictions=probabilities, label_ids=label_ids))
    true_class = probabilities[np.arange(len(label_ids)), label_ids]
    loss = float(-np.log(np.clip(true_class, 1e-12, None)).mean()) if len(label_ids) else float("nan")
    return {"loss": loss, **scores}


def evaluate_ensemble(
    model_dirs: list[str],
    data_args: DataArguments,
    split: str = "test",
    output_dir: str | None = None,
    batch_size: int = 128,
    weights: list[float] | None = None,
) -> dict:
    """`inference.evaluate_folder()` over several folders; writes the ensemble's report to `output_dir`."""
    weights = check_weights(weights, len(model_dirs))
    check_batch_size(batch_size)
    if output_dir is None:  # each folder's own report stays its own
        raise UsageError("--output_dir: needed with several MODEL_DIRs (where the ensemble's report goes)")
    members = load_members(model_dirs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_data(data_args)[split]
    probabilities, _, label_ids = split_probabilities(members, dataset, split, output_dir, batch_size)
    mean = mean_probabilities(probabilities, weights)
    write_evaluation(output_dir, split, mean, label_ids, label_names(members[0][1]))
    metrics = {"split": split, "examples": len(label_ids), **ensemble_metrics(mean, label_ids)}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# --------------------------------------------------------------------------- the comparison's ensemble rows

# The one classic member: the TF-IDF baselines' vectorizer with a classifier that gives probabilities
# (LinearSVC gives none, and ComplementNB's are far from calibrated). C=20 regularizes weakly: many of
# the telling words are rare, and need large weights.
TFIDF_MEMBER = "TF-IDF + LogisticRegression"


def tfidf_logistic_regression():
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=2), LogisticRegression(C=20, max_iter=1000)
    )


TFIDF_MEMBER_SETTINGS = " ".join(str(tfidf_logistic_regression()).split())  # scikit-learn's repr, on one line


def compare_rows(model_rows: list[dict], splits: datasets.DatasetDict, output_dir, batch_size: int = 128) -> list[dict]:
    """The ensemble rows of `compare`: every model together, and the subset best on the validation split.

    Each model folder predicts validation and test through `split_probabilities`, as
    `hf-seqmodels evaluate DIR1 DIR2 ...` does, so a row is what that command gives on its members.
    The subset is chosen on validation only; test decides nothing.
    """
    if len(model_rows) < 2:
        return []
    names = splits["train"].features["label"].names
    members = [_model_member(row, splits, names, output_dir, batch_size) for row in model_rows]
    members.append(_tfidf_member(splits))
    validation, test = np.asarray(splits["validation"]["label"]), np.asarray(splits["test"]["label"])

    models = members[:-1]
    rows = [_row("Ensemble: " + " + ".join(member["name"] for member in models), models, test, "all models")]
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
        rows.append(_row(name, list(best), test, "validation"))
        rows[-1]["short_name"] = f"Ensemble: best {len(best)} on validation"
    rows[-1]["validation_subsets"] = [entry for entry, _ in scored]
    return rows


def _model_member(row: dict, splits, names: list[str], output_dir, batch_size: int) -> dict:
    tokenizer, model = load_classifier(row["output_dir"])
    if label_names(model) != names:
        raise UsageError(f"{row['output_dir']!r}: its labels are not the comparison's {names}")
    member = {"name": row["name"], "num_parameters": row["num_parameters"], "train_seconds": row["train_seconds"],
              "train_samples": row["train_samples_per_second"] * row["train_seconds"]}  # fmt: skip
    for split in ("validation", "test"):
        (member[split],), (member[f"{split}_seconds"],), _ = split_probabilities(
            [(tokenizer, model)], splits[split], split, output_dir, batch_size
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


def _row(name: str, members: list[dict], test_labels: np.ndarray, chosen_on: str) -> dict:
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
        f"\"best on validation\" is, of the {searched} subsets of two or more of the models and "
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
