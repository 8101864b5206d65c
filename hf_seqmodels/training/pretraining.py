"""`pretrain()`: a masked language model on unlabelled text, from arguments to a folder that
`AutoModelForSequenceClassification.from_pretrained` (and `hf-seqmodels train --model_name_or_path`) fine-tunes.

It reads top to bottom like transformers' `examples/pytorch/language-modeling/run_mlm.py` and runs the
classification job's own steps (`building`, `trainer`, `checkpoints`); it differs in the data (text only:
labels are never read; the posts concatenated and cut into blocks of `--max_length` tokens, as run_mlm.py
groups texts, or one post per example with `--line_by_line`), the head (`XForMaskedLM`) and the collator
(transformers' `DataCollatorForLanguageModeling`, which masks 15 % of the tokens of each batch afresh). With
`--streaming` the text is read as a stream while training runs, as run_mlm.py's `--streaming` (`streaming.py`).
"""

import json
import logging
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import datasets
from transformers import DataCollatorForLanguageModeling, set_seed

from ..errors import UsageError
from ..options import check_at_least, check_fraction
from .arguments import DataArguments, ModelArguments, SeqModelsTrainingArguments, _keep, parse_command_line
from .building import apply_word_vectors, build_model, build_tokenizer, load_splits, shared, tokenize_splits
from .card import build_pretraining_card
from .checkpoints import checkpoint_step, resolve_checkpoint
from .jobs import fit, publish
from .outputs import epoch_history, read_summary, write_summary
from .streaming import (
    StreamingTrainer,
    TextStreams,
    open_text_streams,
    streaming_training_arguments,
    texts_read,
    training_examples,
)
from .trainer import build_trainer

logger = logging.getLogger(__name__)

# What pretrain() writes beside the weights, and what a comparison reads back to reuse a folder.
PRETRAINING_SUMMARY = "pretraining_summary.json"


@dataclass
class MaskedLMArguments:
    """How the text is read and masked."""

    mlm_probability: float = field(
        default=0.15, metadata={"help": "Share of the tokens masked for the model to predict (BERT's 0.15)."}
    )
    line_by_line: bool = field(
        default=False,
        metadata={
            "help": "One post per example, cut to --max_length tokens (the rest of a long post is never read). "
            "Without it, the posts are concatenated and cut into blocks of --max_length tokens, so that every "
            "token is read, as run_mlm.py groups texts."
        },
    )

    streaming: bool = field(
        default=False,
        metadata={
            "help": "Read the text as a stream while training (datasets' streaming=True), for corpora larger than "
            "memory: needs --max_steps; see --shuffle_buffer_size and --validation_texts."
        },
    )
    shuffle_buffer_size: int = field(
        default=10000,
        metadata={"help": "With --streaming: training examples are drawn at random from a buffer of this many."},
    )
    validation_texts: int = field(
        default=1000,
        metadata={
            "help": "With --streaming and no validation file or split: the first this many texts are held out as "
            "validation, and training starts after them."
        },
    )

    def __post_init__(self):
        check_fraction("--mlm_probability", self.mlm_probability)
        check_at_least("--shuffle_buffer_size", self.shuffle_buffer_size, 1)
        check_at_least("--validation_texts", self.validation_texts, 1)


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
    # The validation loss is all an evaluation reports: its logits are not kept (they would grow with the split).
    prediction_loss_only: bool = _keep("prediction_loss_only", True)


PRETRAINING_ARGUMENT_CLASSES = (ModelArguments, DataArguments, MaskedLMArguments, PretrainingArguments)


def parse_pretraining_args(argv: list[str] | None = None, prog: str | None = None):
    """Command line -> (ModelArguments, DataArguments, MaskedLMArguments, PretrainingArguments), read as
    `train` reads its own: an optional leading CONFIG.json (a path, or one shipped, e.g. `gru-mlm.json`), else
    the recipe of `--architecture` (`gru-mlm` for `--architecture gru`), whose values the options override."""
    return parse_command_line(PRETRAINING_ARGUMENT_CLASSES, argv, prog, masked_lm=True)


