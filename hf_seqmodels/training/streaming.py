"""`pretrain --streaming`: text larger than memory, read as a `datasets.IterableDataset` while training runs.

A text goes through these steps, in this order:

    a file (text, CSV, JSON, parquet), a Hub data set, or 20 Newsgroups' training split  (open_text_streams)
    -> validation: --validation_file / the data set's own split, or the first --validation_texts texts held out
       (in memory; the training stream skips them, so no text is in both)
    -> --max_train_samples: the first N training texts
    -> this process's texts (`split_dataset_by_node`, under accelerate launch / torchrun)  (node_texts)
    -> tokenized, cut into blocks or one text an example: `.map` on the stream (pretraining.tokenize_stream)
    -> a seeded shuffle buffer of --shuffle_buffer_size examples; under group_by_length, batches of like length
    -> read pass after pass until --max_steps (StreamPasses), the buffer drawn afresh each pass

Nothing is read whole into memory but the validation texts: the tokenizer (from scratch) is fitted on one pass
over the training stream (`TextStream.texts`), which also counts its texts.

Two things differ from what Trainer and accelerate do with a stream by themselves:

- Each process reads its own texts. accelerate would hand out process 0's batches to every process
  (`dispatch_batches`, its default for a stream) or cut each batch into shares again (`IterableDatasetShard`);
  either, on top of `split_dataset_by_node`, would leave texts unread. `StreamingTrainer` prepares the training
  loader as one process's loader instead.
- Trainer sees one endless epoch: `StreamPasses` starts the stream again when it ends. Every process then takes
  exactly --max_steps steps whatever its share of the text (processes whose passes ended at different steps
  would otherwise disagree on when an epoch ends, and wait on each other for ever), and a resumed run skips the
  batches it already trained on, across passes, as Trainer skips batches within an epoch.

Resuming re-reads: the installed Trainer skips the batches before the checkpoint by reading (and tokenizing)
them again, since it keeps no position in a stream (that needs torchdata's `StatefulDataLoader`). It then trains
on exactly the batches, masks included, that the uninterrupted run would have.
"""

import itertools
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate.data_loader import prepare_data_loader
from accelerate.utils import gather_object
from datasets.distributed import split_dataset_by_node
from torch.utils.data import DataLoader
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from ..data import TEXT_FILE_BUILDERS
from ..errors import UsageError
from ..utils import first_line
from ..validation import check_utf8, clean_text
from .building import load_splits
from .trainer import SeqModelsTrainer

logger = logging.getLogger(__name__)

TEXT = datasets.Features({"text": datasets.Value("string")})


@dataclass
class TextStream:
    """The texts of one source, as a stream of `{"text": str}`; `source` names it in errors, `path` is the file
    (None for a Hub data set or 20 Newsgroups), read again only to say where a byte is not UTF-8; `sliced`: texts
    were skipped or taken from its start (`node_texts` must then split it text by text)."""

    dataset: datasets.IterableDataset
    source: str
    path: str | None = None
    sliced: bool = False

    def texts(self):
        """Its texts, one pass, one at a time (a generator: memory holds one text, not the corpus)."""
        with read_errors(self):
            for example in self.dataset:
                yield example["text"]


@dataclass
class TextStreams:
    """`train`: the training texts as a stream; `validation`: the validation texts, in memory; how validation
    was made (`validation_source`: "file", "split" or "held out"), and what the run read (filled as it runs)."""

    train: TextStream
    validation: datasets.Dataset
    validation_source: str
    train_texts: int | None = None
    counts: dict = field(default_factory=lambda: {"texts_read": 0})

    def training_texts(self):
        """The training texts, one pass (a generator, for the tokenizer), counted into `train_texts` once read."""
        count = 0
        for count, text in enumerate(self.train.texts(), start=1):
            yield text
        self.train_texts = count


# --------------------------------------------------------------------------- arguments


def streaming_training_arguments(training_args):
    """The training arguments of a streamed run, checked: --max_steps is needed (a stream has no length to count
    epochs in), and the `epoch` strategies (the defaults) become `steps`: Trainer reads one endless epoch."""
    if training_args.max_steps <= 0:
        raise UsageError(
            "--streaming needs --max_steps (the number of optimizer steps): a stream has no length, so "
            "--num_train_epochs cannot say when training ends"
        )
    changed = []
    strategies = {"logging_strategy": "logging_steps", "eval_strategy": "eval_steps", "save_strategy": "save_steps"}
    for name, steps in strategies.items():
        if getattr(training_args, name) == IntervalStrategy.EPOCH:
            strategy = SaveStrategy.STEPS if name == "save_strategy" else IntervalStrategy.STEPS
            setattr(training_args, name, strategy)
            if getattr(training_args, steps) is None:  # eval_steps: TrainingArguments' default, logging_steps
                setattr(training_args, steps, training_args.logging_steps)
            changed.append(f"--{name} steps (every {getattr(training_args, steps):g})")
    if changed:
        logger.info("--streaming: a stream has no epochs; %s", ", ".join(changed))
    return training_args


