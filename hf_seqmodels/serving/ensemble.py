"""Several saved classifiers as one: the (weighted) mean of their softmax probabilities.

Models with different architectures make different mistakes, and averaging their probabilities is the
oldest way to use that. Each folder keeps its own tokenizer and vocabulary; what the members must share
is the label set, in the same order, since their probability columns are added up.

`predict_ensemble()` serves `hf-seqmodels predict DIR1 DIR2 ...`; scoring an ensemble on a data set
(`hf-seqmodels evaluate DIR1 DIR2 ...`, the comparison's ensemble rows) is an application built on the same
functions (`training.evaluation.evaluate_ensemble`).
"""

import math

import numpy as np
import torch

from ..errors import UsageError
from ..options import check_batch_size
from .loading import load_classifier
from .prediction import check_texts, class_probabilities, label_answers, resolve_device

# --------------------------------------------------------------------------- several folders as one


def check_weights(weights: list[float] | None, count: int, option: str = "--weights") -> list[float]:
    """One weight per folder, none negative, not all zero; `None` weighs every folder alike."""
    if weights is None:
        return [1.0] * count
    text = ",".join(f"{weight:g}" for weight in weights)
    if len(weights) != count:
        raise UsageError(f"{option} {text}: {len(weights)} weights for {count} model folders; give one per folder")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights) or not any(weights):
        raise UsageError(f"{option} {text}: weights must be finite and ≥ 0, and at least one > 0")
    return [float(weight) for weight in weights]


def parse_weights(text: str | None, option: str = "--weights") -> list[float] | None:
    """`"1,2,1"` -> [1.0, 2.0, 1.0], for the command line."""
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a comma-separated list of numbers (e.g. 1,2,1)") from None


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
                f"(label {where}: {label_at(names, where)} there, {label_at(first, where)} in the first); "
                "an ensemble's folders need the same labels in the same order"
            )
    return members


def label_names(model) -> list[str]:
    return [model.config.id2label[index] for index in range(model.config.num_labels)]


def label_at(names: list[str], index: int) -> str:
    return repr(names[index]) if index < len(names) else "(none)"


def mean_probabilities(probabilities: list, weights: list[float]) -> np.ndarray:
    """The weighted mean of the members' (examples, classes) probability arrays."""
    total = sum(weight * np.asarray(member, dtype=np.float64) for weight, member in zip(weights, probabilities))
    return total / sum(weights)


def predict_ensemble(
    model_dirs: list[str], texts: list[str], weights: list[float] | None = None, batch_size: int = 64, device: str = "auto"
) -> list[dict]:
    """`prediction.predict()` over several folders: each tokenizes the texts itself; probabilities are averaged.

    Returns `{"label", "score", "text"}` for each text, `score` being the mean probability of `label`.
    Every member runs on `device` (`prediction.resolve_device`).
    """
    check_texts(texts)
    weights = check_weights(weights, len(model_dirs))
    check_batch_size(batch_size)
    resolved = resolve_device(device)
    members = [(tokenizer, model.to(resolved)) for tokenizer, model in load_members(model_dirs)]
    probabilities = [class_probabilities(tokenizer, model, texts, batch_size).numpy() for tokenizer, model in members]
    mean = torch.from_numpy(mean_probabilities(probabilities, weights))
    return label_answers(texts, mean, members[0][1].config.id2label)
