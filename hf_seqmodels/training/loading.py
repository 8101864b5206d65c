"""A saved classifier folder read back (for `evaluate` and `predict`), refusing one whose parts do not fit.

Kept apart from the training steps so that loading a model for prediction imports nothing of `datasets`,
`accelerate` or `Trainer`.
"""

from contextlib import contextmanager
from pathlib import Path

from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from .errors import UsageError, loading_errors


def check_vocabulary(tokenizer, config, path: str) -> None:
    """Refuse a tokenizer that can produce ids the model's embedding has no row for."""
    largest = max(tokenizer.get_vocab().values())
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size is not None and largest >= vocab_size:
        raise UsageError(
            f"{path!r}: the tokenizer's ids go up to {largest}, but the model's vocab_size is {vocab_size}; "
            "the tokenizer files do not belong to this model (ids must be < vocab_size)"
        )


def check_classifier(config, path: str) -> None:
    """Refuse a folder saved as another kind of model (a masked-LM folder from `hf-seqmodels pretrain`).

    `AutoModelForSequenceClassification` would load its encoder under a random 2-label head and answer at
    random; `architectures` (written by `save_pretrained`) says what the folder was saved as.
    """
    saved_as = config.architectures or []
    if saved_as and not any(name.endswith("ForSequenceClassification") for name in saved_as):
        kind = "a masked language model" if any(name.endswith("ForMaskedLM") for name in saved_as) else "a model"
        raise UsageError(
            f"MODEL_DIR {path!r} holds {kind} ({', '.join(saved_as)}), not a text classifier: it has no trained "
            f"classification head; fine-tune it first with `hf-seqmodels train --model_name_or_path {path}`"
        )


def load_classifier(model_dir: str):
    """(tokenizer, model in eval mode) from a saved folder or Hub repo, through the Auto classes.

    Weights are read from safetensors only (`use_safetensors=True`): a `pytorch_model.bin` is a pickle,
    and a folder someone else wrote must not be able to run code when it is loaded. A folder saved as
    another kind of model (`check_classifier`) is refused.
    """
    with loading_errors("MODEL_DIR", model_dir):
        config = AutoConfig.from_pretrained(model_dir)
        check_classifier(config, model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        check_vocabulary(tokenizer, config, model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, config=config, use_safetensors=True)
    return tokenizer, model.eval()


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch size a saved model cannot be run with, before it is loaded."""
    if batch_size < 1:
        raise UsageError(f"--batch_size must be ≥ 1, got {batch_size}")


def is_exported(model_dir: str) -> bool:
    """Whether `model_dir` was written by `hf-seqmodels export` (and so runs with ONNX Runtime, not torch)."""
    return Path(model_dir, "model.onnx").is_file()


@contextmanager
def onnx_runtime(model_dir: str):
    """`hf_seqmodels.onnx_inference` for an exported folder, its errors turned into one `UsageError` line.

    Imported only here: onnxruntime is an optional extra, and a PyTorch folder must not need it.
    """
    try:
        from .. import onnx_inference
    except ImportError as error:
        raise UsageError(
            f"MODEL_DIR {model_dir!r} holds model.onnx; running it needs `pip install hf_seqmodels[onnx]` ({error})"
        ) from None
    try:
        yield onnx_inference
    except onnx_inference.ExportedModelError as error:
        raise UsageError(f"MODEL_DIR {error}") from None
