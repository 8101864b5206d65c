"""The command line of training: three argument dataclasses (as in transformers' example scripts) and
`parse_args()`, which reads them from a command line that may start with a JSON config file (else from the
recipe `--architecture` names, `recipes.py`).

Every check that needs no data runs here, so a mistake is named before minutes of loading and tokenizing.
"""

import dataclasses
import difflib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers import HfArgumentParser
from transformers import TrainingArguments as HfTrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from ..data import NEWSGROUPS, REMOVABLE
from ..errors import UsageError
from ..models import ARCHITECTURES, own_config_fields
from ..options import check_at_least, check_choices, check_fraction, check_vocab_size
from ..tokenization import SPECIAL_TOKENS
from ..utils import comma_list, one_line
from ..vectors import WordVectorsError, vector_dimension
from .recipes import RECIPES, recipe, recipe_name

# The recipes written out as config files, one per recipe; installed with the package.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# Set from the tokenizer, never by hand: a mismatch would index outside the embedding.
TOKENIZER_OWNED_CONFIG_KEYS = ("vocab_size", "pad_token_id")
# Tokens a text is truncated to when training from scratch; a saved model keeps its own.
DEFAULT_MAX_LENGTH = 256


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
        default=30000, metadata={"help": "Tokenizer vocabulary size, [PAD], [UNK] and [MASK] included (from scratch only)."}
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": f"Texts are truncated to this many tokens (default: {DEFAULT_MAX_LENGTH} from scratch, the saved "
            "tokenizer's model_max_length with --model_name_or_path)."
        },
    )
    min_df: float = field(
        default=2,
        metadata={"help": "Words in fewer training texts are left out: a count if ≥ 1, else a fraction."},
    )
    embeddings: str | None = field(
        default=None,
        metadata={
            "help": "Start the embedding table from a word-vector file: GloVe .txt, word2vec text or binary, fastText "
            ".vec, plain or gzip-compressed (the format is detected). The embedding width follows the file's "
            "dimension (from scratch only)."
        },
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "With --model_name_or_path: start afresh the saved weights whose size --config_overrides changes "
            "(as transformers' run_classification.py; without it such a change is refused). A classification "
            "head for another number of labels starts afresh either way."
        },
    )

    def __post_init__(self):
        if self.architecture is None and self.model_name_or_path is None:
            raise UsageError(
                f"give --architecture (one of {', '.join(ARCHITECTURES)}) or --model_name_or_path (a saved folder)"
            )
        if self.max_length is None and self.model_name_or_path is None:
            self.max_length = DEFAULT_MAX_LENGTH
        check_at_least("--max_length", self.max_length, 1)
        check_vocab_size(self.vocab_size, SPECIAL_TOKENS)
        if self.min_df <= 0 or (self.min_df > 1 and self.min_df != int(self.min_df)):
            raise UsageError(
                f"--min_df must be a count of texts (a whole number ≥ 1) or a fraction in (0, 1), got {self.min_df:g}"
            )
        if self.embeddings is not None and self.model_name_or_path is not None:
            raise UsageError(
                f"--embeddings {self.embeddings!r} with --model_name_or_path: a saved model keeps its own embeddings; "
                "give --embeddings only with --architecture (training from scratch)"
            )
        if self.architecture is not None and self.model_name_or_path is None:
            # Checked now, before minutes of loading and tokenizing; a saved model's config is checked on load.
            config_class = ARCHITECTURES[self.architecture].config_class
            overrides = self.config_values(config_class)
            try:
                config_class(**overrides)
            except (ValueError, TypeError) as error:  # the config's own checks name the field and what is valid
                raise UsageError(f"--config_overrides {self.config_overrides!r}: {error}") from error
        path = self.model_name_or_path
        if path is not None and os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
            raise UsageError(f"--model_name_or_path {path!r}: not a saved model folder (it has no config.json)")

    def config_values(self, config_class) -> dict:
        """The config values of a model built from scratch: `--config_overrides`, and the embedding width of the
        `--embeddings` file, which the overrides may repeat but not contradict."""
        values = parse_config_overrides(self.config_overrides, config_class)
        if self.embeddings is None:
            return values
        try:
            dim = vector_dimension(self.embeddings)
        except (WordVectorsError, OSError) as error:  # the reader's messages name the file
            raise UsageError(f"--embeddings {one_line(error)}") from error
        width = embedding_width_field(config_class)
        if values.get(width, dim) != dim:
            raise UsageError(
                f"--embeddings {self.embeddings!r} holds {dim}-dimensional vectors but --config_overrides sets "
                f"{width}={values[width]}; leave {width} out (it follows the file) or use a file of "
                f"{values[width]}-dimensional vectors"
            )
        values[width] = dim
        heads = values.get("num_attention_heads", getattr(config_class(), "num_attention_heads", 1))
        if width == "hidden_size" and dim % heads:
            divisors = ", ".join(str(n) for n in range(1, min(dim, 16) + 1) if dim % n == 0)
            raise UsageError(
                f"--embeddings {self.embeddings!r} holds {dim}-dimensional vectors, so hidden_size={dim}, which "
                f"num_attention_heads={heads} does not divide; set num_attention_heads in --config_overrides to one "
                f"of {divisors}"
            )
        return values


