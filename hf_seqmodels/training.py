"""Training: a text-classification data set -> TF-IDF tokenizer -> Trainer -> a folder ready for the Hub.

The one place where data, tokenizer, model and `Trainer` meet. `train()` reads top to bottom like
transformers' `examples/pytorch/text-classification/run_classification.py`:

    arguments -> data -> tokenizer -> tokenized datasets -> model -> Trainer -> train
      -> evaluate (validation) -> predict (test) -> save outputs and the model card

`parse_args()` turns a command line (optionally starting with a JSON config file) into the three
argument dataclasses; `hf-seqmodels train` and `scripts/train.py` are `parse_args()` + `train()`.
The model card is written by `model_card.py`; a saved folder is scored and used by `inference.py`.

Only the main process writes files and tokenization runs inside `main_process_first()`, so the same
code runs unchanged under `accelerate launch` / `torchrun`.
"""

import csv
import dataclasses
import difflib
import json
import logging
import os
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import torch
from torch.utils.data import SequentialSampler
from accelerate.utils import broadcast_object_list
from huggingface_hub import ModelCard
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError, safe_open
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    set_seed,
)
from transformers import TrainingArguments as HfTrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, IntervalStrategy, SaveStrategy

from .data import NEWSGROUPS, REMOVABLE, load_newsgroups, load_text_dataset, stratified_split
from .metrics import classification_report, compute_metrics, plot_confusion_matrix
from .model_card import build_model_card
from .models import ARCHITECTURES, own_config_fields
from .tokenization import train_tokenizer
from .validation import check_classes

logger = logging.getLogger(__name__)

# The ready config files, one per architecture; installed with the package.
CONFIG_DIR = Path(__file__).with_name("configs")
# Set from the tokenizer, never by hand: a mismatch would index outside the embedding.
TOKENIZER_OWNED_CONFIG_KEYS = ("vocab_size", "pad_token_id")


class UsageError(ValueError):
    """A mistake in the user's arguments; the command line reports it in one line with exit code 2."""


# --------------------------------------------------------------------------- arguments


@dataclass
class ModelArguments:
    """Which model to train, and the tokenizer it reads with."""

    architecture: Literal["rnn", "lstm", "gru", "transformer"] | None = field(
        default=None, metadata={"help": "Model to train from scratch: rnn, lstm, gru or transformer."}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Start from a saved folder or Hub repo (its tokenizer too) instead of from scratch."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config values to change, e.g. 'hidden_size=256,pooling=mean,bidirectional=false'."},
    )
    vocab_size: int = field(
        default=30000, metadata={"help": "Tokenizer vocabulary size, [PAD] and [UNK] included (from scratch only)."}
    )
    max_length: int = field(default=256, metadata={"help": "Texts are truncated to this many tokens."})
    min_df: float = field(
        default=2,
        metadata={"help": "Words in fewer training texts are left out: a count if ≥ 1, else a fraction."},
    )

    def __post_init__(self):
        if self.architecture is None and self.model_name_or_path is None:
            raise UsageError(
                f"give --architecture (one of {', '.join(ARCHITECTURES)}) or --model_name_or_path (a saved folder)"
            )
        if self.max_length < 1:
            raise UsageError(f"--max_length must be ≥ 1, got {self.max_length}")
        if self.vocab_size < 3:
            raise UsageError(f"--vocab_size must be ≥ 3 ([PAD], [UNK] and at least one word), got {self.vocab_size}")
        if self.min_df <= 0:
            raise UsageError(f"--min_df must be a count ≥ 1 or a fraction in (0, 1), got {self.min_df}")
        if self.architecture is not None and self.model_name_or_path is None:
            # Checked now, before minutes of loading and tokenizing; a saved model's config is checked on load.
            config_class = ARCHITECTURES[self.architecture].config_class
            overrides = parse_config_overrides(self.config_overrides, config_class)
            try:
                config_class(**overrides)
            except (ValueError, TypeError) as error:  # the config's own checks name the field and what is valid
                raise UsageError(f"--config_overrides {self.config_overrides!r}: {error}") from error
        path = self.model_name_or_path
        if path is not None and os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
            raise UsageError(f"--model_name_or_path {path!r}: not a saved model folder (it has no config.json)")


