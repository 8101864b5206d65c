"""The transfer set of a distillation: the texts a student learns its teachers' answers on.

The labelled training posts come first (a student learns their gold labels too), then unlabelled text: the rest
of the training split under `--train_fraction` / `--max_train_samples` (its labels dropped) and the texts of
`--unlabelled_file`; and `--augment N` altered copies of all of these, which the teachers alone label (Tang et
al. 2019: a transfer set larger than the data is what lets a student learn more from a teacher than its labels).
None of it is ever validation or test text.

It is made a batch at a time (`transfer_batches`): the labelled posts and their copies, then each chunk of
unlabelled text followed by its copies. Held in memory by default (`build_transfer_set`); under `--streaming`
the unlabelled file is read as a stream (`open_unlabelled_stream`) and the batches go to disk as they are
labelled (`transfer_disk.py`).
"""

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from ..data import TEXT_FILE_BUILDERS, read_raw_splits, select_text_and_label
from ..errors import UsageError
from .building import load_splits, sample_and_rest, train_sample_size
from .streaming import TextStream, open_file_streams

# The gold label of a text without one. Trainer counts every label that is not -100 into `num_items_in_batch`,
# so such texts count as items: their teacher term weighs as much as a labelled post's.
NO_LABEL = -1
# Unlabelled texts altered and labelled at a time (as many as `Dataset.map` batches): what memory holds of a
# streamed unlabelled file (with their copies), and large enough that sorting by length saves padding.
TRANSFER_CHUNK = 1000


@dataclass
class TransferSet:
    texts: list[str]
    labels: list[int]  # the gold label, or NO_LABEL
    labelled: int  # the first `labelled` texts are the labelled posts (then their copies)
    unlabelled: int  # this many unlabelled texts, each chunk followed by its copies; the rest are copies

    @property
    def augmented(self) -> int:
        return len(self.texts) - self.labelled - self.unlabelled

    def describe(self) -> dict:
        return {"texts": len(self.texts), "labelled": self.labelled, "unlabelled": self.unlabelled, "augmented": self.augmented}


def unlabelled_remainder(data_args) -> list[str]:
    """The training split's posts that `--train_fraction` leaves out of the labelled sample (`building.load_data`
    draws the same one), their labels dropped: the few-label case's unlabelled text. With `--max_train_samples`
    too, labelled and unlabelled posts together are that many."""
    if data_args.train_fraction is None:
        return []
    whole = load_splits(data_args)["train"]
    limit = train_sample_size(data_args, len(whole))
    if limit >= len(whole):
        return []
    rest = sample_and_rest(whole, limit, data_args.split_seed)[1]
    labelled_and_unlabelled = min(len(whole), data_args.max_train_samples or len(whole))
    return list(rest.select(range(labelled_and_unlabelled - limit))["text"])


def read_unlabelled_file(path: str, text_column: str) -> list[str]:
    """Every text of a text / CSV / JSON / parquet file (one text per line of a .txt file)."""
    try:
        raw, sources = read_raw_splits(path, None, None, None, None, label_column=None)
        dataset = select_text_and_label(raw["train"], text_column, None, sources["train"])
    except (ValueError, FileNotFoundError) as error:
        if "corresponds to no data" in str(error):  # datasets' words for a file with a header and no rows
            raise UsageError(f"--unlabelled_file {path!r}: holds no text (no rows)") from error
        raise UsageError(f"--unlabelled_file {error}") from error
    texts = [text for text in dataset["text"] if text.strip()]
    if not texts:
        raise UsageError(f"--unlabelled_file {path!r}: holds no text (column {text_column!r} is empty)")
    return texts


