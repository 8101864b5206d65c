"""hf_seqmodels: RNN, LSTM, GRU and a small Transformer text classifier as Hugging Face transformers models.

Importing the package registers the four architectures with `AutoConfig`, `AutoModel`,
`AutoModelForSequenceClassification` and `AutoModelForMaskedLM`, and nothing else: the data, tokenizer and training functions
(`Trainer`, `datasets`, scikit-learn) are imported on first use, as transformers imports its own, so
that loading a model or `hf-seqmodels predict` does not pay for them. `predict(model_dir, texts)` labels
texts with a saved folder; `train(*parse_args([...]))` trains one model the way `hf-seqmodels train` does;
`pretrain(*parse_pretraining_args([...]))` pretrains one the way `hf-seqmodels pretrain` does;
`distill(*parse_distillation_args([...]))` distills teachers into one the way `hf-seqmodels distill` does.

Two layers (README.md, "Layers"): the library (`models`, `tokenization`, `vectors`, `data`, `metrics`,
`options`, `validation`, `errors`, `serving`) imports nothing from the applications above it (`training`,
`compare`, `benchmark`, `cli`).
"""

import importlib

from .models import (
    ARCHITECTURES,
    GRUConfig,
    GRUForMaskedLM,
    GRUForSequenceClassification,
    GRUModel,
    LSTMConfig,
    LSTMForMaskedLM,
    LSTMForSequenceClassification,
    LSTMModel,
    RecurrentConfig,
    RNNConfig,
    RNNForMaskedLM,
    RNNForSequenceClassification,
    RNNModel,
    TransformerConfig,
    TransformerForMaskedLM,
    TransformerForSequenceClassification,
    TransformerModel,
)

# Public names imported on first use, by the module that defines them.
_LAZY_NAMES = {
    "load_newsgroups": ".data",
    "load_text_dataset": ".data",
    "train_tokenizer": ".tokenization",
    "initialize_embeddings": ".vectors",
    "WordVectorsError": ".vectors",
    "UsageError": ".errors",
    "load_classifier": ".serving",
    "open_classifier": ".serving",
    "predict": ".serving",
    "predict_ensemble": ".serving",
    "ModelArguments": ".training",
    "DataArguments": ".training",
    "SeqModelsTrainingArguments": ".training",
    "parse_args": ".training",
    "train": ".training",
    "parse_pretraining_args": ".training",
    "pretrain": ".training",
    "parse_distillation_args": ".training.distillation",
    "distill": ".training.distillation",
}

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "RecurrentConfig",
    "RNNConfig",
    "LSTMConfig",
    "GRUConfig",
    "TransformerConfig",
    "RNNModel",
    "LSTMModel",
    "GRUModel",
    "TransformerModel",
    "RNNForSequenceClassification",
    "LSTMForSequenceClassification",
    "GRUForSequenceClassification",
    "TransformerForSequenceClassification",
    "RNNForMaskedLM",
    "LSTMForMaskedLM",
    "GRUForMaskedLM",
    "TransformerForMaskedLM",
    "train_tokenizer",
    "initialize_embeddings",
    "WordVectorsError",
    "UsageError",
    "load_classifier",
    "open_classifier",
    "predict",
    "predict_ensemble",
    "load_newsgroups",
    "load_text_dataset",
    "ModelArguments",
    "DataArguments",
    "SeqModelsTrainingArguments",
    "parse_args",
    "train",
    "parse_pretraining_args",
    "pretrain",
    "parse_distillation_args",
    "distill",
]


def __getattr__(name: str):
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
