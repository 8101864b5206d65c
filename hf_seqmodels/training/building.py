"""The steps from arguments to a model ready to train: data -> tokenizer -> tokenized data -> model
(-> its embeddings from a word-vector file).

Each step is a function of the arguments alone, so that any job built on `Trainer` (classification,
masked-LM pretraining) runs the same ones and differs only in its head and collator.
"""

import logging

import datasets
from accelerate.utils import broadcast_object_list
from transformers import AutoConfig, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from ..data import load_newsgroups, load_text_dataset, stratified_split
from ..errors import UsageError, loading_errors
from ..models import ARCHITECTURES
from ..options import check_sequence_length
from ..serving.loading import check_vocabulary
from ..tokenization import train_tokenizer
from ..utils import comma_list, one_line
from ..validation import check_classes
from ..vectors import WordVectorsError, initialize_embeddings
from .arguments import DataArguments, ModelArguments, parse_config_overrides

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data


def load_splits(data_args: DataArguments, labelled: bool = True) -> datasets.DatasetDict:
    """The splits `data_args` name, whole: with `labelled=False` text alone (pretraining), and no test split
    carved from files (20 Newsgroups keeps its own, which pretraining never reads)."""
    try:
        if data_args.is_newsgroups:
            return load_newsgroups(
                protocol=data_args.protocol,
                remove=comma_list(data_args.remove),
                categories=comma_list(data_args.categories) or None,
                validation_size=data_args.validation_size,
                seed=data_args.split_seed,
                data_home=data_args.data_home,
            )
        return load_text_dataset(
            train_file=data_args.train_file,
            validation_file=data_args.validation_file,
            test_file=data_args.test_file if labelled else None,
            dataset_name=data_args.dataset_name,
            dataset_config_name=data_args.dataset_config_name,
            text_column=data_args.text_column,
            label_column=data_args.label_column if labelled else None,
            validation_size=data_args.validation_size,
            test_size=data_args.test_size if labelled else None,
            seed=data_args.split_seed,
        )
    except (ValueError, FileNotFoundError) as error:  # bad columns, labels, files, names of groups or data sets
        raise UsageError(str(error)) from error


def load_data(data_args: DataArguments) -> datasets.DatasetDict:
    """The `train` / `validation` / `test` splits (`text`, `label: ClassLabel`) that `data_args` describe."""
    splits = load_splits(data_args)
    limits = {
        "train": train_sample_size(data_args, len(splits["train"])),
        "validation": data_args.max_eval_samples,
        "test": data_args.max_test_samples,
    }
    return datasets.DatasetDict(
        {split: sample(dataset, limits[split], data_args.split_seed) for split, dataset in splits.items()}
    )


def load_labelled_data(data_args: DataArguments, training_args) -> datasets.DatasetDict:
    """`load_data` run by the main process first (it fills the caches the others then read), with at
    least two classes to learn."""
    with training_args.main_process_first(desc="loading data"):
        raw = load_data(data_args)
    try:
        check_classes(raw["train"], data_args.source)
    except ValueError as error:
        raise UsageError(str(error)) from error
    logger.info(
        "%s: %s examples, %d classes",
        data_args.source,
        " / ".join(f"{split} {len(raw[split])}" for split in raw),
        raw["train"].features["label"].num_classes,
    )
    return raw


def train_sample_size(data_args: DataArguments, available: int) -> int | None:
    """How many of `available` training examples `--max_train_samples` / `--train_fraction` keep (None: all);
    a fraction is of the training data as --max_train_samples leaves it."""
    limit = data_args.max_train_samples
    if data_args.train_fraction is not None:
        limit = max(1, round(data_args.train_fraction * min(available, limit or available)))
    return limit