@dataclass
class DataArguments:
    """Where the texts come from: 20 Newsgroups (the default), a Hub data set, or local files."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "A data set for datasets.load_dataset (Hub name or local folder); default: 20 Newsgroups."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of --dataset_name."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: .csv, .json, .jsonl or .parquet."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation data (default: carved from the training data)."}
    )
    test_file: str | None = field(
        default=None, metadata={"help": "Test data (default: carved from the training data)."}
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the text (files, Hub data sets)."})
    label_column: str = field(default="label", metadata={"help": "Column holding the label (files, Hub data sets)."})
    protocol: Literal["bydate", "seed"] = field(
        default="bydate",
        metadata={"help": "20 Newsgroups split: bydate (standard train/test) or seed (all posts, random 60/20/20)."},
    )
    remove: str = field(
        default="", metadata={"help": "20 Newsgroups parts to strip, comma-separated: headers,footers,quotes."}
    )
    categories: str | None = field(
        default=None, metadata={"help": "20 Newsgroups groups to keep, comma-separated (default: all 20)."}
    )
    data_home: str | None = field(
        default=None,
        metadata={"help": "scikit-learn data folder (default: $SCIKIT_LEARN_DATA or ~/scikit_learn_data)."},
    )
    validation_size: float = field(
        default=0.1, metadata={"help": "Fraction of the training data carved off as validation when none is given."}
    )
    test_size: float = field(
        default=0.1, metadata={"help": "Fraction of the training data carved off as test when none is given (files)."}
    )
    split_seed: int = field(
        default=42, metadata={"help": "Seed of the carved splits and of the --max_*_samples slices."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on a seeded, stratified sample of this many examples."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Same for the validation split."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Same for the test split."})

    def __post_init__(self):
        if self.dataset_name and self.train_file:
            raise UsageError("give either --dataset_name or --train_file, not both")
        for option in ("train_file", "validation_file", "test_file"):
            path = getattr(self, option)
            if path is not None and not Path(path).is_file():
                raise UsageError(f"--{option} {path!r}: no such file")
        if (self.validation_file or self.test_file) and not self.train_file:
            raise UsageError("--validation_file / --test_file need --train_file")
        for option in ("max_train_samples", "max_eval_samples", "max_test_samples"):
            value = getattr(self, option)
            if value is not None and value < 1:
                raise UsageError(f"--{option} must be ≥ 1, got {value}")
        for option in ("validation_size", "test_size"):
            value = getattr(self, option)
            if not 0 < value < 1:
                raise UsageError(f"--{option} must be a fraction strictly between 0 and 1, got {value}")
        # The 20 Newsgroups names are known in advance: check them before minutes of loading.
        for option, valid in (("remove", REMOVABLE), ("categories", NEWSGROUPS)):
            for entry in _comma_list(getattr(self, option)):
                if entry not in valid:
                    close = difflib.get_close_matches(entry, valid, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    raise UsageError(f"--{option}: {entry!r} is not one of {', '.join(valid)}{hint}")

    @property
    def is_newsgroups(self) -> bool:
        return not (self.dataset_name or self.train_file)

    @property
    def source(self) -> str:
        """A short human-readable name of the data, for logs and the model card."""
        if self.is_newsgroups:
            return "20 Newsgroups"
        return self.dataset_name or Path(self.train_file).name


def _keep(name: str, default):
    """A `TrainingArguments` field with our default and transformers' help text."""
    parent = {f.name: f for f in dataclasses.fields(HfTrainingArguments)}[name]
    return field(default=default, metadata=parent.metadata)


