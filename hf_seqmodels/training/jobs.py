"""`train()`: one text classifier, from arguments to a folder ready for the Hub.

It reads top to bottom like transformers' `examples/pytorch/text-classification/run_classification.py`;
every step is a function of its own (`building`, `trainer`, `checkpoints`, `outputs`), so that another
job on the same data and models (masked-LM pretraining) runs them too and differs only in the head and
the collator. Only the main process writes files and the data steps run inside `main_process_first()`,
so the same code runs unchanged under `accelerate launch` / `torchrun`.
"""

import logging
from pathlib import Path

from transformers import DataCollatorWithPadding, set_seed

from ..metrics import compute_metrics
from .arguments import DataArguments, ModelArguments, SeqModelsTrainingArguments
from .building import (
    apply_word_vectors,
    build_model,
    build_tokenizer,
    describe_start,
    load_labelled_data,
    shared,
    tokenize_splits,
)
from .card import build_model_card
from .checkpoints import checkpoint_step, resolve_checkpoint
from .outputs import epoch_history, training_summary, write_run_outputs
from .trainer import build_trainer

logger = logging.getLogger(__name__)


def train(model_args: ModelArguments, data_args: DataArguments, training_args: SeqModelsTrainingArguments) -> dict:
    """Train one model, score it on validation and test, and write the output folder; returns a summary.

    The summary is also written as `training_summary.json`; `outputs.training_summary` lists its keys.
    """
    # Arguments
    set_seed(training_args.seed)
    checkpoint = resolve_checkpoint(training_args)
    resumed_from_step = checkpoint_step(checkpoint)
    start_from = checkpoint or model_args.model_name_or_path

    # Data
    raw = load_labelled_data(data_args, training_args)
    label_names = raw["train"].features["label"].names

    # Tokenizer: fitted on the training split only, so validation and test words stay unseen
    tokenizer = shared(training_args, lambda: build_tokenizer(model_args, raw["train"]["text"], start_from))
    tokenized = tokenize_splits(raw, tokenizer, training_args)

    # Model
    model = build_model(model_args, tokenizer, label_names, start_from)
    embeddings = apply_word_vectors(model, tokenizer, model_args, seed=training_args.seed)
    start = describe_start(model_args, model, resumed=checkpoint is not None)
    logger.info("%s: %s parameters, vocabulary %d", model.config.model_type, f"{model.num_parameters():,}", len(tokenizer))

    # Trainer
    collator = DataCollatorWithPadding(tokenizer)
    trainer = build_trainer(model, training_args, tokenized, tokenizer, collator, compute_metrics)

    # Train
    train_metrics = fit(trainer, checkpoint)

    # Predict validation and test with the best model; save outputs and the model card; push
    summary = score_and_save(
        trainer, train_metrics, tokenized, raw, (model_args, data_args, training_args), resumed_from_step,
        embeddings=embeddings, start=start,
    )  # fmt: skip
    publish(trainer, commit_message=f"{summary['architecture']} trained on {data_args.source}")
    return summary


def score_and_save(trainer, train_metrics, tokenized, raw, arguments, resumed_from_step, **summary_extras) -> dict:
    """After training: validation and test predicted with the best model (the metrics, and the probabilities
    saved for ensembles), the run's outputs and summary written, the model card set; the summary.

    predict() on validation is evaluate() that also returns the logits (it neither logs nor calls callbacks);
    "epoch" is what evaluate() would add to its metrics when it logs them. `summary_extras` (`embeddings`, `start`,
    `distillation`) join the summary and the card.
    """
    model_args, data_args, training_args = arguments
    history = epoch_history(trainer.state.log_history)  # the evaluations during training, not the ones after
    validation = trainer.predict(tokenized["validation"], metric_key_prefix="eval")
    eval_metrics = {**validation.metrics, "epoch": trainer.state.epoch}
    trainer.save_metrics("eval", eval_metrics)
    test = trainer.predict(tokenized["test"], metric_key_prefix="test")
    trainer.save_metrics("test", test.metrics)
    summary = training_summary(trainer, train_metrics, history, eval_metrics, test.metrics, resumed_from_step, **summary_extras)
    label_names = raw["train"].features["label"].names
    if trainer.is_world_process_zero():
        write_run_outputs(Path(training_args.output_dir), validation, test, label_names, data_args, summary)
    trainer.model_card = build_model_card(summary, trainer.model, trainer.processing_class, raw, model_args, data_args, training_args)
    return summary


def fit(trainer, checkpoint: str | None) -> dict:
    """Train (resuming from `checkpoint`, if any), then save the best weights with the tokenizer; the
    training metrics."""
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model()
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    return train_result.metrics


def publish(trainer, commit_message: str) -> None:
    """Write the trainer's model card into the output folder and, with `--push_to_hub`, upload the folder."""
    trainer.create_model_card()
    if trainer.args.push_to_hub:
        trainer.push_to_hub(commit_message=commit_message)