def sample(dataset: datasets.Dataset, limit: int | None, seed: int) -> datasets.Dataset:
    """A seeded sample of `limit` examples in the class proportions of `dataset` (every class, where it can)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return sample_and_rest(dataset, limit, seed)[0]


def sample_and_rest(dataset: datasets.Dataset, limit: int, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    """`sample`'s sample of `limit` examples, and the examples it leaves out."""
    try:
        return stratified_split(dataset, seed, train_size=limit)
    except ValueError:  # fewer examples than classes, or a class with one example: cannot stratify
        shuffled = dataset.shuffle(seed=seed)
        return shuffled.select(range(limit)), shuffled.select(range(limit, len(dataset)))


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer(model_args: ModelArguments, train_texts, start_from: str | None):
    """A saved model keeps its tokenizer (its embedding rows belong to its ids); a new one learns `train_texts`.

    The tokenizer's `model_max_length` is the length every text is cut to, in training and, once saved,
    in `predict()`: a saved tokenizer keeps its own unless `--max_length` is given.
    """
    if start_from is not None:
        with loading_errors("--model_name_or_path", start_from):
            tokenizer = AutoTokenizer.from_pretrained(start_from)
        if model_args.max_length is not None:
            tokenizer.model_max_length = model_args.max_length
        return tokenizer
    min_df = int(model_args.min_df) if model_args.min_df >= 1 else model_args.min_df
    return train_tokenizer(
        train_texts, vocab_size=model_args.vocab_size, model_max_length=model_args.max_length, min_df=min_df
    )


def shared(training_args, build):
    """`build()` in the main process, its result pickled to the others (every process when there is one).

    Under several processes the tokenizer is fitted once and sent, so that every process reads alike.
    """
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


def tokenize(splits: datasets.DatasetDict, tokenizer, max_length: int | None = None) -> datasets.DatasetDict:
    """input_ids / attention_mask truncated to `max_length` (default: the tokenizer's `model_max_length`),
    and `length` for `group_by_length`; no padding yet: the collator pads each batch."""
    max_length = max_length or tokenizer.model_max_length

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_length=True)

    return splits.map(encode, batched=True, remove_columns=["text"], desc="Tokenizing")


def tokenize_splits(raw: datasets.DatasetDict, tokenizer, training_args) -> datasets.DatasetDict:
    """`tokenize` run by the main process first; the others then read its cache."""
    with training_args.main_process_first(desc="tokenization"):
        return tokenize(raw, tokenizer)


# --------------------------------------------------------------------------- model


def build_model(model_args: ModelArguments, tokenizer, label_names, start_from: str | None):
    """A new model sized to the tokenizer, or a saved one (its config overridden): a classifier of
    `label_names`, or with `label_names=None` a masked language model (pretraining).

    A new one's embeddings are as wide as the `--embeddings` file's vectors; `apply_word_vectors` fills them.
    """
    labels = {}
    if label_names is not None:
        labels = dict(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: index for index, name in enumerate(label_names)},
        )
    auto_class = AutoModelForSequenceClassification if label_names is not None else AutoModelForMaskedLM
    try:
        if start_from is not None:
            with loading_errors("--model_name_or_path", start_from):
                saved_config = AutoConfig.from_pretrained(start_from)
            overrides = parse_config_overrides(model_args.config_overrides, type(saved_config))
            config = AutoConfig.from_pretrained(start_from, **overrides, **labels)
            if model_args.architecture not in (None, architecture_name(config)):
                raise UsageError(
                    f"--architecture {model_args.architecture} does not match the {architecture_name(config)} "
                    f"model in {start_from!r}; leave --architecture out to continue from it"
                )
            check_sequence_length(model_args.max_length or tokenizer.model_max_length, config)
            check_vocabulary(tokenizer, config, start_from)
            new_head = label_names is not None and saved_config.num_labels != len(label_names)
            return load_saved_model(auto_class, start_from, config, model_args, new_head)
        config_class = ARCHITECTURES[model_args.architecture].config_class
        overrides = model_args.config_values(config_class)  # the embedding width of --embeddings included
        if (overrides.get("mlm_vocab_size") or 0) >= len(tokenizer):  # no more words than that: score them all
            overrides["mlm_vocab_size"] = None
        config = config_class(**overrides, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **labels)
    except UsageError:
        raise
    except (ValueError, TypeError) as error:  # the config's own checks name the field and what is valid
        raise UsageError(f"--config_overrides {model_args.config_overrides!r}: {error}") from error
    check_sequence_length(model_args.max_length or tokenizer.model_max_length, config)
    architecture = ARCHITECTURES[model_args.architecture]
    return (architecture.classifier_class if label_names is not None else architecture.masked_lm_class)(config)


# The classification head's weights (`SeqModelsForSequenceClassification.classifier`): sized by the number of labels.
CLASSIFIER_HEAD = "classifier"