def pretrain(
    model_args: ModelArguments,
    data_args: DataArguments,
    mlm_args: MaskedLMArguments,
    training_args: PretrainingArguments,
) -> dict:
    """Pretrain one masked language model and write its folder (weights, tokenizer, card, summary)."""
    # Arguments
    set_seed(training_args.seed)
    if mlm_args.streaming:
        training_args = streaming_training_arguments(training_args)
    checkpoint = resolve_checkpoint(training_args)
    resumed_from_step = checkpoint_step(checkpoint)
    start_from = checkpoint or model_args.model_name_or_path

    # Data: text alone; the test split (where there is one) is never read. Streamed, the training text is read
    # as training runs (`streaming.py`) and only the validation texts are in memory.
    with training_args.main_process_first(desc="loading data"):
        raw = open_text_streams(data_args, mlm_args) if mlm_args.streaming else load_unlabelled_data(data_args)
    logger.info("%s: %s", data_args.source, describe_texts(raw))

    # Tokenizer: as the classifier's (same texts, same settings), so fine-tuning reads with the same ids; from a
    # stream, fitted on one pass over it
    train_texts = raw.training_texts() if mlm_args.streaming else raw["train"]["text"]
    tokenizer = shared(training_args, lambda: build_tokenizer(model_args, train_texts, start_from))
    if tokenizer.mask_token is None:
        raise UsageError(
            f"--model_name_or_path {start_from!r}: its tokenizer has no mask token, which masked-LM pretraining "
            "needs; pretrain from scratch (--architecture) to get a tokenizer with [MASK]"
        )
    if mlm_args.streaming:
        tokenized = tokenize_stream(raw, tokenizer, model_args, mlm_args, training_args)
    else:
        tokenized = tokenize_text(raw, tokenizer, model_args, mlm_args, training_args)

    # Model
    model = build_model(model_args, tokenizer, None, start_from)
    embeddings = apply_word_vectors(model, tokenizer, model_args, seed=training_args.seed)
    logger.info("%s: %s parameters, vocabulary %d", model.config.model_type, f"{model.num_parameters():,}", len(tokenizer))

    # Trainer
    collator = MaskedLMCollator(
        tokenizer,
        mlm_probability=mlm_args.mlm_probability,
        seed=training_args.seed,
        scored_vocab_size=model.config.mlm_vocab_size,
    )
    trainer_class = StreamingTrainer if mlm_args.streaming else None
    trainer = build_trainer(model, training_args, tokenized, tokenizer, collator, trainer_class=trainer_class)

    # Train, then the masked-LM loss on validation
    train_metrics = fit(trainer, checkpoint)
    history = epoch_history(trainer.state.log_history, metrics=("eval_loss",))
    eval_metrics = trainer.evaluate()
    trainer.save_metrics("eval", eval_metrics)

    summary = {
        "architecture": model.config.model_type.removeprefix("seqmodels_"),
        "output_dir": training_args.output_dir,
        "num_parameters": model.num_parameters(),
        "epochs": None if mlm_args.streaming else trainer.state.epoch,  # a stream has no epochs
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from_step,
        "train_runtime": train_metrics["train_runtime"],
        "train_samples_per_second": train_metrics["train_samples_per_second"],
        "train_texts": raw.train_texts if mlm_args.streaming else len(raw["train"]),
        "train_examples": None if mlm_args.streaming else len(tokenized["train"]),
        "streaming": streaming_record(raw, mlm_args, trainer) if mlm_args.streaming else None,
        **masked_lm_settings(model_args, mlm_args, tokenizer, model),
        "validation": {"loss": eval_metrics["eval_loss"], "perplexity": _perplexity(eval_metrics["eval_loss"])},
        "embeddings": embeddings,
        "history": history,
    }
    if trainer.is_world_process_zero():
        write_summary(Path(training_args.output_dir, PRETRAINING_SUMMARY), summary)
    trainer.model_card = build_pretraining_card(summary, model, tokenizer, raw, model_args, data_args, training_args)
    publish(trainer, commit_message=f"{summary['architecture']} pretrained on {data_args.source}")
    return summary


def tokenize_stream(streams, tokenizer, model_args, mlm_args, training_args) -> dict:
    """`tokenize_text` of a stream (`streaming.TextStreams`): the training examples made as the stream is read
    (`streaming.training_examples`), 1,000 texts at a time as `Dataset.map` batches them, so that the blocks are
    those `group_into_blocks` makes of the same texts; the validation texts (in memory) as `tokenize_text` makes
    them."""
    block_size = model_args.max_length or tokenizer.model_max_length
    if mlm_args.line_by_line:

        def encode(batch):
            return tokenizer(batch["text"], truncation=True, max_length=block_size)

    else:

        def encode(batch):
            # No `length`: a stream is grouped by its examples' own length, and the collator would pass it to the model.
            blocks = cut_into_blocks(tokenizer(batch["text"], verbose=False), block_size)
            return {name: blocks[name] for name in ("input_ids", "attention_mask")}

    validation = datasets.DatasetDict(validation=streams.validation)
    return {
        "train": training_examples(streams, encode, training_args, mlm_args.shuffle_buffer_size),
        "validation": tokenize_text(validation, tokenizer, model_args, mlm_args, training_args)["validation"],
    }