# --------------------------------------------------------------------------- reading


def open_text_streams(data_args, mlm_args) -> TextStreams:
    """The training stream and the validation texts that `data_args` name, checked: the text column is there and
    the training stream holds at least one text."""
    train, validation = _open_sources(data_args)
    if next(train.texts(), None) is None:
        raise UsageError(f"{train.source}: no text at all (an empty stream); pretraining needs at least one")
    validation_source = "file" if data_args.validation_file else "split"
    if validation is None:
        # The first texts are validation, and training starts after them: `take` and `skip` read the same order.
        count = mlm_args.validation_texts
        validation = TextStream(train.dataset.take(count), train.source, train.path)
        train = TextStream(train.dataset.skip(count), train.source, train.path, sliced=True)
        validation_source = "held out"
    if data_args.max_train_samples is not None:
        train = TextStream(train.dataset.take(data_args.max_train_samples), train.source, train.path, sliced=True)
    texts = list(validation.texts())
    if data_args.max_eval_samples is not None:
        texts = texts[: data_args.max_eval_samples]
    if not texts:
        raise UsageError(f"{validation.source}: no validation text (the stream ends before its first text)")
    if next(train.texts(), None) is None:
        after = f" after the {len(texts)} validation texts (--validation_texts)" if validation_source == "held out" else ""
        raise UsageError(f"{train.source}: no training text{after}; a stream needs at least one")
    return TextStreams(train, datasets.Dataset.from_dict({"text": texts}, features=TEXT), validation_source)


def _open_sources(data_args) -> tuple[TextStream, TextStream | None]:
    """(training stream, validation stream or None where the source has no validation of its own)."""
    if data_args.is_newsgroups:
        # The corpus is small and read into memory, as without --streaming; streamed from there, it is the very
        # training split a classifier with the same options learns from, and its validation split stays whole.
        splits = load_splits(data_args, labelled=False)
        streams = [
            TextStream(splits[split].select_columns(["text"]).to_iterable_dataset(), f"20 Newsgroups ({split})")
            for split in ("train", "validation")
        ]
        return streams[0], streams[1]
    if data_args.dataset_name is not None:
        raw = _open_hub_stream(data_args.dataset_name, data_args.dataset_config_name)
        name = data_args.dataset_name
        streams = {
            split: _text_column(raw[split], data_args.text_column, f"--dataset_name {name!r} ({split})", None)
            for split in ("train", "validation")
            if split in raw
        }
        return streams["train"], streams.get("validation")
    files = {"train": data_args.train_file, "validation": data_args.validation_file}
    files = {split: str(path) for split, path in files.items() if path is not None}
    streams = open_file_streams(files, data_args.text_column, {split: f"--{split}_file" for split in files})
    return streams["train"], streams.get("validation")


def open_file_streams(files: dict[str, str], text_column: str, options: dict[str, str]) -> dict[str, TextStream]:
    """Each file of `files` (split -> path) as a checked stream of its `text_column`, named in errors by its
    option (`options`: split -> "--train_file", say) and path; the files share one extension."""
    suffixes = {Path(path).suffix.lower() for path in files.values()}
    if len(suffixes) != 1 or not suffixes <= TEXT_FILE_BUILDERS.keys():
        valid = list(TEXT_FILE_BUILDERS)
        raise UsageError(f"data files {list(files.values())} must share one extension among {valid}")
    builder = TEXT_FILE_BUILDERS[suffixes.pop()]
    raw = datasets.load_dataset(builder, data_files=files, streaming=True)
    # A plain-text file has one column, "text", whatever --text_column says.
    column = "text" if builder == "text" else text_column
    return {split: _text_column(raw[split], column, f"{options[split]} {path!r}", path) for split, path in files.items()}


