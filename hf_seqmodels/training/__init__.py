"""Training: a text-classification data set -> TF-IDF tokenizer -> `Trainer` -> a folder ready for the Hub.

    arguments.py    ModelArguments, DataArguments, SeqModelsTrainingArguments; parse_args() (CONFIG.json + options)
    building.py     the steps: load_data -> build_tokenizer -> tokenize -> build_model (-> apply_word_vectors)
    trainer.py      SeqModelsTrainer (Trainer + wall clock, DDP-safe length grouping, our card); build_trainer()
    checkpoints.py  which checkpoint --resume_from_checkpoint means, and whether it is complete
    outputs.py      the summary, predictions (saved for ensembles too), per-class reports and confusion matrices of a run
    card.py         the model card (README.md) of a trained folder
    loading.py      a saved classifier read back for evaluate / predict
    evaluation.py   evaluate_folder(): a saved model scored on one split (hf-seqmodels evaluate)
    errors.py       UsageError, and loading errors translated into it
    jobs.py         train(), reading top to bottom like transformers' run_classification.py
    pretraining.py  pretrain(): a masked language model on unlabelled text, like transformers' run_mlm.py

`hf-seqmodels train` and `scripts/train.py` are `parse_args()` + `train()`; `hf-seqmodels pretrain` and
`scripts/pretrain.py` are `parse_pretraining_args()` + `pretrain()`. The names below are imported on
first use (as transformers does), so `from hf_seqmodels.training import UsageError` costs no `Trainer`.
"""

import importlib

_PUBLIC_NAMES = {
    "arguments": [
        "DataArguments",
        "ModelArguments",
        "SeqModelsTrainingArguments",
        "parse_args",
        "parse_arguments",
        "parse_config_overrides",
    ],
    "building": ["apply_word_vectors", "build_model", "build_tokenizer", "load_data", "sample", "tokenize"],
    "checkpoints": ["checkpoint_problem", "resolve_checkpoint"],
    "errors": ["UsageError"],
    "evaluation": ["evaluate_folder", "predict_split"],
    "jobs": ["train"],
    "loading": ["check_batch_size", "is_exported", "load_classifier", "onnx_runtime"],
    "outputs": ["read_saved_predictions", "softmax_probabilities", "split_metrics", "write_evaluation"],
    "pretraining": ["MaskedLMArguments", "PretrainingArguments", "parse_pretraining_args", "pretrain"],
    "trainer": ["SeqModelsTrainer", "build_trainer"],
}
_MODULE_OF = {name: module for module, names in _PUBLIC_NAMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