@dataclass
class SeqModelsTrainingArguments(HfTrainingArguments):
    """transformers' `TrainingArguments` with defaults for training small models from scratch.

    Evaluate and checkpoint once per epoch, keep the best epoch by validation macro-F1 (20 Newsgroups'
    classes differ in size; accuracy would favour the large ones), stop early when it stops improving,
    batch texts of similar length together so that padding wastes little time.
    """

    learning_rate: float = _keep("learning_rate", 2e-3)
    weight_decay: float = _keep("weight_decay", 0.01)
    num_train_epochs: float = _keep("num_train_epochs", 10.0)
    per_device_train_batch_size: int = _keep("per_device_train_batch_size", 64)
    per_device_eval_batch_size: int = _keep("per_device_eval_batch_size", 128)
    eval_strategy: IntervalStrategy | str = _keep("eval_strategy", "epoch")
    save_strategy: SaveStrategy | str = _keep("save_strategy", "epoch")
    logging_strategy: IntervalStrategy | str = _keep("logging_strategy", "epoch")
    save_total_limit: int | None = _keep("save_total_limit", 2)
    load_best_model_at_end: bool = _keep("load_best_model_at_end", True)
    metric_for_best_model: str | None = _keep("metric_for_best_model", "macro_f1")
    train_sampling_strategy: str = _keep("train_sampling_strategy", "group_by_length")
    # transformers turns find_unused_parameters on for every PreTrainedModel, which costs DDP an extra
    # graph traversal each step; every parameter of our models gets a gradient (tests/test_models.py).
    ddp_find_unused_parameters: bool | None = _keep("ddp_find_unused_parameters", False)
    # Pinned memory only helps copies to an accelerator; without one, torch warns at every evaluation.
    dataloader_pin_memory: bool = _keep("dataloader_pin_memory", torch.accelerator.is_available())
    early_stopping_patience: int = field(
        default=2,
        metadata={"help": "Stop after this many evaluations without a better metric_for_best_model; 0: never."},
    )

    def __post_init__(self):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available():
            # Under torchrun / `accelerate launch` on a machine without an accelerator, accelerate starts
            # the gloo process group only when told the processes are CPU ones; otherwise each process
            # silently trains alone and they all write the same folder.
            self.use_cpu = True
        super().__post_init__()
        # Checked here, not when the optimizer or data loader is built after minutes of data loading.
        for option, minimum in (
            ("learning_rate", 0),
            ("weight_decay", 0),
            ("per_device_train_batch_size", 1),
            ("per_device_eval_batch_size", 1),
            ("gradient_accumulation_steps", 1),
            ("early_stopping_patience", 0),
        ):
            value = getattr(self, option)
            if value < minimum:
                raise UsageError(f"--{option} must be ≥ {minimum}, got {value}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise UsageError(f"--num_train_epochs must be > 0 (or give --max_steps), got {self.num_train_epochs}")
        evaluates = self.eval_strategy != IntervalStrategy.NO and self.metric_for_best_model
        if self.early_stopping_patience and not evaluates:
            raise UsageError(
                f"--early_stopping_patience {self.early_stopping_patience} needs --eval_strategy epoch or steps "
                "and a --metric_for_best_model; pass --early_stopping_patience 0 to train without it"
            )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, SeqModelsTrainingArguments)


def parse_args(argv: list[str] | None = None, prog: str | None = None):
    """Command line -> (ModelArguments, DataArguments, SeqModelsTrainingArguments).

    As in transformers' example scripts, a first argument ending in `.json` is a config file: one flat
    dict of argument names (a path, or the name of one shipped in `hf_seqmodels/configs`, e.g.
    `gru.json`). Unlike them, options after it override the file's values, e.g.
    `gru.json --num_train_epochs 1`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_file = find_config_file(argv.pop(0)) if argv and argv[0].endswith(".json") else None
    usage = "%(prog)s [CONFIG.json] [--option value ...]  (options after CONFIG.json override its values)"
    return parse_arguments(ARGUMENT_CLASSES, argv, prog=prog, defaults_file=config_file, usage=usage)


def find_config_file(path: str) -> Path:
    """A config file as given, or else the one of that name shipped with the package (`gru.json`)."""
    if Path(path).is_file():
        return Path(path)
    shipped = CONFIG_DIR / Path(path).name
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(config.name for config in CONFIG_DIR.glob("*.json")))
    raise UsageError(f"config file {path!r}: no such file, nor one shipped with hf_seqmodels ({names})")


def parse_arguments(argument_classes, argv: list[str], prog: str | None = None, defaults_file=None, usage=None):
    """HfArgumentParser over `argument_classes`, the values in the JSON `defaults_file` replacing the defaults."""
    parser = HfArgumentParser(argument_classes, prog=prog, usage=usage)
    if defaults_file is not None:
        # The file's values become the parser's defaults, so anything on the command line wins.
        parser.set_defaults(**read_json_args(defaults_file, argument_classes))
    try:
        return parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    except UsageError:
        raise
    except ValueError as error:  # TrainingArguments' own checks, and arguments no dataclass knows
        raise UsageError(str(error)) from error


def read_json_args(path, argument_classes) -> dict:
    """A flat JSON dict of argument names, checked against the dataclasses' fields."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r}: no such file") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"config file {str(path)!r} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise UsageError(f"config file {str(path)!r} must hold one JSON object of argument names")
    known = {f.name for cls in argument_classes for f in dataclasses.fields(cls) if f.init}
    for name in values:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(f"config file {str(path)!r}: unknown argument {name!r}{hint}")
    return values


