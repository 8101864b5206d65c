"""A saved model at work: `predict()` labels texts for `hf-seqmodels predict`.

A folder written by `hf-seqmodels export` runs with ONNX Runtime instead. It loads through the Auto classes, from safetensors only (`training.load_classifier`), names a broken or
foreign folder in one line, and imports nothing of `datasets` or `Trainer`. Scoring a saved model on a
data set is `training.evaluate_folder` (`hf-seqmodels evaluate`).
"""

import torch
from tqdm.auto import tqdm

from .training import UsageError, check_batch_size, is_exported, load_classifier, onnx_runtime
from .validation import clean_text

__all__ = ["class_probabilities", "label_answers", "load_classifier", "predict"]


def predict(model_dir: str, texts: list[str], batch_size: int = 64) -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability.

    Texts are truncated to the tokenizer's `model_max_length`, so a document of any size costs one
    tokenizer pass; lone surrogates are replaced with U+FFFD (`validation.clean_text`).
    """
    check_texts(texts)
    check_batch_size(batch_size)
    if is_exported(model_dir):  # a folder written by `hf-seqmodels export`: the same results, through ONNX Runtime
        with onnx_runtime(model_dir) as runtime:
            return runtime.ExportedClassifier(model_dir).predict(texts, batch_size)
    tokenizer, model = load_classifier(model_dir)
    return label_answers(texts, class_probabilities(tokenizer, model, texts, batch_size), model.config.id2label)


def check_texts(texts: list[str]) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise UsageError(f"texts[{index}] is {type(text).__name__} {text!r}, not a string")


def class_probabilities(tokenizer, model, texts: list[str], batch_size: int) -> torch.Tensor:
    """(len(texts), num_labels) softmax probabilities, `batch_size` texts at a time."""
    batches = range(0, len(texts), batch_size)
    probabilities = [torch.empty(0, model.config.num_labels)]
    for start in tqdm(batches, desc="Predicting", unit="batch", disable=len(batches) < 2):
        chunk = texts[start : start + batch_size]
        inputs = tokenizer([clean_text(text) for text in chunk], truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode():
            probabilities.append(model(**inputs).logits.float().softmax(dim=-1))
    return torch.cat(probabilities)


def label_answers(texts: list[str], probabilities: torch.Tensor, id2label: dict) -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability."""
    scores, indices = probabilities.max(dim=-1)
    return [
        {"label": id2label[int(index)], "score": float(score), "text": text}
        for text, score, index in zip(texts, scores, indices)
    ]