def _open_hub_stream(name: str, config_name: str | None) -> datasets.IterableDatasetDict:
    """`load_dataset(name, config_name, streaming=True)`, what it raises for a name it cannot read said in one line."""
    try:
        raw = datasets.load_dataset(name, config_name, streaming=True)
    except ConnectionError as error:  # a Hub name that cannot be reached, offline or not
        offline = datasets.config.HF_HUB_OFFLINE
        why = "cannot be reached offline (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE is set)" if offline else first_line(error)
        raise UsageError(f"--dataset_name {name!r}: {why}; give --train_file or a local folder") from None
    except (ValueError, FileNotFoundError) as error:  # no such data set or configuration
        raise UsageError(f"--dataset_name {name!r}: {first_line(error)}") from error
    if "train" not in raw:
        raise UsageError(f"--dataset_name {name!r} has no 'train' split; splits: {list(raw)}")
    return raw


def _text_column(dataset: datasets.IterableDataset, column: str, source: str, path: str | None) -> TextStream:
    """The `column` of a stream as `text`, checked on its first row (a stream's columns are known once it is read);
    a missing text (an empty cell, null) is refused where it is read, naming its row, and lone surrogates are
    replaced as everywhere else in the package (`validation.clean_text`)."""
    stream = TextStream(dataset, source, path)
    with read_errors(stream):
        first = next(iter(dataset), None)
    if first is not None and column not in first:
        raise UsageError(f"column {column!r} not found in {source}; columns: {list(first)}")

    def checked(batch, indices):
        texts = batch[column]
        bad = next((position for position, text in enumerate(texts) if not isinstance(text, str)), None)
        if bad is not None:
            value = texts[bad]
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            what = "no text (an empty cell or null)" if missing else f"a {type(value).__name__}, not a text"
            raise UsageError(
                f"column {column!r} of {source}: row {indices[bad]} holds {what}; fill it (an empty string is a "
                "valid text) or drop the row"
            )
        return {"text": [clean_text(text) for text in texts]}

    checked_texts = dataset.map(checked, batched=True, with_indices=True, remove_columns=list(first or [column]))
    return TextStream(checked_texts, source, path)


@contextmanager
def read_errors(stream: TextStream):
    """What reading a stream raises where a file is broken, as one `UsageError` naming the file (and, for a byte
    that is not UTF-8, the line and byte offset): a stream is checked as it is read, not before."""
    try:
        yield
    except UsageError:
        raise
    except UnicodeDecodeError as error:
        if stream.path is not None:  # read again from the start, only now: check_utf8 names the line and the byte
            try:
                check_utf8(stream.path)
            except ValueError as located:
                raise UsageError(str(located)) from None
        raise UsageError(f"{stream.source} is not UTF-8: {error.reason} at byte {error.start} of a chunk") from None
    except datasets.exceptions.DatasetGenerationError as error:
        cause = error.__cause__ or error
        raise UsageError(f"{stream.source} could not be read: {type(cause).__name__}: {first_line(cause)}") from error
    except (ValueError, OSError) as error:  # a row cut short (pyarrow's ArrowInvalid, pandas' ParserError), ...
        raise UsageError(f"{stream.source} could not be read: {type(error).__name__}: {first_line(error)}") from error


# --------------------------------------------------------------------------- training examples


def node_texts(stream: TextStream, training_args) -> datasets.IterableDataset:
    """This process's share of the training texts (all of them for one process): under several processes,
    `split_dataset_by_node` gives each process whole shards (files) where their number is a multiple of the
    processes', else every N-th text.

    Every N-th text, always, for a stream whose start was skipped or taken (`sliced`): split by shards, datasets
    divides a `skip(n)` among the shards, so that held-out validation texts would be trained on and others never.
    And datasets applies the split to the output of everything mapped after it, when iterated: by every N-th
    *example*, every process would then tokenize every text and keep every N-th block. The share is therefore a
    stream of its own, and the tokenizing and the shuffle buffer read this process's texts alone.
    """
    if training_args.world_size <= 1:
        return stream.dataset
    share = split_dataset_by_node(
        stream.dataset,
        rank=training_args.process_index,
        world_size=training_args.world_size,
        strategy="examples" if stream.sliced else "auto",
    )
    return datasets.IterableDataset.from_generator(_examples_of, gen_kwargs={"dataset": share}, features=TEXT)


def _examples_of(dataset):
    yield from dataset


# transformers' LengthGroupedSampler sorts megabatches of 50 batches by length; a stream is grouped the same way.
BATCHES_PER_LENGTH_GROUP = 50


