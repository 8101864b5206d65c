"""The transfer set of a distillation: the texts a student learns its teachers' answers on.

The labelled training posts come first (a student learns their gold labels too), then unlabelled text: the rest
of the training split under `--train_fraction` / `--max_train_samples` (its labels dropped) and the texts of
`--unlabelled_file`; then `--augment N` altered copies of all of these, which the teachers alone label (Tang et
al. 2019: a transfer set larger than the data is what lets a student learn more from a teacher than its labels).
None of it is ever validation or test text.
"""

from dataclasses import dataclass

import datasets
import numpy as np

from ..data import read_raw_splits, select_text_and_label
from ..errors import UsageError
from .building import load_splits, sample_and_rest, train_sample_size

# The gold label of a text without one. Trainer counts every label that is not -100 into `num_items_in_batch`,
# so such texts count as items: their teacher term weighs as much as a labelled post's.
NO_LABEL = -1


@dataclass
class TransferSet:
    texts: list[str]
    labels: list[int]  # the gold label, or NO_LABEL
    labelled: int  # the first `labelled` texts are the labelled posts
    unlabelled: int  # then this many unlabelled texts; the rest are augmented copies

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


def augmented_copies(
    texts: list[str], copies: int, mask_token: str, seed: int, mask_probability: float = 0.2, span_probability: float = 0.5
) -> list[str]:
    """`copies` altered versions of every text: each word replaced by `mask_token` with `mask_probability`, and,
    with `span_probability`, the text cut to a random span of 50-100 % of its words (Tang et al.'s masking and
    n-gram sampling). Seeded: a resumed run makes the very same copies."""
    rng = np.random.default_rng(seed)
    altered = []
    for _ in range(copies):
        for text in texts:
            words = text.split()
            if not words:
                altered.append(text)
                continue
            masked = rng.random(len(words)) < mask_probability
            words = [mask_token if hide else word for word, hide in zip(words, masked)]
            if rng.random() < span_probability:
                length = int(np.ceil(len(words) * rng.uniform(0.5, 1.0)))
                start = int(rng.integers(0, len(words) - length + 1))
                words = words[start : start + length]
            altered.append(" ".join(words))
    return altered


def build_transfer_set(labelled: datasets.Dataset, unlabelled: list[str], augment: int, mask_token: str, seed: int) -> TransferSet:
    """The labelled posts, then the unlabelled texts, then `augment` altered copies of both."""
    texts = list(labelled["text"]) + list(unlabelled)
    copies = augmented_copies(texts, augment, mask_token, seed) if augment else []
    labels = list(labelled["label"]) + [NO_LABEL] * (len(unlabelled) + len(copies))
    return TransferSet(texts + copies, labels, len(labelled), len(unlabelled))
