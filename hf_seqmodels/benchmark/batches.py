"""Batches with 20 Newsgroups' length distribution, the same for every model.

The training posts are tokenized with the project tokenizer (TF-IDF vocabulary, truncated at the
Transformer's `max_position_embeddings`), put in the order Trainer's `group_by_length` gives an epoch
(`get_length_grouped_indices`: random mega-batches of 50 batches, each sorted by length), cut into
batches, and `num_batches` of them are picked at evenly spaced quantiles of their padded length, so
that a few batches stand for the whole epoch. Every model, ours and the baselines, gets exactly these
batches, right-padded as `DataCollatorWithPadding` pads them.
"""

from dataclasses import dataclass

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

from ..data import load_newsgroups
from ..tokenization import train_tokenizer


@dataclass
class Posts:
    """Tokenized training posts: what the batches are cut from."""

    input_ids: list
    labels: list
    vocab_size: int
    max_length: int
    texts: list | None = None  # the posts as text, for models with their own tokenizer (deployment rows)
    tokenizer: object = None  # the project tokenizer that made `input_ids`

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def tokenized_posts(vocab_size: int, max_length: int, max_texts: int | None = None) -> Posts:
    """20 Newsgroups training posts through the project tokenizer, truncated at `max_length`."""
    train = load_newsgroups()["train"]
    if max_texts is not None:
        train = train.select(range(min(max_texts, len(train))))
    texts, labels = list(train["text"]), list(train["label"])
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, model_max_length=max_length)
    encoded = tokenizer(texts, truncation=True)["input_ids"]
    # A post without tokens cannot be packed (the textbook model would fail); with headers kept,
    # 20 Newsgroups has none, so nothing is lost.
    kept = [index for index, ids in enumerate(encoded) if ids]
    return Posts(
        [encoded[i] for i in kept], [labels[i] for i in kept], len(tokenizer), max_length, [texts[i] for i in kept], tokenizer
    )


def length_grouped_rows(posts: Posts, batch_size: int, num_batches: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """(picked, epoch): `num_batches` batches of post indices at evenly spaced quantiles of padded
    length, out of one `group_by_length` epoch of full batches (sorted by padded length)."""
    lengths = posts.lengths
    generator = torch.Generator().manual_seed(seed)
    order = get_length_grouped_indices(lengths, batch_size, generator=generator)
    epoch = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    epoch = [rows for rows in epoch if len(rows) == batch_size]
    epoch.sort(key=lambda rows: max(lengths[i] for i in rows))
    count = min(num_batches, len(epoch))
    return [epoch[int((k + 0.5) * len(epoch) / count)] for k in range(count)], epoch


def median_length_rows(posts: Posts, count: int) -> list[int]:
    """The `count` posts whose length is nearest the median post length: a typical single request."""
    lengths = posts.lengths
    median = sorted(lengths)[len(lengths) // 2]
    return sorted(range(len(lengths)), key=lambda index: (abs(lengths[index] - median), index))[:count]


def length_grouped_batches(posts: Posts, batch_size: int, num_batches: int, seed: int, device) -> tuple[list[dict], dict]:
    """`num_batches` batches of one `group_by_length` epoch, at evenly spaced quantiles of padded length.

    Returns the batches (right-padded, with labels) and a description of them for the report.
    """
    lengths = posts.lengths
    picked, epoch = length_grouped_rows(posts, batch_size, num_batches, seed)
    batches = [padded_batch(posts, rows, device) for rows in picked]

    real = sum(int(batch["attention_mask"].sum()) for batch in batches)
    padded = sum(batch["input_ids"].numel() for batch in batches)
    epoch_real = sum(lengths[i] for rows in epoch for i in rows)
    epoch_padded = sum(max(lengths[i] for i in rows) * len(rows) for rows in epoch)
    description = {
        "source": "20 Newsgroups training posts (bydate train minus validation), project tokenizer",
        "posts": len(lengths),
        "vocab_size": posts.vocab_size,
        "max_length": posts.max_length,
        "mean_post_length": sum(lengths) / len(lengths),
        "truncated_fraction": sum(length == posts.max_length for length in lengths) / len(lengths),
        "grouping": "Trainer's group_by_length epoch order; batches at evenly spaced quantiles of padded length",
        "batch_size": batch_size,
        "num_batches": len(batches),
        "batch_lengths": [int(batch["input_ids"].shape[1]) for batch in batches],
        "samples": sum(len(batch["labels"]) for batch in batches),
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_fraction": 1 - real / padded,
        "epoch_padding_fraction": 1 - epoch_real / epoch_padded,
        "same_batches_for_all_models": True,
    }
    return batches, description


def padded_batch(posts: Posts, rows: list[int], device) -> dict:
    """The posts at `rows`, right-padded to the longest of them, with their labels, on `device`."""
    lengths = [len(posts.input_ids[index]) for index in rows]
    input_ids = torch.zeros(len(rows), max(lengths), dtype=torch.long)  # the tokenizer's [PAD] is id 0
    attention_mask = torch.zeros(len(rows), max(lengths), dtype=torch.long)
    for row, (index, length) in enumerate(zip(rows, lengths)):
        input_ids[row, :length] = torch.tensor(posts.input_ids[index])
        attention_mask[row, :length] = 1
    labels = torch.tensor([posts.labels[i] for i in rows])
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    return {key: value.to(device) for key, value in batch.items()}