class StreamPasses(torch.utils.data.IterableDataset):
    """A stream's examples, pass after pass with no end (Trainer counts --max_steps); each pass draws the shuffle
    buffer afresh (`set_epoch`). An empty stream ends, rather than being started again for ever.

    With `group_batch_size`, the examples come in batches of like length (`length_grouped`), as group_by_length
    gives them from a data set in memory: a batch is padded to its longest example, and a stream in random order
    pads far more.
    """

    def __init__(self, dataset: datasets.IterableDataset, stream: TextStream, group_batch_size: int | None = None, seed: int = 0):
        self.dataset, self.stream = dataset, stream
        self.group_batch_size, self.seed = group_batch_size, seed

    def __iter__(self):
        for number in itertools.count():
            self.dataset.set_epoch(number)
            examples = iter(self.dataset)
            if self.group_batch_size:
                rng = np.random.default_rng([self.seed, number])  # a resumed run regroups its passes alike
                examples = length_grouped(examples, self.group_batch_size, rng)
            empty = True
            with read_errors(self.stream):
                for example in examples:
                    empty = False
                    yield example
            if empty:
                return


def length_grouped(examples, batch_size: int, rng):
    """`examples` taken `BATCHES_PER_LENGTH_GROUP` batches at a time, sorted by length and cut into batches of
    `batch_size`, the full batches in `rng`'s order and the part of a last batch after them: a loader that batches
    `batch_size` examples in order then gets batches of like length, in an order still drawn at random."""
    while group := list(itertools.islice(examples, BATCHES_PER_LENGTH_GROUP * batch_size)):
        group.sort(key=lambda example: len(example["input_ids"]), reverse=True)
        full = len(group) // batch_size
        for index in rng.permutation(full):
            yield from group[index * batch_size : (index + 1) * batch_size]
        yield from group[full * batch_size :]


def training_examples(streams: TextStreams, encode, training_args, buffer_size: int) -> StreamPasses:
    """The examples training reads: this process's texts mapped by `encode` (a batched function of
    `{"text": [...]}`, 1,000 texts a call as `Dataset.map` batches them), shuffled in a buffer of `buffer_size`
    examples seeded by --data_seed (else --seed), pass after pass, grouped by length under
    `--train_sampling_strategy group_by_length` (the default). `streams.counts["texts_read"]` counts the texts read
    (in the process that iterates: with --dataloader_num_workers 0, the default)."""
    counts = streams.counts

    def counted(batch):
        counts["texts_read"] += len(batch["text"])
        return encode(batch)

    mapped = node_texts(streams.train, training_args).map(counted, batched=True, remove_columns=["text"])
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    grouped = training_args.train_sampling_strategy == "group_by_length"
    batch_size = training_args.per_device_train_batch_size if grouped else None
    return StreamPasses(mapped.shuffle(seed=seed, buffer_size=buffer_size), streams.train, batch_size, seed)


def texts_read(streams: TextStreams, training_args) -> int | None:
    """The texts all processes read from the training stream (None where data loader workers read them)."""
    if training_args.dataloader_num_workers:
        return None
    count = streams.counts["texts_read"]
    return sum(gather_object([count])) if training_args.world_size > 1 else count


# --------------------------------------------------------------------------- trainer


class StreamingTrainer(SeqModelsTrainer):
    """`SeqModelsTrainer` reading a training stream that is already this process's own (`node_texts`)."""

    def get_train_dataloader(self):
        # Prepared by the accelerator, a stream is read by process 0 alone and its batches dealt out to every
        # process (dispatch_batches), or every batch cut into shares again (IterableDatasetShard): on top of
        # split_dataset_by_node, texts would go unread. Prepared as one process's loader, each process trains on
        # batches of its own texts, placed on its device.
        loader = DataLoader(
            self.train_dataset,
            batch_size=self._train_batch_size,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            prefetch_factor=self.args.dataloader_prefetch_factor,
        )
        return prepare_data_loader(
            loader,
            self.accelerator.device,
            num_processes=1,
            process_index=0,
            put_on_device=True,
            dispatch_batches=False,
            non_blocking=self.accelerator.non_blocking,
        )

    def get_resumed_dataloader(self, dataloader, num_batches: int):
        logger.info(
            "--streaming: resuming at step %d re-reads the %s batches before it (the stream keeps no position to "
            "return to), then trains on the batches the uninterrupted run would have",
            self.state.global_step,
            f"{num_batches:,}",
        )
        return super().get_resumed_dataloader(dataloader, num_batches)
