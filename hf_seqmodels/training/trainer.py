"""`SeqModelsTrainer`: transformers' `Trainer` with a wall clock in its logs, length grouping that DDP
agrees on, an encoder learning rate of its own, predictions made shortest first and returned in the
dataset's order, and our model card; `build_trainer` sets it up for a job."""

import os
import time

import numpy as np
import torch
from huggingface_hub import ModelCard
from torch.utils.data import SequentialSampler
from transformers import EarlyStoppingCallback, Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PredictionOutput


def build_trainer(
    model, training_args, tokenized, tokenizer, data_collator, compute_metrics=None, trainer_class=None, **trainer_kwargs
) -> "SeqModelsTrainer":
    """A trainer (`trainer_class`, by default `SeqModelsTrainer`, given `trainer_kwargs`) on the `train` split,
    evaluating on `validation`, stopping early if the arguments ask to."""
    callbacks = []
    if training_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=training_args.early_stopping_patience))
    return (trainer_class or SeqModelsTrainer)(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=data_collator,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        **trainer_kwargs,
    )


class SeqModelsTrainer(Trainer):
    """`Trainer` plus a wall clock in every log entry, an encoder learning rate of its own, predictions
    made shortest first, and our own model card."""

    model_card: ModelCard | None = None

    _started: float | None = None

    def train(self, *args, **kwargs):
        self._started, self._clock_offset = time.perf_counter(), None
        try:
            return super().train(*args, **kwargs)
        finally:
            self._started = None

    def log(self, logs, start_time=None):
        if self._started is not None:
            if self._clock_offset is None:
                # A resumed run continues the clock of the history it loaded from the checkpoint.
                previous = [entry["elapsed_seconds"] for entry in self.state.log_history if "elapsed_seconds" in entry]
                self._clock_offset = previous[-1] if previous else 0.0
            # A copy: evaluate() logs its own metrics dict, which it then returns to the caller.
            logs = {**logs, "elapsed_seconds": round(self._clock_offset + time.perf_counter() - self._started, 3)}
        super().log(logs, start_time)

    def create_optimizer(self, model=None):
        # Plain TrainingArguments (as `evaluate` passes, only to predict) have no encoder rate.
        encoder_rate = getattr(self.args, "encoder_learning_rate", None)
        if self.optimizer is not None or encoder_rate is None:  # given to the trainer, or already built
            return super().create_optimizer(model)
        optimizer = super().create_optimizer(model)
        # Discriminative fine-tuning (ULMFiT): Trainer's groups (decayed / not decayed) each split into
        # the encoder's parameters, at their own rate, and the head's. The scheduler is built after this
        # and scales every group's rate alike.
        opt_model = self.model if model is None else model
        encoder = {id(parameter) for parameter in opt_model.base_model.parameters()}
        groups, optimizer.param_groups = optimizer.param_groups, []  # no step taken yet: no state to move
        for group in groups:
            for in_encoder in (True, False):
                params = [p for p in group["params"] if (id(p) in encoder) == in_encoder]
                if params:
                    rate = encoder_rate if in_encoder else group["lr"]
                    optimizer.add_param_group({**group, "params": params, "lr": rate})
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        # transformers 5 builds the sampler from the dataset after dropping the columns forward() does
        # not take, our precomputed `length` among them, and group_by_length then re-measures every
        # example; the dataset as given still has it.
        dataset, args = self.train_dataset, self.args
        lengths_known = args.length_column_name in getattr(dataset, "column_names", ())
        if args.train_sampling_strategy != "group_by_length" or not lengths_known:
            return super()._get_train_sampler(dataset)
        # Grouped by the global batch (per device x processes x accumulation), not transformers' per-device
        # one: then 2 processes x 4 train on the very batches 1 process x 8 does.
        global_batch = args.train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
        seed = args.data_seed if args.data_seed is not None else args.seed
        return EpochSeededLengthGroupedSampler(global_batch, dataset[args.length_column_name], seed=seed)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix="test"):
        # Predicted shortest first, batches are padded to lengths close to their own, and the models' cost
        # follows the padded length: the 20 Newsgroups test split runs about 1.5x faster than in the
        # dataset's order. The outputs come back in the dataset's order.
        lengths = self.args.length_column_name
        if self.args.world_size > 1 or lengths not in getattr(test_dataset, "column_names", ()):
            return super().predict(test_dataset, ignore_keys, metric_key_prefix)
        order = np.argsort(test_dataset[lengths], kind="stable")
        output = super().predict(test_dataset.select(order), ignore_keys, metric_key_prefix)
        restore = np.argsort(order)

        def reorder(value):
            return type(value)(reorder(item) for item in value) if isinstance(value, (tuple, list)) else value[restore]

        label_ids = None if output.label_ids is None else reorder(output.label_ids)
        return PredictionOutput(reorder(output.predictions), label_ids, output.metrics)

    def _get_eval_sampler(self, eval_dataset):
        # Under group_by_length transformers 5 also reorders evaluation, and predict() then returns
        # rows in another order than the dataset's; test_predictions.csv must follow the dataset.
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate shards the data and gathers the results back in order
        return SequentialSampler(eval_dataset)

    def create_model_card(self, **kwargs):
        # push_to_hub() writes a card through this method; keep ours (results on validation and test).
        if self.model_card is None:
            return super().create_model_card(**kwargs)
        if self.is_world_process_zero():
            self.model_card.save(os.path.join(self.args.output_dir, "README.md"))


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` whose order depends only on (seed, epoch).

    Under DDP accelerate hands every process the same sampler and gives process `r` batches
    `r, r + N, ...` of its order, so the order must be the same in every process. transformers'
    sampler draws from the global torch generator, which dropout also draws from, by amounts that
    depend on each process's padded batch shapes: from the second epoch on, the processes would
    disagree and see some examples twice and others never. Trainer calls `set_epoch` before each
    epoch, which also makes a resumed run see the order it would have seen.
    """

    def __init__(self, batch_size: int, lengths, seed: int):
        super().__init__(batch_size, lengths=list(lengths), generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

