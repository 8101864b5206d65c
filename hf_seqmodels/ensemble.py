"""Several saved classifiers as one: the (weighted) mean of their softmax probabilities.

Models with different architectures make different mistakes, and averaging their probabilities is the
oldest way to use that. Each folder keeps its own tokenizer and vocabulary; what the members must share
is the label set, in the same order, since their probability columns are added up.

`predict_ensemble()` and `evaluate_ensemble()` serve `hf-seqmodels predict / evaluate DIR1 DIR2 ...`;
`hf_seqmodels.compare.ensembles` builds the comparison's ensemble rows on the same functions.
"""

import json
import math
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import EvalPrediction

from .inference import check_texts, class_probabilities, label_answers, resolve_device
from .metrics import compute_metrics
from .training import (
    DataArguments,
    UsageError,
    check_batch_size,
    load_classifier,
    load_data,
    predict_split,
    softmax_probabilities,
    write_evaluation,
)

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
    model_dirs: list[str], texts: list[str], weights: list[float] | None = None, batch_size: int = 64, device: str = "auto"
) -> list[dict]:
    """`inference.predict()` over several folders: each tokenizes the texts itself; probabilities are averaged.

    Returns `{"label", "score", "text"}` for each text, `score` being the mean probability of `label`.
    Every member runs on `device` (`inference.resolve_device`).
    """
    check_texts(texts)
    weights = check_weights(weights, len(model_dirs))
    check_batch_size(batch_size)
    resolved = resolve_device(device)
    members = [(tokenizer, model.to(resolved)) for tokenizer, model in load_members(model_dirs)]
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
        probabilities.append(softmax_probabilities(output.predictions))
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
    """`training.evaluate_folder()` over several folders; writes the ensemble's report to `output_dir`."""
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