def parse_config_overrides(overrides: str | None, config_class) -> dict:
    """`"hidden_size=256,pooling=mean"` -> `{"hidden_size": 256, "pooling": "mean"}`, typed like the config."""
    if not overrides:
        return {}
    valid = [name for name in own_config_fields(config_class) if name not in TOKENIZER_OWNED_CONFIG_KEYS]
    defaults = config_class()
    parsed = {}
    for item in overrides.split(","):
        key, _, text = (part.strip() for part in item.partition("="))
        if key not in valid:
            raise UsageError(
                f"--config_overrides: {key!r} is not a {config_class.__name__} option; valid keys: {', '.join(valid)}"
            )
        parsed[key] = _convert(key, text, getattr(defaults, key))
    return parsed


def _convert(key: str, text: str, default):
    """Read `text` as the type of the config field's default value."""
    if isinstance(default, bool):
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() in truth:
            return truth[text.lower()]
        expected = "true or false"
    elif isinstance(default, (int, float)):
        try:
            return type(default)(text)
        except ValueError:
            expected = "an integer" if isinstance(default, int) else "a number"
    else:
        return text
    raise UsageError(f"--config_overrides: {key}={text!r} must be {expected}")


# --------------------------------------------------------------------------- data, tokenizer, model


def load_data(data_args: DataArguments) -> datasets.DatasetDict:
    """The `train` / `validation` / `test` splits (`text`, `label: ClassLabel`) that `data_args` describe."""
    try:
        if not data_args.is_newsgroups:
            splits = load_text_dataset(
                train_file=data_args.train_file,
                validation_file=data_args.validation_file,
                test_file=data_args.test_file,
                dataset_name=data_args.dataset_name,
                dataset_config_name=data_args.dataset_config_name,
                text_column=data_args.text_column,
                label_column=data_args.label_column,
                validation_size=data_args.validation_size,
                test_size=data_args.test_size,
                seed=data_args.split_seed,
            )
        else:
            splits = load_newsgroups(
                protocol=data_args.protocol,
                remove=_comma_list(data_args.remove),
                categories=_comma_list(data_args.categories) or None,
                validation_size=data_args.validation_size,
                seed=data_args.split_seed,
                data_home=data_args.data_home,
            )
    except (ValueError, FileNotFoundError) as error:  # bad columns, labels, names of groups or data sets
        raise UsageError(str(error)) from error
    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_test_samples,
    }
    return datasets.DatasetDict(
        {split: sample(dataset, limits[split], data_args.split_seed) for split, dataset in splits.items()}
    )


def _comma_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def sample(dataset: datasets.Dataset, limit: int | None, seed: int) -> datasets.Dataset:
    """A seeded sample of `limit` examples in the class proportions of `dataset` (every class, where it can)."""
    if limit is None or limit >= len(dataset):
        return dataset
    try:
        return stratified_split(dataset, seed, train_size=limit)[0]
    except ValueError:  # fewer examples than classes, or a class with one example: cannot stratify
        return dataset.shuffle(seed=seed).select(range(limit))


def build_tokenizer(model_args: ModelArguments, train_texts, start_from: str | None):
    """A saved model keeps its tokenizer (its embedding rows belong to its ids); a new one learns `train_texts`."""
    if start_from is not None:
        with loading_errors("--model_name_or_path", start_from):
            tokenizer = AutoTokenizer.from_pretrained(start_from)
        tokenizer.model_max_length = model_args.max_length  # saved with the model: predict() truncates alike
        return tokenizer
    min_df = int(model_args.min_df) if model_args.min_df >= 1 else model_args.min_df
    return train_tokenizer(
        train_texts, vocab_size=model_args.vocab_size, model_max_length=model_args.max_length, min_df=min_df
    )


