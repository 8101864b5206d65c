"""Checks on what users feed the package: data files, text and label columns, saved folders.

Every check either makes the input usable or raises a `ValueError` that names where the problem is
(the file, the split, the column, the row index counted from 0 in that file or split) and what would
be valid, before any tokenizing or training starts.

Choices, and why:

- Bytes that are not UTF-8 in a CSV / JSON file are refused, naming the file, line and byte. Such a
  file is nearly always in another encoding (Latin-1, Windows-1252); replacing the bytes would
  silently turn every accented word into a different word, in training data the user cannot see.
- Lone surrogates (``"\\ud800"``) in a Python string are replaced with U+FFFD. They are not
  characters, cannot be encoded as UTF-8 (the `tokenizers` library refuses the whole batch), and
  typically come from text decoded with ``errors="surrogateescape"``. U+FFFD is not a word
  character, so the word-level tokenizer reads the rest of the text exactly as before.
- Missing texts (``None``, e.g. an empty CSV cell) and non-text columns are refused: pandas cannot
  tell an empty cell from a missing value, and guessing would train on examples the user never wrote.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `predict` uses the text checks alone and must not pay for importing `datasets`
    import datasets

# How many offending rows an error lists; the count of all of them follows.
SHOWN_ROWS = 5
REPLACEMENT_CHARACTER = "\ufffd"


def check_utf8(path: str | Path, chunk_size: int = 1 << 20) -> None:
    """Refuse a text data file that is not valid UTF-8, naming the line and the offending byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                _raise_not_utf8(path, chunk, error, line, offset)
            line += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValueError(f"data file {str(path)!r} is not UTF-8: it ends in the middle of a character") from None


def _raise_not_utf8(path, chunk: bytes, error: UnicodeDecodeError, line: int, offset: int):
    # error.object is the bytes handed to decode() (pending bytes from the previous chunk first).
    pending = len(error.object) - len(chunk)
    start = max(error.start - pending, 0)
    line += chunk[:start].count(b"\n")
    byte = error.object[error.start : error.start + 1]
    raise ValueError(
        f"data file {str(path)!r} is not UTF-8: byte 0x{byte.hex()} at line {line} (byte offset {offset + start}) "
        "cannot be decoded; re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    ) from None


def _rows(indices: list[int]) -> str:
    shown = ", ".join(str(index) for index in indices[:SHOWN_ROWS])
    more = f" and {len(indices) - SHOWN_ROWS} more" if len(indices) > SHOWN_ROWS else ""
    return f"row{'s' if len(indices) > 1 else ''} {shown}{more}"


def has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (see the module's docstring for why)."""
    if not has_surrogates(text):
        return text
    return "".join(REPLACEMENT_CHARACTER if "\ud800" <= char <= "\udfff" else char for char in text)


def check_text_column(dataset: datasets.Dataset, column: str, source: str) -> datasets.Dataset:
    """`dataset` with a usable text `column`: strings only (else an error naming the rows), surrogates replaced."""
    feature = dataset.features[column]
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        raise ValueError(
            f"column {column!r} of {source} holds {feature} values, not text; choose the text column with --text_column"
        )
    texts = dataset[column][:]  # read whole: iterating a datasets Column formats one row at a time (7x slower)
    missing = [index for index, text in enumerate(texts) if text is None]
    if missing:
        raise ValueError(
            f"column {column!r} of {source}: {_rows(missing)} ({len(missing)} in all) have no text (an empty "
            "cell or null); fill them (an empty string is a valid text) or drop those rows"
        )
    if not any(has_surrogates(text) for text in texts):
        return dataset
    return dataset.map(
        lambda batch: {column: [clean_text(text) for text in batch[column]]},
        batched=True,
        desc="Replacing invalid surrogates with U+FFFD",
    )


def check_label_column(dataset: datasets.Dataset, column: str, source: str) -> None:
    """Refuse missing labels and, for a `ClassLabel` column, ids outside its classes (e.g. -1: unlabelled)."""
    from datasets import ClassLabel

    feature = dataset.features[column]
    labels = dataset[column][:]  # read whole, as the texts above
    missing = [index for index, label in enumerate(labels) if label is None or _is_nan(label)]
    if missing:
        raise ValueError(
            f"column {column!r} of {source}: {_rows(missing)} ({len(missing)} in all) have no label; "
            "label or drop them"
        )
    if isinstance(feature, ClassLabel):
        bad = [index for index, label in enumerate(labels) if not 0 <= label < feature.num_classes]
        if bad:
            raise ValueError(
                f"column {column!r} of {source}: {_rows(bad)} hold label ids {sorted({labels[i] for i in bad})[:SHOWN_ROWS]} "
                f"outside 0..{feature.num_classes - 1} (the {feature.num_classes} classes {feature.names[:SHOWN_ROWS]}...); "
                "-1 usually marks unlabelled examples: drop them"
            )


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def check_classes(dataset: datasets.Dataset, source: str) -> None:
    """A classifier needs at least two classes among its training labels."""
    found = sorted(set(dataset["label"][:]))
    names = dataset.features["label"].names
    if len(found) < 2:
        seen = [names[index] for index in found]
        raise ValueError(
            f"the training data of {source} holds {len(found)} class{'es' if len(found) != 1 else ''} {seen}; "
            "a classifier needs at least two (check --label_column, --categories or the file)"
        )
