"""A saved classifier folder read back, of any of the three kinds a user holds, refusing one whose parts do not fit:

- a folder written by `hf-seqmodels train` (this package's models, through the Auto classes),
- any transformers sequence-classification folder or Hub repo (BERT, DistilBERT, ...: the same Auto classes),
- a folder written by `hf-seqmodels export` (`model.onnx`, run by ONNX Runtime on the CPU).

`load_classifier` gives the (tokenizer, model) pair of a PyTorch folder; `open_classifier` gives any of the
three behind one interface (`id2label`, `logits(texts)`), which is what a caller that only needs a model's
answers (an ensemble member, a distillation teacher) uses. Nothing here imports `datasets` or `Trainer`.
"""

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from ..errors import UsageError, loading_errors
from ..validation import clean_text


def check_vocabulary(tokenizer, config, path: str) -> None:
    """Refuse a tokenizer that can produce ids the model's embedding has no row for."""
    largest = max(tokenizer.get_vocab().values())
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size is not None and largest >= vocab_size:
        raise UsageError(
            f"{path!r}: the tokenizer's ids go up to {largest}, but the model's vocab_size is {vocab_size}; "
            "the tokenizer files do not belong to this model (ids must be < vocab_size)"
        )


def check_classifier(config, path: str, option: str = "MODEL_DIR") -> None:
    """Refuse a folder saved as another kind of model (a masked-LM folder from `hf-seqmodels pretrain`).

    `AutoModelForSequenceClassification` would load its encoder under a random 2-label head and answer at
    random; `architectures` (written by `save_pretrained`) says what the folder was saved as.
    """
    saved_as = config.architectures or []
    if saved_as and not any(name.endswith("ForSequenceClassification") for name in saved_as):
        kind = "a masked language model" if any(name.endswith("ForMaskedLM") for name in saved_as) else "a model"
        raise UsageError(
            f"{option} {path!r} holds {kind} ({', '.join(saved_as)}), not a text classifier: it has no trained "
            f"classification head; fine-tune it first with `hf-seqmodels train --model_name_or_path {path}`"
        )


def load_classifier(model_dir: str, option: str = "MODEL_DIR"):
    """(tokenizer, model in eval mode) from a saved PyTorch folder or Hub repo, through the Auto classes: this
    package's models and any transformers sequence classifier alike.

    Weights are read from safetensors only (`use_safetensors=True`): a `pytorch_model.bin` is a pickle,
    and a folder someone else wrote must not be able to run code when it is loaded. A folder saved as
    another kind of model (`check_classifier`) is refused. Errors name the folder as `option` (the command's).
    """
    with loading_errors(option, model_dir):
        config = AutoConfig.from_pretrained(model_dir)
        check_classifier(config, model_dir, option)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        check_vocabulary(tokenizer, config, model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, config=config, use_safetensors=True)
    return tokenizer, model.eval()


def is_exported(model_dir: str) -> bool:
    """Whether `model_dir` was written by `hf-seqmodels export` (and so runs with ONNX Runtime, not torch)."""
    return Path(model_dir, "model.onnx").is_file()


@contextmanager
def onnx_runtime(model_dir: str, option: str = "MODEL_DIR"):
    """`hf_seqmodels.serving.onnx_inference` for an exported folder, its errors turned into one `UsageError` line.

    Imported only here: onnxruntime is an optional extra, and a PyTorch folder must not need it.
    """
    try:
        from . import onnx_inference
    except ImportError as error:
        raise UsageError(
            f"{option} {model_dir!r} holds model.onnx; running it needs `pip install hf_seqmodels[onnx]` ({error})"
        ) from None
    try:
        yield onnx_inference
    except onnx_inference.ExportedModelError as error:
        raise UsageError(f"{option} {error}") from None


class TorchClassifier:
    """A PyTorch classifier folder (this package's or any transformers one) behind `open_classifier`'s interface."""

    def __init__(self, tokenizer, model):
        self.tokenizer, self.model = tokenizer, model
        self.id2label = {int(index): label for index, label in model.config.id2label.items()}

    def logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return batched_logits(self.tokenizer, self.model, texts, batch_size).numpy()


def batched_logits(tokenizer, model, texts: list[str], batch_size: int) -> torch.Tensor:
    """(len(texts), num_labels) float32 logits on the CPU, computed `batch_size` texts at a time on the model's
    device; texts truncated to the tokenizer's `model_max_length`, lone surrogates replaced with U+FFFD."""
    batches = range(0, len(texts), batch_size)
    logits = [torch.empty(0, model.config.num_labels)]
    for start in tqdm(batches, desc="Predicting", unit="batch", disable=len(batches) < 2):
        chunk = texts[start : start + batch_size]
        inputs = tokenizer([clean_text(text) for text in chunk], truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode():
            logits.append(model(**inputs.to(model.device)).logits.float().cpu())
    return torch.cat(logits)


class OnnxClassifier:
    """An exported folder's `ExportedClassifier`, its errors (a text longer than the model's positions) turned
    into one `UsageError` line as the loading's are."""

    def __init__(self, model_dir: str, option: str = "MODEL_DIR"):
        self.model_dir, self.option = model_dir, option
        with onnx_runtime(model_dir, option) as runtime:
            self.classifier = runtime.ExportedClassifier(model_dir)
        self.id2label = self.classifier.id2label

    def logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        with onnx_runtime(self.model_dir, self.option):
            return self.classifier.logits(texts, batch_size)


def open_classifier(model_dir: str, device: torch.device | str = "cpu", option: str = "MODEL_DIR"):
    """Any classifier folder a user holds, as an object with `id2label` and `logits(texts, batch_size)`: an
    exported folder through ONNX Runtime (on the CPU), any other through `load_classifier`, on `device`. Errors
    name the folder as `option`."""
    if is_exported(model_dir):
        return OnnxClassifier(model_dir, option)
    tokenizer, model = load_classifier(model_dir, option)
    return TorchClassifier(tokenizer, model.to(device))