def tokenize(splits: datasets.DatasetDict, tokenizer, max_length: int) -> datasets.DatasetDict:
    """input_ids / attention_mask truncated to `max_length`, and `length` for `group_by_length`; no padding yet."""

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_length=True)

    return splits.map(encode, batched=True, remove_columns=["text"], desc="Tokenizing")


def build_model(model_args: ModelArguments, tokenizer, label_names, start_from: str | None):
    """A new classifier sized to the tokenizer, or a saved one (its config overridden) with our labels."""
    labels = dict(
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
    )
    try:
        if start_from is not None:
            with loading_errors("--model_name_or_path", start_from):
                config_class = type(AutoConfig.from_pretrained(start_from))
            overrides = parse_config_overrides(model_args.config_overrides, config_class)
            config = AutoConfig.from_pretrained(start_from, **overrides, **labels)
            if model_args.architecture not in (None, _architecture_name(config)):
                raise UsageError(
                    f"--architecture {model_args.architecture} does not match the {_architecture_name(config)} "
                    f"model in {start_from!r}; leave --architecture out to continue from it"
                )
            _check_positions(config, model_args.max_length)
            check_vocabulary(tokenizer, config, start_from)
            # A different set of labels gets a new classification layer; everything else is kept.
            with loading_errors("--model_name_or_path", start_from):
                return AutoModelForSequenceClassification.from_pretrained(
                    start_from, config=config, ignore_mismatched_sizes=True, use_safetensors=True
                )
        config_class = ARCHITECTURES[model_args.architecture].config_class
        overrides = parse_config_overrides(model_args.config_overrides, config_class)
        config = config_class(
            **overrides, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **labels
        )
    except UsageError:
        raise
    except (ValueError, TypeError) as error:  # the config's own checks name the field and what is valid
        raise UsageError(f"--config_overrides {model_args.config_overrides!r}: {error}") from error
    _check_positions(config, model_args.max_length)
    return ARCHITECTURES[model_args.architecture].classifier_class(config)


def _check_positions(config, max_length: int) -> None:
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and max_length > positions:
        raise UsageError(
            f"--max_length {max_length} exceeds the model's max_position_embeddings ({positions}); "
            f"lower --max_length or add max_position_embeddings={max_length} to --config_overrides"
        )


def resolve_checkpoint(training_args) -> str | None:
    """`--resume_from_checkpoint` as a folder: a path as given, or `last` / `true` for the newest in output_dir."""
    value = training_args.resume_from_checkpoint
    if value is None or value.lower() in ("false", "no", ""):
        return None
    if value.lower() in ("last", "true", "yes"):
        folder = training_args.output_dir
        checkpoints = sorted(
            (path for path in Path(folder).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if _checkpoint_number(path) is not None),
            key=_checkpoint_number,
            reverse=True,
        ) if os.path.isdir(folder) else []
        if not checkpoints:
            raise UsageError(f"--resume_from_checkpoint {value}: no checkpoint-* folder in {folder!r}")
        # Trainer writes a checkpoint file by file, in place: a run killed while saving leaves the
        # newest folder half written. Resume from the newest complete one instead.
        for checkpoint in checkpoints:
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                return str(checkpoint)
            logger.warning("skipping incomplete checkpoint %s: %s", checkpoint, problem)
        raise UsageError(f"--resume_from_checkpoint {value}: no complete checkpoint in {folder!r} ({problem})")
    if (problem := checkpoint_problem(Path(value))) is not None:
        raise UsageError(f"--resume_from_checkpoint {value!r}: not a complete checkpoint folder ({problem})")
    return value


def _checkpoint_number(path: Path) -> int | None:
    number = path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
    return int(number) if number.isdigit() and path.is_dir() else None


def checkpoint_problem(folder: Path) -> str | None:
    """Why `folder` is not a checkpoint Trainer can resume from, or None when it is complete.

    Trainer saves the model, optimizer, scheduler and RNG state first and `trainer_state.json` last,
    so a readable state file for the folder's own step, a readable safetensors header covering the
    whole file, and intact zip archives (what `torch.save` writes) mean the save finished.
    """
    state_file = folder / "trainer_state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json"
    except (OSError, ValueError) as error:
        return f"trainer_state.json is unreadable ({_first_line(error)})"
    number = _checkpoint_number(folder)
    if number is not None and state.get("global_step") != number:
        return f"trainer_state.json is for step {state.get('global_step')}, not {number}"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return "no model.safetensors"
    try:
        with safe_open(weights, framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError) as error:
        return f"model.safetensors is corrupt or truncated ({_first_line(error)})"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        path = folder / name
        if path.exists() and not zipfile.is_zipfile(path):
            return f"{name} is truncated"
    return None


