"""A saved model at work: `predict()` labels texts for `hf-seqmodels predict`.

The model runs on `device`: by default the accelerator `Trainer` would pick (so `predict` runs where
`evaluate` runs), else the CPU. A folder written by `hf-seqmodels export` runs with ONNX Runtime on the
CPU instead. It loads through the Auto classes, from safetensors only (`serving.loading.load_classifier`),
names a broken or foreign folder in one line, and imports nothing of `datasets` or `Trainer`. Scoring a
saved model on a data set is an application (`training.evaluate_folder`, `hf-seqmodels evaluate`).
"""

import torch

from ..errors import UsageError
from ..options import check_batch_size
from .loading import batched_logits, is_exported, load_classifier, onnx_runtime

__all__ = ["class_probabilities", "label_answers", "load_classifier", "predict", "resolve_device"]


def predict(model_dir: str, texts: list[str], batch_size: int = 64, device: str = "auto") -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability.

    Texts are truncated to the tokenizer's `model_max_length`, so a document of any size costs one
    tokenizer pass; lone surrogates are replaced with U+FFFD (`validation.clean_text`). `device` is
    `resolve_device`'s: `auto`, `cpu`, `cuda`, `cuda:1`, `mps`, ...
    """
    check_texts(texts)
    check_batch_size(batch_size)
    resolved = resolve_device(device)
    if is_exported(model_dir):  # a folder written by `hf-seqmodels export`: the same results, through ONNX Runtime
        if resolved.type != "cpu" and device != "auto":
            raise UsageError(
                f"--device {device!r}: MODEL_DIR {model_dir!r} is an ONNX export, which runs on the CPU "
                "(ONNX Runtime's CPU provider); use --device cpu or auto, or predict with the PyTorch folder"
            )
        with onnx_runtime(model_dir) as runtime:
            return runtime.ExportedClassifier(model_dir).predict(texts, batch_size)
    tokenizer, model = load_classifier(model_dir)
    model.to(resolved)
    return label_answers(texts, class_probabilities(tokenizer, model, texts, batch_size), model.config.id2label)


def resolve_device(name: str = "auto") -> torch.device:
    """The device a model predicts on. `auto`: the accelerator `Trainer` would train and evaluate on
    (CUDA, MPS, XPU, ...: `torch.accelerator`, at its current index), else the CPU. Otherwise a device as
    torch names it, which must be on this machine; anything else is a `UsageError` naming the value."""
    # Checked here because torch.device() accepts any well-formed name (`cuda:7` on a one-GPU machine, `cuda`
    # on one without) and fails only at the model's first `.to()`, deep in a traceback.
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    count = torch.accelerator.device_count() if accelerator is not None else 0
    if name == "auto":
        return torch.device(accelerator.type, torch.accelerator.current_device_index()) if accelerator else torch.device("cpu")
    here = ["auto", "cpu"] + ([accelerator.type] + [f"{accelerator.type}:{index}" for index in range(count)] if accelerator else [])
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"--device {name!r}: not a device name; valid here: {', '.join(here)}") from None
    if device.type == "cpu":
        return device
    if accelerator is None or device.type != accelerator.type or (device.index or 0) >= count:
        raise UsageError(f"--device {name!r}: no such device on this machine; valid here: {', '.join(here)}")
    return device


def check_texts(texts: list[str]) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise UsageError(f"texts[{index}] is {type(text).__name__} {text!r}, not a string")


def class_probabilities(tokenizer, model, texts: list[str], batch_size: int) -> torch.Tensor:
    """(len(texts), num_labels) softmax probabilities on the CPU, `batch_size` texts at a time, computed on
    the model's device."""
    return batched_logits(tokenizer, model, texts, batch_size).softmax(dim=-1)


def label_answers(texts: list[str], probabilities: torch.Tensor, id2label: dict) -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability."""
    scores, indices = probabilities.max(dim=-1)
    return [
        {"label": id2label[int(index)], "score": float(score), "text": text}
        for text, score, index in zip(texts, scores, indices)
    ]