def streaming_record(streams, mlm_args, trainer) -> dict:
    """What the summary records of a streamed run: how validation was made, the shuffle buffer, and what was read
    (`texts_read` by every process from the training stream, the shuffle buffer's included; a resumed run counts
    those it re-read to skip; None with --dataloader_num_workers)."""
    args = trainer.args
    global_batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    return {
        "validation": streams.validation_source,
        "validation_texts": len(streams.validation),
        "shuffle_buffer_size": mlm_args.shuffle_buffer_size,
        "texts_read": texts_read(streams, args),
        "examples_trained": trainer.state.global_step * global_batch,
    }


def tokenize_text(raw: datasets.DatasetDict, tokenizer, model_args, mlm_args, training_args) -> datasets.DatasetDict:
    """The posts as examples: cut into blocks of `--max_length` tokens (`group_into_blocks`), or one post per
    example with `--line_by_line`; run by the main process first, the others then read its cache."""
    if mlm_args.line_by_line:
        return tokenize_splits(raw, tokenizer, training_args)
    block_size = model_args.max_length or tokenizer.model_max_length
    with training_args.main_process_first(desc="tokenization"):
        return group_into_blocks(raw, tokenizer, block_size)


def describe_texts(raw) -> str:
    """The texts loaded, for the log: each split's size, or for a stream its validation texts alone."""
    if isinstance(raw, TextStreams):
        return f"a training stream, {len(raw.validation)} validation texts ({raw.validation_source})"
    return " / ".join(f"{split} {len(raw[split])}" for split in raw) + " texts"


def masked_lm_settings(model_args, mlm_args, tokenizer, model) -> dict:
    """What the summary records of how the text was read and masked."""
    return {
        "text_layout": "line_by_line" if mlm_args.line_by_line else "blocks",
        "max_length": model_args.max_length or tokenizer.model_max_length,
        "mlm_probability": mlm_args.mlm_probability,
        "mlm_vocab_size": model.config.mlm_vocab_size,
    }


class MaskedLMCollator(DataCollatorForLanguageModeling):
    """transformers' collator (the masks drawn afresh for each batch), with what our masked-LM head needs:

    - targets the head does not score (at or above `scored_vocab_size`, the config's `mlm_vocab_size`) become
      -100, so that the count Trainer passes as `num_items_in_batch` (labels that are not -100) is the count
      the loss sums over: the loss is then the same whatever the gradient accumulation and processes;
    - `target_logits_only=True` in every batch: the model runs its output layer on the positions to predict
      only (see `SeqModelsForMaskedLM`), the bulk of a step's cost saved.
    """

    def __init__(self, *args, scored_vocab_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scored_vocab_size = scored_vocab_size

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        if self.scored_vocab_size is not None:
            batch["labels"] = batch["labels"].masked_fill(batch["labels"] >= self.scored_vocab_size, -100)
        batch["target_logits_only"] = True
        return batch


def group_into_blocks(splits: datasets.DatasetDict, tokenizer, block_size: int) -> datasets.DatasetDict:
    """Every split's posts tokenized whole, concatenated and cut into blocks of `block_size` tokens: run_mlm.py's
    `group_texts`, except that each batch of 1,000 posts ends with its shorter last block instead of dropping
    it, so that every token is read once. The Transformer's positions cover the block: `build_model` checks
    `max_position_embeddings` against the same length.

    Posts follow each other with nothing between them, as in run_mlm.py: the tokenizer has no separator, and
    one added now would be a word the fine-tuned classifier never reads. A masked word near the end of a post
    is then predicted partly from the start of the next, on the few positions where posts meet.
    """

    def tokenize_whole(batch):
        # A post longer than model_max_length is the point here; verbose=False keeps the tokenizer's warning out.
        return tokenizer(batch["text"], verbose=False)

    tokenized = splits.map(tokenize_whole, batched=True, remove_columns=["text"], desc="Tokenizing")
    # Fewer rows come out than go in: every column goes, the blocks' own replace them.
    return tokenized.map(
        partial(cut_into_blocks, block_size=block_size),
        batched=True,
        remove_columns=next(iter(tokenized.values())).column_names,
        desc=f"Grouping into blocks of {block_size} tokens",
    )


def cut_into_blocks(batch, block_size: int) -> dict:
    """One batch of tokenized posts concatenated and cut into blocks of `block_size` tokens (the last one shorter)."""
    columns = {name: [value for row in batch[name] for value in row] for name in ("input_ids", "attention_mask")}
    total = len(columns["input_ids"])
    starts = range(0, total, block_size)
    blocks = {name: [values[i : i + block_size] for i in starts] for name, values in columns.items()}
    return blocks | {"length": [len(block) for block in blocks["input_ids"]]}


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