# --------------------------------------------------------------------------- Trainer


class SeqModelsTrainer(Trainer):
    """`Trainer` plus a wall clock in every log entry, and our own model card."""

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


# --------------------------------------------------------------------------- train


def train(model_args: ModelArguments, data_args: DataArguments, training_args: SeqModelsTrainingArguments) -> dict:
    """Train one model, evaluate it on validation and test, and write the output folder; returns a summary.

    The summary (also written as `training_summary.json`) holds `architecture`, `output_dir`,
    `num_parameters`, `epochs`, `global_step`, `resumed_from_step`, `best_checkpoint`, `train_runtime`,
    `train_samples_per_second`, `inference_samples_per_second`, `validation` and `test`
    (`loss` / `accuracy` / `macro_f1`), and `history`: one entry per evaluation during training.
    """
    # Arguments
    set_seed(training_args.seed)
    checkpoint = resolve_checkpoint(training_args)
    # Read now: by the end of training, checkpoint rotation may have deleted the folder.
    resumed_from_step = _checkpoint_step(checkpoint)
    start_from = checkpoint or model_args.model_name_or_path

    # Data: the main process reads (and caches, for Hub data sets and files) first, the others then.
    with training_args.main_process_first(desc="loading data"):
        raw = load_data(data_args)
    try:
        check_classes(raw["train"], data_args.source)
    except ValueError as error:
        raise UsageError(str(error)) from error
    label_names = raw["train"].features["label"].names
    logger.info(
        "%s: %s examples, %d classes",
        data_args.source,
        " / ".join(f"{split} {len(raw[split])}" for split in raw),
        len(label_names),
    )

    # Tokenizer: fitted on the training split only, so validation and test words stay unseen.
    # Under several processes the main one fits it and sends it to the others, so all read alike.
    tokenizer = shared(training_args, lambda: build_tokenizer(model_args, raw["train"]["text"], start_from))

    # Tokenized datasets: the main process maps first, the others then read its cache.
    with training_args.main_process_first(desc="tokenization"):
        tokenized = tokenize(raw, tokenizer, model_args.max_length)

    # Model
    model = build_model(model_args, tokenizer, label_names, start_from)
    architecture = _architecture_name(model.config)
    logger.info("%s: %s parameters, vocabulary %d", architecture, f"{model.num_parameters():,}", len(tokenizer))

    # Trainer
    callbacks = []
    if training_args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=training_args.early_stopping_patience))
    trainer = SeqModelsTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )

    # Train
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    history = _epoch_history(trainer.state.log_history)
    trainer.save_model()  # the best epoch's weights, with the tokenizer
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    # Evaluate
    eval_metrics = trainer.evaluate()
    trainer.save_metrics("eval", eval_metrics)

    # Predict
    test = trainer.predict(tokenized["test"], metric_key_prefix="test")
    trainer.save_metrics("test", test.metrics)

    # Save outputs and the model card
    summary = {
        "architecture": architecture,
        "output_dir": training_args.output_dir,
        "num_parameters": model.num_parameters(),
        "epochs": trainer.state.epoch,
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train_runtime": train_result.metrics["train_runtime"],
        "train_samples_per_second": train_result.metrics["train_samples_per_second"],
        "inference_samples_per_second": test.metrics["test_samples_per_second"],
        "validation": split_metrics(eval_metrics, "eval"),
        "test": split_metrics(test.metrics, "test"),
        "history": history,
    }
    if trainer.is_world_process_zero():
        output_dir = Path(training_args.output_dir)
        write_predictions(output_dir / "test_predictions.csv", test.predictions, test.label_ids, label_names)
        write_evaluation(output_dir, "test", test.predictions, test.label_ids, label_names)
        (output_dir / "data_args.json").write_text(json.dumps(dataclasses.asdict(data_args), indent=2) + "\n")
        (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    trainer.model_card = build_model_card(summary, model, tokenizer, raw, model_args, data_args, training_args)
    trainer.create_model_card()
    if training_args.push_to_hub:
        trainer.push_to_hub(commit_message=f"{architecture} trained on {data_args.source}")
    return summary


def shared(training_args, build):
    """`build()` in the main process, its result pickled to the others (every process when there is one)."""
    if training_args.world_size <= 1:
        return build()
    value = [None]
    if training_args.process_index == 0:
        try:
            value = [build()]
        except Exception as error:  # sent too: every process then stops with the same message
            value = [error]
    broadcast_object_list(value, from_process=0)
    if isinstance(value[0], Exception):
        raise value[0]
    return value[0]


def _architecture_name(config) -> str:
    """`seqmodels_gru` -> `gru`: the names `--architecture` takes."""
    return config.model_type.removeprefix("seqmodels_")


def _checkpoint_step(checkpoint: str | None) -> int:
    if checkpoint is None:
        return 0
    return json.loads(Path(checkpoint, "trainer_state.json").read_text())["global_step"]


def split_metrics(metrics: dict, prefix: str) -> dict:
    return {name: metrics[f"{prefix}_{name}"] for name in ("loss", "accuracy", "macro_f1")}


def _epoch_history(log_history: list[dict]) -> list[dict]:
    """One entry per evaluation during training, with the training loss logged at the same step."""
    train_loss = {entry["step"]: entry["loss"] for entry in log_history if "loss" in entry}
    return [
        {
            "epoch": entry["epoch"],
            "step": entry["step"],
            "elapsed_seconds": entry.get("elapsed_seconds"),
            "train_loss": train_loss.get(entry["step"]),
            "eval_loss": entry["eval_loss"],
            "eval_accuracy": entry["eval_accuracy"],
            "eval_macro_f1": entry["eval_macro_f1"],
        }
        for entry in log_history
        if "eval_macro_f1" in entry
    ]


# --------------------------------------------------------------------------- outputs


def write_predictions(path: Path, logits, label_ids, label_names) -> None:
    """One row per example, in the split's order: true label, predicted label, its probability."""
    probabilities = torch.from_numpy(np.asarray(logits)).float().softmax(dim=-1).numpy()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "label", "prediction", "score"])
        for index, (label, row) in enumerate(zip(label_ids, probabilities)):
            predicted = int(row.argmax())
            writer.writerow([index, label_names[label], label_names[predicted], f"{row[predicted]:.6f}"])