def embedding_width_field(config_class) -> str:
    """The config field that sets the width of the token embeddings: the recurrent models have an
    `embedding_size` of its own; the Transformer's token embeddings are `hidden_size` wide."""
    return "embedding_size" if "embedding_size" in own_config_fields(config_class) else "hidden_size"


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
    train_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Train on a seeded, stratified fraction of the training split (of --max_train_samples of "
            "it, if given), e.g. 0.1 for few labels; validation and test stay whole."
        },
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
            check_at_least(f"--{option}", getattr(self, option), 1)
        check_fraction("--train_fraction", self.train_fraction, whole_allowed=True)
        for option in ("validation_size", "test_size"):
            check_fraction(f"--{option}", getattr(self, option))
        # The 20 Newsgroups names are known in advance: check them before minutes of loading.
        for option, valid in (("remove", REMOVABLE), ("categories", NEWSGROUPS)):
            check_choices(f"--{option}", comma_list(getattr(self, option)), valid)

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
    license: str | None = field(
        default=None,
        metadata={
            "help": "The license the model card declares (a Hub license id, e.g. apache-2.0 or mit); by default none, "
            "as transformers' Trainer.create_model_card writes none unless given one."
        },
    )
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Peak learning rate of the encoder (all but the task head); default: --learning_rate. Lower "
            "than the head's, it keeps more of what a pretrained encoder learned while the new head catches up."
        },
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
            ("encoder_learning_rate", 0),
        ):
            check_at_least(f"--{option}", getattr(self, option), minimum)
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise UsageError(f"--num_train_epochs must be > 0 (or give --max_steps), got {self.num_train_epochs}")
        evaluates = self.eval_strategy != IntervalStrategy.NO and self.metric_for_best_model
        if self.early_stopping_patience and not evaluates:
            raise UsageError(
                f"--early_stopping_patience {self.early_stopping_patience} needs --eval_strategy epoch or steps "
                "and a --metric_for_best_model; pass --early_stopping_patience 0 to train without it"
            )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, SeqModelsTrainingArguments)
USAGE = "%(prog)s [CONFIG.json] [--option value ...]  (options after CONFIG.json override its values)"


def parse_args(argv: list[str] | None = None, prog: str | None = None):
    """Command line -> (ModelArguments, DataArguments, SeqModelsTrainingArguments).

    As in transformers' example scripts, a first argument ending in `.json` is a config file: one flat
    dict of argument names (a path, or the name of one shipped in `hf_seqmodels/configs`, e.g.
    `gru.json`). Without one, `--architecture NAME` starts from the recipe of that name (`recipes.py`),
    which the shipped `NAME.json` writes out. Unlike transformers' scripts, options override the file's
    (or the recipe's) values, e.g. `gru.json --num_train_epochs 1`.
    """
    return parse_command_line(ARGUMENT_CLASSES, argv, prog)


def parse_command_line(argument_classes, argv: list[str] | None, prog: str | None = None, masked_lm: bool = False):
    """`argument_classes` read from `argv`: a leading CONFIG.json, else the recipe `--architecture` names (its
    masked-LM twin with `masked_lm`), gives the defaults; the options given override them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith(".json"):
        defaults = read_json_args(find_config_file(argv.pop(0)), argument_classes)
    else:
        # No recipe for a name that is not one: HfArgumentParser then names the valid architectures.
        name = recipe_name(architecture_option(argv) or "", masked_lm)
        defaults = recipe(name) if name in RECIPES else {}
    return parse_arguments(argument_classes, argv, prog=prog, defaults=defaults, usage=USAGE)


def architecture_option(argv: list[str]) -> str | None:
    """The value of `--architecture NAME` or `--architecture=NAME` in `argv` (the last one given), else None."""
    found = None
    for index, argument in enumerate(argv):
        if argument == "--architecture" and index + 1 < len(argv):
            found = argv[index + 1]
        elif argument.startswith("--architecture="):
            found = argument.partition("=")[2]
    return found


def find_config_file(path: str) -> Path:
    """A config file as given, or else the one of that name shipped with the package (`gru.json`)."""
    if Path(path).is_file():
        return Path(path)
    shipped = CONFIG_DIR / Path(path).name
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(config.name for config in CONFIG_DIR.glob("*.json")))
    raise UsageError(f"config file {path!r}: no such file, nor one shipped with hf_seqmodels ({names})")


def parse_arguments(
    argument_classes, argv: list[str], prog: str | None = None, defaults_file=None, usage=None, defaults: dict | None = None
):
    """HfArgumentParser over `argument_classes`, the values in the JSON `defaults_file` (or the dict `defaults`)
    replacing the dataclasses' defaults."""
    parser = HfArgumentParser(argument_classes, prog=prog, usage=usage)
    if defaults_file is not None:
        defaults = read_json_args(defaults_file, argument_classes)
    if defaults:
        # The file's values become the parser's defaults, so anything on the command line wins.
        parser.set_defaults(**defaults)
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
    elif default is None:  # an optional number (e.g. mlm_vocab_size): a number, or none
        if text.lower() == "none":
            return None
        for number_type in (int, float):
            try:
                return number_type(text)
            except ValueError:
                pass
        expected = "a number or none"
    else:
        return text
    raise UsageError(f"--config_overrides: {key}={text!r} must be {expected}")

