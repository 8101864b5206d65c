"""`pretrain()`: a masked language model on unlabelled text, from arguments to a folder that
`AutoModelForSequenceClassification.from_pretrained` (and `hf-seqmodels train --model_name_or_path`) fine-tunes.

It reads top to bottom like transformers' `examples/pytorch/language-modeling/run_mlm.py` and runs the
classification job's own steps (`building`, `trainer`, `checkpoints`); it differs in the data (text only:
labels are never read), the head (`XForMaskedLM`) and the collator (transformers'
`DataCollatorForLanguageModeling`, which masks 15 % of the tokens of each batch afresh).
"""

import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from transformers import DataCollatorForLanguageModeling, set_seed

from .arguments import (
    DataArguments,
    ModelArguments,
    SeqModelsTrainingArguments,
    _keep,
    find_config_file,
    parse_arguments,
)
from .building import apply_word_vectors, build_model, build_tokenizer, load_splits, shared, tokenize_splits
from .card import build_pretraining_card
from .checkpoints import checkpoint_step, resolve_checkpoint
from .errors import UsageError
from .jobs import fit, publish
from .outputs import epoch_history
from .trainer import build_trainer

logger = logging.getLogger(__name__)

# What pretrain() writes beside the weights, and what a comparison reads back to reuse a folder.
PRETRAINING_SUMMARY = "pretraining_summary.json"


@dataclass
class MaskedLMArguments:
    """How the text is masked."""

    mlm_probability: float = field(
        default=0.15, metadata={"help": "Share of the tokens masked for the model to predict (BERT's 0.15)."}
    )

    def __post_init__(self):
        if not 0 < self.mlm_probability < 1:
            raise UsageError(f"--mlm_probability must be a fraction strictly between 0 and 1, got {self.mlm_probability}")


@dataclass
class PretrainingArguments(SeqModelsTrainingArguments):
    """The training arguments with masked-LM defaults: no labels, so no early stopping on a metric; the last
    epoch is kept (the masked-LM loss on validation is logged each epoch)."""

    learning_rate: float = _keep("learning_rate", 3e-3)
    num_train_epochs: float = _keep("num_train_epochs", 4.0)
    per_device_train_batch_size: int = _keep("per_device_train_batch_size", 32)
    save_total_limit: int | None = _keep("save_total_limit", 1)
    load_best_model_at_end: bool = _keep("load_best_model_at_end", False)
    metric_for_best_model: str | None = _keep("metric_for_best_model", None)
    early_stopping_patience: int = field(
        default=0, metadata={"help": "Stop after this many evaluations without a lower validation loss; 0: never."}
    )


PRETRAINING_ARGUMENT_CLASSES = (ModelArguments, DataArguments, MaskedLMArguments, PretrainingArguments)


def parse_pretraining_args(argv: list[str] | None = None, prog: str | None = None):
    """Command line -> (ModelArguments, DataArguments, MaskedLMArguments, PretrainingArguments), read as
    `train` reads its own: an optional leading CONFIG.json (a path, or one shipped, e.g. `gru-mlm.json`)
    whose values the options after it override."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config_file = find_config_file(argv.pop(0)) if argv and argv[0].endswith(".json") else None
    usage = "%(prog)s [CONFIG.json] [--option value ...]  (options after CONFIG.json override its values)"
    return parse_arguments(PRETRAINING_ARGUMENT_CLASSES, argv, prog=prog, defaults_file=config_file, usage=usage)


def pretrain(
    model_args: ModelArguments,
    data_args: DataArguments,
    mlm_args: MaskedLMArguments,
    training_args: PretrainingArguments,
) -> dict:
    """Pretrain one masked language model and write its folder (weights, tokenizer, card, summary)."""
    # Arguments
    set_seed(training_args.seed)
    checkpoint = resolve_checkpoint(training_args)
    resumed_from_step = checkpoint_step(checkpoint)
    start_from = checkpoint or model_args.model_name_or_path

    # Data: text alone; the test split (where there is one) is never read
    with training_args.main_process_first(desc="loading data"):
        raw = load_unlabelled_data(data_args)
    logger.info("%s: %s texts", data_args.source, " / ".join(f"{split} {len(raw[split])}" for split in raw))

    # Tokenizer: as the classifier's (same texts, same settings), so fine-tuning reads with the same ids
    tokenizer = shared(training_args, lambda: build_tokenizer(model_args, raw["train"]["text"], start_from))
    if tokenizer.mask_token is None:
        raise UsageError(
            f"--model_name_or_path {start_from!r}: its tokenizer has no mask token, which masked-LM pretraining "
            "needs; pretrain from scratch (--architecture) to get a tokenizer with [MASK]"
        )
    tokenized = tokenize_splits(raw, tokenizer, training_args)

    # Model
    model = build_model(model_args, tokenizer, None, start_from)
    embeddings = apply_word_vectors(model, tokenizer, model_args, seed=training_args.seed)
    logger.info("%s: %s parameters, vocabulary %d", model.config.model_type, f"{model.num_parameters():,}", len(tokenizer))

    # Trainer
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_args.mlm_probability, seed=training_args.seed)
    trainer = build_trainer(model, training_args, tokenized, tokenizer, collator)

    # Train, then the masked-LM loss on validation
    train_metrics = fit(trainer, checkpoint)
    history = epoch_history(trainer.state.log_history, metrics=("eval_loss",))
    eval_metrics = trainer.evaluate()
    trainer.save_metrics("eval", eval_metrics)

    summary = {
        "architecture": model.config.model_type.removeprefix("seqmodels_"),
        "output_dir": training_args.output_dir,
        "num_parameters": model.num_parameters(),
        "epochs": trainer.state.epoch,
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from_step,
        "train_runtime": train_metrics["train_runtime"],
        "train_samples_per_second": train_metrics["train_samples_per_second"],
        "train_texts": len(raw["train"]),
        "validation": {"loss": eval_metrics["eval_loss"], "perplexity": _perplexity(eval_metrics["eval_loss"])},
        "mlm_probability": mlm_args.mlm_probability,
        "mlm_vocab_size": model.config.mlm_vocab_size,
        "embeddings": embeddings,
        "history": history,
    }
    if trainer.is_world_process_zero():
        Path(training_args.output_dir, PRETRAINING_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    trainer.model_card = build_pretraining_card(summary, model, tokenizer, raw, model_args, data_args, training_args)
    publish(trainer, commit_message=f"{summary['architecture']} pretrained on {data_args.source}")
    return summary


def load_unlabelled_data(data_args: DataArguments) -> datasets.DatasetDict:
    """`train` and `validation` splits of a `text` column: 20 Newsgroups' own (the very split a classifier
    trained with the same data options learns from, labels dropped), or files / a Hub data set of text."""
    splits = load_splits(data_args, labelled=False)
    limits = {"train": data_args.max_train_samples, "validation": data_args.max_eval_samples}
    return datasets.DatasetDict(
        {
            split: splits[split].select_columns(["text"]).shuffle(seed=data_args.split_seed).select(range(limit))
            if limit is not None and limit < len(splits[split])
            else splits[split].select_columns(["text"])
            for split, limit in limits.items()
        }
    )


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")