def write_evaluation(folder: Path, split: str, logits, label_ids, label_names) -> dict:
    """`classification_report_{split}.json` (per class and averaged) and `confusion_matrix_{split}.png`."""
    predictions = np.asarray(logits).argmax(axis=-1)
    report = classification_report(label_ids, predictions, label_names)
    (folder / f"classification_report_{split}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_confusion_matrix(label_ids, predictions, label_names, folder / f"confusion_matrix_{split}.png")
    return report


# --------------------------------------------------------------------------- loading a saved folder


@contextmanager
def loading_errors(option: str, path: str):
    """Turn what a broken, foreign or missing folder raises while loading into one `UsageError` naming it."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise UsageError(f"{option} {path!r}: not a saved model folder (it has no config.json)")
    try:
        yield
    except UsageError:
        raise
    except SafetensorError as error:
        raise UsageError(
            f"{option} {path!r}: model.safetensors is corrupt or truncated ({_first_line(error)})"
        ) from error
    except StrictDataclassError as error:  # a config.json field of the wrong type; the message names it
        raise UsageError(f"{option} {path!r}: config.json is invalid: {_one_line(error)}") from error
    except (OSError, ValueError) as error:  # no such folder or repo, no weights, unreadable JSON, unknown type
        raise not_a_model(option, path, error) from error


def not_a_model(option: str, path: str, error: Exception) -> UsageError:
    return UsageError(f"{option} {path!r}: not a saved model folder or Hub repo ({_first_line(error)})")


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _one_line(error: Exception) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def check_vocabulary(tokenizer, config, path: str) -> None:
    """Refuse a tokenizer that can produce ids the model's embedding has no row for."""
    largest = max(tokenizer.get_vocab().values())
    vocab_size = getattr(config, "vocab_size", None)
    if vocab_size is not None and largest >= vocab_size:
        raise UsageError(
            f"{path!r}: the tokenizer's ids go up to {largest}, but the model's vocab_size is {vocab_size}; "
            "the tokenizer files do not belong to this model (ids must be < vocab_size)"
        )