def load_saved_model(auto_class, start_from: str, config, model_args: ModelArguments, new_head: bool):
    """`auto_class.from_pretrained(start_from)` under `config`, which may differ from the saved one.

    A head the folder lacks (a masked-LM folder fine-tuned, a classifier pretrained further) starts afresh, and
    so does the classification head when `new_head` (another number of labels). Any other saved weight whose
    size `config` changes is refused unless `--ignore_mismatched_sizes`: transformers would start it afresh
    with no more than a log line, and a "fine-tuned" model would then hold none of what it was tuned from.

    The model carries `reinitialized_weights`, the names of the weights that did not come from the folder.
    """
    # Loaded with ignore_mismatched_sizes=True and judged here: transformers' own refusal cannot tell a head
    # sized for new labels (expected) from an encoder resized by --config_overrides, and spans many lines.
    with loading_errors("--model_name_or_path", start_from):
        model, loading_info = auto_class.from_pretrained(
            start_from, config=config, ignore_mismatched_sizes=True, use_safetensors=True, output_loading_info=True
        )
    mismatched = {key: (saved, now) for key, saved, now in loading_info["mismatched_keys"]}
    in_model_order = [key for key in model.state_dict() if key in mismatched]
    refused = [key for key in in_model_order if not (new_head and key.split(".")[0] == CLASSIFIER_HEAD)]
    if refused and not model_args.ignore_mismatched_sizes:
        shown = ", ".join(f"{key} {tuple(mismatched[key][0])} -> {tuple(mismatched[key][1])}" for key in refused[:3])
        more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
        cause = f"--config_overrides {model_args.config_overrides!r}" if model_args.config_overrides else "its config"
        raise UsageError(
            f"--model_name_or_path {start_from!r}: {cause} changes the size of saved weights ({shown}{more}); pass "
            "--ignore_mismatched_sizes to start them afresh, or leave out the overrides that change sizes"
        )
    model.reinitialized_weights = sorted(set(loading_info["missing_keys"]) | set(mismatched))
    if model.reinitialized_weights:
        logger.info("%s: weights that start afresh: %s", start_from, ", ".join(model.reinitialized_weights))
    return model


def describe_start(model_args: ModelArguments, model, resumed: bool) -> dict | None:
    """What a model was fine-tuned from, for its summary and card; None when built from scratch.

    `model_name_or_path`, `architectures` (the classes it was saved as: a masked-LM or a classifier folder) and
    `reinitialized_weights` (`load_saved_model`'s list; None when resumed from a checkpoint, which was loaded
    instead and keeps what the interrupted run started from).
    """
    if model_args.model_name_or_path is None:
        return None
    with loading_errors("--model_name_or_path", model_args.model_name_or_path):
        saved_config = AutoConfig.from_pretrained(model_args.model_name_or_path)
    return {
        "model_name_or_path": model_args.model_name_or_path,
        "architectures": saved_config.architectures or [],
        "reinitialized_weights": None if resumed else getattr(model, "reinitialized_weights", []),
    }


def apply_word_vectors(model, tokenizer, model_args: ModelArguments, seed: int = 0) -> dict | None:
    """Copy the `--embeddings` file's vectors into the embedding rows of `model`, built from scratch for
    `tokenizer` (`build_model`, or a masked-LM twin); words the file lacks keep random rows drawn with `seed`.

    Returns what the run records (`path`, `found_fraction`, `found_count`, `word_count`), or None without
    `--embeddings`. A damaged file, or one sharing (almost) no word with the vocabulary, is a `UsageError`.
    """
    if model_args.embeddings is None:
        return None
    try:
        matched = initialize_embeddings(model, tokenizer, model_args.embeddings, seed=seed)
    except (WordVectorsError, OSError) as error:  # the reader's messages name the file and the line
        raise UsageError(f"--embeddings {one_line(error)}") from error
    logger.info(
        "--embeddings %s: vectors for %s of the vocabulary's %s words (%.1f%%); the rest start at random",
        model_args.embeddings,
        f"{matched.found_count:,}",
        f"{matched.word_count:,}",
        100 * matched.found_fraction,
    )
    return {
        "path": str(model_args.embeddings),
        "found_fraction": matched.found_fraction,
        "found_count": matched.found_count,
        "word_count": matched.word_count,
    }


def architecture_name(config) -> str:
    """`seqmodels_gru` -> `gru`: the names `--architecture` takes."""
    return config.model_type.removeprefix("seqmodels_")