@dataclass
class UnlabelledStream:
    """`--unlabelled_file` under `--streaming`: its texts read from disk pass after pass (`texts()`), never held
    whole; a broken row or byte is one line naming the file where it is read (`streaming.read_errors`)."""

    stream: TextStream
    path: str

    def texts(self) -> Iterator[str]:
        # Blank texts are left out, as `read_unlabelled_file` leaves them out: both paths read the same texts.
        return (text for text in self.stream.texts() if text.strip())

    def identity(self) -> dict:
        """What the transfer set saved from this file is kept under: its path, size and time."""
        stat = Path(self.path).stat()
        return {"path": str(Path(self.path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def open_unlabelled_stream(path: str, text_column: str) -> UnlabelledStream:
    """`--unlabelled_file` as a stream (`streaming.open_file_streams`), checked on its first text."""
    suffix = Path(path).suffix.lower()
    if suffix not in TEXT_FILE_BUILDERS:
        raise UsageError(f"--unlabelled_file {path!r}: {suffix or 'no extension'} is none of {list(TEXT_FILE_BUILDERS)}")
    stream = open_file_streams({"train": path}, text_column, {"train": "--unlabelled_file"})["train"]
    unlabelled = UnlabelledStream(stream, path)
    if next(unlabelled.texts(), None) is None:
        raise UsageError(f"--unlabelled_file {path!r}: holds no text (no rows, or column {text_column!r} is empty)")
    return unlabelled


def augmented_copies(
    texts: list[str], copies: int, mask_token: str, seed: int, first: int = 0, mask_probability: float = 0.2,
    span_probability: float = 0.5,
) -> list[str]:
    """`copies` altered versions of every text, the first copy of each text, then the second, ...: each word
    replaced by `mask_token` with `mask_probability`, and, with `span_probability`, the text cut to a random span
    of 50-100 % of its words (Tang et al.'s masking and n-gram sampling).

    Seeded text by text: the copies of the transfer set's text number `first + i` come from a generator seeded by
    (seed, that number), so a resumed run makes the very same copies, and so does a streamed one, which alters
    the texts a batch at a time (`transfer_batches`)."""
    generators = [np.random.default_rng([seed, first + index]) for index in range(len(texts))]
    return [
        _altered(text, rng, mask_token, mask_probability, span_probability)
        for _ in range(copies)
        for text, rng in zip(texts, generators)
    ]


def _altered(text: str, rng, mask_token: str, mask_probability: float, span_probability: float) -> str:
    words = text.split()
    if not words:
        return text
    masked = rng.random(len(words)) < mask_probability
    words = [mask_token if hide else word for word, hide in zip(words, masked)]
    if rng.random() < span_probability:
        length = int(np.ceil(len(words) * rng.uniform(0.5, 1.0)))
        start = int(rng.integers(0, len(words) - length + 1))
        words = words[start : start + length]
    return " ".join(words)


@dataclass
class TransferBatch:
    texts: list[str]  # `originals` texts, then their altered copies
    labels: list[int]
    originals: int
    gold: int  # the first `gold` texts are labelled posts (all of them, in the first batch)


def transfer_batches(
    labelled: datasets.Dataset, unlabelled: Iterable[str], augment: int, mask_token: str, seed: int,
    chunk_size: int = TRANSFER_CHUNK,
) -> Iterator[TransferBatch]:
    """The transfer set a batch at a time, in its order: the labelled posts and their copies, then
    `chunk_size` unlabelled texts at a time, each chunk followed by its copies. `unlabelled` is read as the
    batches are (a generator over a file is never held whole)."""
    texts, labels = list(labelled["text"]), list(labelled["label"])
    yield _batch(texts, labels, augment, mask_token, seed, first=0)
    first = len(texts)
    chunks = iter(unlabelled)
    while chunk := list(itertools.islice(chunks, chunk_size)):
        yield _batch(chunk, [NO_LABEL] * len(chunk), augment, mask_token, seed, first)
        first += len(chunk)


def _batch(texts, labels, augment, mask_token, seed, first) -> TransferBatch:
    copies = augmented_copies(texts, augment, mask_token, seed, first) if augment else []
    gold = sum(label != NO_LABEL for label in labels)
    return TransferBatch(texts + copies, labels + [NO_LABEL] * len(copies), len(texts), gold)


def build_transfer_set(
    labelled: datasets.Dataset, unlabelled: list[str], augment: int, mask_token: str, seed: int, chunk_size: int = TRANSFER_CHUNK
) -> TransferSet:
    """The whole transfer set in memory (`transfer_batches`' batches one after the other)."""
    texts, labels = [], []
    for batch in transfer_batches(labelled, unlabelled, augment, mask_token, seed, chunk_size):
        texts += batch.texts
        labels += batch.labels
    return TransferSet(texts, labels, len(labelled), len(unlabelled))
