"""`distill()`: one student classifier trained on its teachers' probabilities (Hinton, Vinyals & Dean 2015) over a
transfer set that can be far larger than the labelled data, from arguments to an ordinary classifier folder.

It reads top to bottom like `jobs.train()`, which it follows step for step; what differs is the data (the
transfer set, `transfer.py`; under `--streaming` written to disk as it is labelled, `transfer_disk.py`), the
targets (the teachers' answers, `teachers.py`) and the loss (`DistillationTrainer.compute_loss`). The student
is any model `train` builds: `--architecture` (its recipe), a ready config, or `--model_name_or_path` (a
masked-LM folder, say).
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from transformers import DataCollatorWithPadding, set_seed

from ..errors import UsageError
from ..metrics import compute_metrics
from ..options import check_at_least
from ..serving.ensemble import check_weights, parse_weights
from .arguments import DataArguments, ModelArguments, SeqModelsTrainingArguments, parse_command_line
from .building import apply_word_vectors, build_model, build_tokenizer, describe_start, load_labelled_data, shared, tokenize_splits
from .checkpoints import checkpoint_step, resolve_checkpoint
from .jobs import fit, publish, score_and_save
from .teachers import TFIDF_TEACHER, check_teachers, soft_targets, teacher_answers, teacher_settings
from .trainer import SeqModelsTrainer, build_trainer
from .transfer import build_transfer_set, open_unlabelled_stream, read_unlabelled_file, unlabelled_remainder
from .transfer_disk import soft_targets_column, transfer_on_disk

logger = logging.getLogger(__name__)

# The column of the transfer set holding the teachers' probabilities at the distillation temperature.
TEACHER_COLUMN = "teacher_probabilities"
TRANSFER_FEATURES = datasets.Features(
    {"text": datasets.Value("string"), "label": datasets.Value("int64"), TEACHER_COLUMN: datasets.Sequence(datasets.Value("float32"))}
)


@dataclass
class DistillationArguments:
    """The teachers, the transfer set and the loss."""

    teacher: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"Teachers, averaged: classifier folders (this package's, exported ONNX ones, any transformers "
            f"sequence classifier) or Hub repos, and/or {TFIDF_TEACHER} (TF-IDF + LogisticRegression fitted on the labelled posts).",
            "nargs": "+",
        },
    )
    teacher_weights: str | None = field(
        default=None, metadata={"help": "Weights of the teachers' probabilities, comma-separated (default: equal)."}
    )
    alpha: float = field(
        default=0.5,
        metadata={"help": "Weight of the cross-entropy on gold labels; 1 - alpha weighs the teachers' term. In [0, 1]."},
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softmax temperature of teachers and student in the teachers' term (> 0)."}
    )
    unlabelled_weight: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the teachers' term on texts without a gold label (unlabelled text, altered copies), "
            "which have no gold term (≥ 0; default: 1 - alpha, its weight on labelled texts). 1 gives every text "
            "of the transfer set the same weight in the loss."
        },
    )
    unlabelled_file: str | None = field(
        default=None,
        metadata={"help": "More transfer text, without labels: .txt (a text per line), .csv, .json, .jsonl or .parquet."},
    )
    unlabelled_text_column: str = field(default="text", metadata={"help": "The text column of --unlabelled_file."})
    augment: int = field(
        default=2,
        metadata={
            "help": "Altered copies of every transfer text, labelled by the teachers alone: 20 %% of the words masked, "
            "half of the copies cut to a random 50-100 %% span."
        },
    )
    teacher_batch_size: int = field(default=128, metadata={"help": "Texts per batch when the teachers label the transfer set."})
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Read --unlabelled_file as a stream and write the transfer set to the output folder "
            "(transfer_set/) as the teachers label it, a batch at a time, for text larger than memory; "
            "training reads it memory-mapped, in ordinary epochs."
        },
    )

    def __post_init__(self):
        check_teachers(self.teacher)
        weights = parse_weights(self.teacher_weights, "--teacher_weights")
        self.weights = check_weights(weights, len(self.teacher), "--teacher_weights")
        if not 0 <= self.alpha <= 1:
            raise UsageError(f"--alpha must be in [0, 1] (the gold labels' share of the loss), got {self.alpha}")
        if not self.temperature > 0 or self.temperature == float("inf"):
            raise UsageError(f"--temperature must be a number > 0, got {self.temperature}")
        if self.unlabelled_weight is None:
            self.unlabelled_weight = 1 - self.alpha
        elif not 0 <= self.unlabelled_weight < float("inf"):
            raise UsageError(f"--unlabelled_weight must be a number ≥ 0, got {self.unlabelled_weight}")
        check_at_least("--augment", self.augment, 0)
        check_at_least("--teacher_batch_size", self.teacher_batch_size, 1)
        if self.unlabelled_file is not None and not Path(self.unlabelled_file).is_file():
            raise UsageError(f"--unlabelled_file {self.unlabelled_file!r}: no such file")


ARGUMENT_CLASSES = (ModelArguments, DataArguments, SeqModelsTrainingArguments, DistillationArguments)


def parse_distillation_args(argv: list[str] | None = None, prog: str | None = None):
    """Command line -> (ModelArguments, DataArguments, SeqModelsTrainingArguments, DistillationArguments), read as
    `train` reads its own: a leading CONFIG.json or the recipe `--architecture` names, then the options."""
    return parse_command_line(ARGUMENT_CLASSES, argv, prog)


# --------------------------------------------------------------------------- the loss


def distillation_loss(
    logits, labels, teacher_probabilities, alpha: float, temperature: float, num_items_in_batch=None, unlabelled_weight=None
):
    """alpha x cross-entropy on the gold label (texts whose label is `NO_LABEL` have none) + (1 - alpha) x T² x
    KL(teacher_T || student_T), summed over the texts and divided by `num_items_in_batch` (every text of the whole
    accumulated batch, across processes) or, without it, by the texts of this batch. On a text without a gold
    label the teachers' term weighs `unlabelled_weight` instead (default 1 - alpha): with 1, such a text counts in
    the loss as much as a labelled one, which without it counts 1 - alpha as much.

    T² keeps the teachers' term's gradients the size of the gold term's whatever T is (Hinton et al.).
    """
    logits = logits.float()
    has_label = labels >= 0
    gold = F.cross_entropy(logits, labels.clamp(min=0), reduction="none") * has_label
    student = F.log_softmax(logits / temperature, dim=-1)
    teacher = teacher_probabilities.float()
    kl = (torch.special.xlogy(teacher, teacher) - teacher * student).sum(-1)
    teacher_weight = torch.where(has_label, 1 - alpha, 1 - alpha if unlabelled_weight is None else unlabelled_weight)
    total = (alpha * gold + teacher_weight * temperature**2 * kl).sum()
    return total / (num_items_in_batch if num_items_in_batch is not None else len(labels))


class DistillationTrainer(SeqModelsTrainer):
    """`SeqModelsTrainer` whose training loss is `distillation_loss`, on batches that carry the teachers'
    probabilities; evaluation (no teachers) scores the gold labels' cross-entropy, as `train` does."""

    def __init__(self, *args, alpha: float, temperature: float, unlabelled_weight: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.temperature, self.unlabelled_weight = alpha, temperature, unlabelled_weight
        # compute_loss below divides by `num_items_in_batch` itself: Trainer then counts the items of the whole
        # accumulated batch (across processes) and does not also divide by the accumulation steps.
        self.model_accepts_loss_kwargs = True

    def _set_signature_columns_if_needed(self):
        # The teachers' column is no argument of forward(), but compute_loss needs it: keep it in the batches.
        super()._set_signature_columns_if_needed()
        if TEACHER_COLUMN not in self._signature_columns:
            self._signature_columns.append(TEACHER_COLUMN)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher = inputs.pop(TEACHER_COLUMN, None)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        if teacher is None:  # evaluation: the gold labels alone
            loss = F.cross_entropy(outputs.logits.float(), labels, reduction="sum")
            loss = loss / (num_items_in_batch if num_items_in_batch is not None else len(labels))
        else:
            loss = distillation_loss(
                outputs.logits, labels, teacher, self.alpha, self.temperature, num_items_in_batch, self.unlabelled_weight
            )
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # `num_items_in_batch` counts every process's items and DDP averages the gradients over the processes.
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


# --------------------------------------------------------------------------- the job


def distill(model_args: ModelArguments, data_args: DataArguments, training_args, distill_args: DistillationArguments) -> dict:
    """Train one student on its teachers' answers over the transfer set; score it on validation and test and
    write an ordinary classifier folder (with `teacher_log_probabilities.npz` beside it); returns the summary,
    whose `distillation` says what the teachers, the transfer set and the loss were."""
    # Arguments
    set_seed(training_args.seed)
    checkpoint = resolve_checkpoint(training_args)
    resumed_from_step = checkpoint_step(checkpoint)
    start_from = checkpoint or model_args.model_name_or_path

    # Data: the labelled posts, validation and test as `train` has them; the unlabelled text beside them
    raw = load_labelled_data(data_args, training_args)
    label_names = raw["train"].features["label"].names
    with training_args.main_process_first(desc="unlabelled text"):
        unlabelled = unlabelled_remainder(data_args)
        stream = None
        if distill_args.unlabelled_file is not None and distill_args.streaming:
            stream = open_unlabelled_stream(distill_args.unlabelled_file, distill_args.unlabelled_text_column)
        elif distill_args.unlabelled_file is not None:
            unlabelled += read_unlabelled_file(distill_args.unlabelled_file, distill_args.unlabelled_text_column)

    # Tokenizer: fitted on the transfer set's own text (labelled and unlabelled; never validation or test), read
    # once as it goes by: train_tokenizer counts words, not texts, so a streamed file is never held whole.
    def original_texts():
        yield from raw["train"]["text"]
        yield from unlabelled
        if stream is not None:
            yield from stream.texts()

    tokenizer = shared(training_args, lambda: build_tokenizer(model_args, original_texts(), start_from))

    # Teachers: each labels the transfer set and validation once (or is read back from the output folder)
    make = transfer_streamed if distill_args.streaming else transfer_in_memory
    transfer, answers, transfer_split = make(raw, unlabelled, stream, tokenizer, distill_args, training_args)
    logger.info("transfer set: %s", transfer.describe())
    record = distillation_record(answers, distill_args, transfer, np.asarray(raw["validation"]["label"]))
    logger.info("teachers on validation: %s", {entry["teacher"]: entry["validation_accuracy"] for entry in record["teachers"]})

    tokenized = tokenize_splits(
        datasets.DatasetDict(train=transfer_split, validation=raw["validation"], test=raw["test"]), tokenizer, training_args
    )

    # Model
    model = build_model(model_args, tokenizer, label_names, start_from)
    embeddings = apply_word_vectors(model, tokenizer, model_args, seed=training_args.seed)
    start = describe_start(model_args, model, resumed=checkpoint is not None)

    # Trainer
    collator = DataCollatorWithPadding(tokenizer)
    trainer = build_trainer(
        model, training_args, tokenized, tokenizer, collator, compute_metrics,
        trainer_class=DistillationTrainer, alpha=distill_args.alpha, temperature=distill_args.temperature,
        unlabelled_weight=distill_args.unlabelled_weight,
    )  # fmt: skip

    # Train; predict validation and test with the best model; save outputs and the model card; push
    train_metrics = fit(trainer, checkpoint)
    summary = score_and_save(
        trainer, train_metrics, tokenized, raw, (model_args, data_args, training_args), resumed_from_step,
        embeddings=embeddings, start=start, distillation=record,
    )  # fmt: skip
    teachers = " + ".join(entry["teacher"] for entry in record["teachers"])
    publish(trainer, commit_message=f"{summary['architecture']} distilled from {teachers} on {data_args.source}")
    return summary


def transfer_in_memory(raw, unlabelled: list[str], stream, tokenizer, distill_args, training_args):
    """(TransferSet, the teachers' answers, the transfer split with the teachers' soft targets), all in memory;
    the answers cached in `teacher_log_probabilities.npz` (`teachers.teacher_answers`)."""
    mask_token = tokenizer.mask_token or ""
    transfer = build_transfer_set(raw["train"], unlabelled, distill_args.augment, mask_token, training_args.seed)
    label_names = raw["train"].features["label"].names

    def label():
        return teacher_answers(
            distill_args.teacher,
            label_names,
            transfer.texts,
            (list(raw["train"]["text"]), list(raw["train"]["label"])),
            list(raw["validation"]["text"]),
            Path(training_args.output_dir),
            device=training_args.device,
            batch_size=distill_args.teacher_batch_size,
            seed=training_args.seed,
        )

    answers = shared(training_args, label)
    targets = soft_targets(answers, distill_args.weights, distill_args.temperature)
    columns = {"text": transfer.texts, "label": transfer.labels, TEACHER_COLUMN: list(targets)}
    return transfer, answers, datasets.Dataset.from_dict(columns, features=TRANSFER_FEATURES)


def transfer_streamed(raw, unlabelled: list[str], stream, tokenizer, distill_args, training_args):
    """`transfer_in_memory` under --streaming: the unlabelled text read a batch at a time and the transfer set
    written to the output folder as the teachers label it (`transfer_disk.py`), then memory-mapped; the main
    process makes it, the others read it back."""
    with training_args.main_process_first(desc="transfer set"):
        transfer, answers = transfer_on_disk(
            distill_args.teacher,
            raw["train"].features["label"].names,
            raw["train"],
            unlabelled,
            stream,
            list(raw["validation"]["text"]),
            Path(training_args.output_dir),
            augment=distill_args.augment,
            mask_token=tokenizer.mask_token or "",
            seed=training_args.seed,
            device=training_args.device,
            batch_size=distill_args.teacher_batch_size,
        )
        split = soft_targets_column(transfer.dataset, distill_args.weights, distill_args.temperature, TEACHER_COLUMN)
    return transfer, answers, split


def distillation_record(answers, distill_args: DistillationArguments, transfer, validation_labels) -> dict:
    """What the summary and the model card say of a distillation: each teacher and its validation accuracy, the
    averaged teacher's, the transfer set's make-up and the loss's settings."""
    teachers = []
    for answer, weight in zip(answers, distill_args.weights):
        accuracy = float((answer.validation.argmax(-1) == validation_labels).mean())
        teachers.append(
            {**teacher_settings(answer.name), "weight": weight, "validation_accuracy": accuracy,
             "labelling_seconds": round(answer.seconds, 1)}
        )  # fmt: skip
    mean = soft_targets(answers, distill_args.weights, 1.0, split="validation")
    return {
        "teachers": teachers,
        "teacher_validation_accuracy": float((mean.argmax(-1) == validation_labels).mean()),
        "labelling_seconds": round(sum(answer.seconds for answer in answers), 1),
        "transfer_set": transfer.describe(),
        "alpha": distill_args.alpha,
        "temperature": distill_args.temperature,
        "unlabelled_weight": distill_args.unlabelled_weight,
        "augment": distill_args.augment,
        "unlabelled_file": distill_args.unlabelled_file,
        "streaming": distill_args.streaming,
    }
