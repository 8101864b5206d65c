"""Pretrained word vectors (GloVe, word2vec, fastText) -> the rows of a model's embedding table.

Three file layouts hold all of them, plain or gzip-compressed (recognised by its magic bytes, not the name):

- `"glove"`: text, one `word v1 ... vd` row per line, no header (GloVe's `.txt`);
- `"word2vec"`: the same rows after a `count dim` header line (word2vec's text output, fastText's `.vec`);
- `"word2vec-binary"`: the `count dim` header, then per word `word ` and `dim` little-endian float32 values,
  optionally followed by a newline (word2vec's `-binary 1` output, gensim's `binary=True`).

`vector_dimension(path)` reads the first lines only, so a config's embedding width can follow the file;
`embedding_matrix(tokenizer, path)` matches the file's words to a tokenizer's vocabulary (case-insensitively:
GloVe is lower-cased, word2vec and fastText are not) and `initialize_embeddings(model, tokenizer, path)` copies
the result into `model.get_input_embeddings()`.

Why a reader of our own rather than gensim's `KeyedVectors.load_word2vec_format`, which reads the same files:
gensim does not check its rows. A row with one value is broadcast over the whole vector without a warning, a row
of another length fails with numpy's "could not broadcast" and no line number, an empty file with a TypeError,
and a header-less file is decompressed and read twice. Every one of those must be a one-line error naming the
file here, and the formats are simple enough that checking them is most of the work of reading them. The
tests check that this reader and gensim's agree on well-formed files whenever gensim is installed.
"""

import gzip
import io
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import torch

from .utils import one_line

FILE_FORMATS = ("glove", "word2vec", "word2vec-binary")
GZIP_MAGIC = b"\x1f\x8b"
# Below this share of the vocabulary found, the file is almost surely for another language or vocabulary.
MIN_FOUND_FRACTION = 0.01
ROWS_PER_BLOCK = 20_000  # text rows parsed by numpy at a time: bounds the memory the raw text takes


class WordVectorsError(ValueError):
    """A word-vector file that cannot be used: damaged, empty, of another dimension or another vocabulary."""


class MatchedVectors(NamedTuple):
    """`embedding_matrix`'s result: the table and how much of the vocabulary the file covered."""

    weight: torch.Tensor  # (vocab, dim): file vectors for found words, small random rows for the rest, [PAD] zero
    found_fraction: float  # found_count / word_count
    found_count: int  # vocabulary words (special tokens not counted) that have a vector in the file
    word_count: int  # vocabulary words, special tokens not counted


class _Layout(NamedTuple):
    file_format: str
    dim: int
    count: int | None  # vectors the header announces; None without a header


def vector_dimension(path: str | Path, file_format: str | None = None) -> int:
    """The dimension of the vectors in `path`, read from its first lines only."""
    return _read_layout(Path(path), file_format).dim


def load_word_vectors(
    path: str | Path, file_format: str | None = None, keep: Callable[[str], bool] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read a word-vector file: its words in file order and a float32 array (words, dim) of their vectors.

    Args:
        path: a GloVe, word2vec (text or binary) or fastText `.vec` file, plain or gzip-compressed.
        file_format: one of `FILE_FORMATS`; by default detected from the file itself.
        keep: if given, only rows whose word it accepts are kept, so a large file read for a small vocabulary
            holds, and parses the numbers of, only what is needed (every row's length is still checked).

    Raises `FileNotFoundError` / `IsADirectoryError` for a path that is not a file and `WordVectorsError` for
    an empty or damaged one; every message is one line naming the file.
    """
    path = Path(path)
    layout = _read_layout(path, file_format)
    with _open(path) as stream:
        if layout.file_format != "glove":
            stream.readline()  # the header, already read by _read_layout
        try:
            if layout.file_format == "word2vec-binary":
                words, vectors = _read_binary(stream, path, layout, keep)
            else:
                words, vectors = _read_text(stream, path, layout, keep)
        except (EOFError, OSError, zlib.error) as error:  # a damaged or cut-off gzip stream
            raise WordVectorsError(f"{path}: damaged compressed file ({_one_line(error)})") from None
    bad_row = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad_row.size:
        raise WordVectorsError(f"{path}: the vector of {words[bad_row[0]]!r} holds nan or inf (a damaged file?)")
    return words, vectors


def embedding_matrix(
    tokenizer,
    path: str | Path,
    *,
    dim: int | None = None,
    std: float = 0.1,
    seed: int = 0,
    file_format: str | None = None,
    min_found_fraction: float = MIN_FOUND_FRACTION,
) -> MatchedVectors:
    """An embedding table for `tokenizer`'s vocabulary with the vectors of `path` in the rows of found words.

    A vocabulary word takes the file's vector for the same word, else for the first word in the file (the most
    frequent, in every common format) that is the same once lower-cased. Words not found, and special tokens
    other than padding, get random rows drawn from N(0, std²) — pass the model's `initializer_range` so they
    start as the model's own embeddings would; the padding token's row is zero.

    Args:
        tokenizer: a `PreTrainedTokenizer(Fast)`; its `len()` is the number of rows.
        path, file_format: as for `load_word_vectors`.
        dim: the width the model's embeddings have; a file of another dimension is an error naming both.
        std, seed: the scale and seed of the random rows.
        min_found_fraction: below this share of the vocabulary found, the file is taken for one of another
            language or vocabulary and refused.
    """
    path = Path(path)
    file_dim = vector_dimension(path, file_format)
    if dim is not None and dim != file_dim:
        raise WordVectorsError(
            f"{path}: holds {file_dim}-dimensional vectors but the model's embeddings are {dim} wide; "
            f"set the embedding width to {file_dim} or use a file of {dim}-dimensional vectors"
        )
    special_ids = set(tokenizer.all_special_ids)
    vocabulary = {word: index for word, index in tokenizer.get_vocab().items() if index not in special_ids}
    lowered = {word.lower() for word in vocabulary}
    words, vectors = load_word_vectors(path, file_format, keep=lambda word: word.lower() in lowered)

    token_ids, rows = match_words(vocabulary, words)
    found_count, word_count = len(token_ids), len(vocabulary)
    found_fraction = found_count / word_count if word_count else 0.0
    if found_fraction < min_found_fraction:
        raise WordVectorsError(
            f"{path}: holds vectors for {found_count:,} of the tokenizer's {word_count:,} words "
            f"({found_fraction:.2%}, fewer than {min_found_fraction:.0%}); "
            "is it a vector file for another language or vocabulary?"
        )
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(len(tokenizer), file_dim, generator=generator) * std
    weight[torch.tensor(token_ids, dtype=torch.long)] = torch.from_numpy(vectors[rows])
    if tokenizer.pad_token_id is not None:
        weight[tokenizer.pad_token_id] = 0.0
    return MatchedVectors(weight, found_fraction, found_count, word_count)


def match_words(vocabulary: dict[str, int], words: list[str]) -> tuple[list[int], list[int]]:
    """(token ids, the file's rows for them) of the vocabulary words the file has a vector for: the exact
    spelling first, otherwise the first (most frequent) spelling that matches once lower-cased."""
    exact_row, lowered_row = {}, {}
    for row, word in enumerate(words):
        exact_row.setdefault(word, row)
        lowered_row.setdefault(word.lower(), row)
    token_ids, rows = [], []
    for word, index in vocabulary.items():
        row = exact_row.get(word, lowered_row.get(word.lower()))
        if row is not None:
            token_ids.append(index)
            rows.append(row)
    return token_ids, rows


def initialize_embeddings(
    model, tokenizer, path: str | Path, *, seed: int = 0, file_format: str | None = None
) -> MatchedVectors:
    """Copy the vectors of `path` into `model.get_input_embeddings()` for `tokenizer`'s vocabulary.

    The model's embedding width must be the file's dimension (`vector_dimension(path)` gives it before the
    model is built); words not found start from the model's own initialization scale (`initializer_range`).
    Returns the `MatchedVectors` copied, whose `found_fraction` is the share of the vocabulary found.
    """
    embeddings = model.get_input_embeddings()
    if embeddings.num_embeddings != len(tokenizer):
        raise ValueError(
            f"the model's embedding table has {embeddings.num_embeddings:,} rows but the tokenizer has "
            f"{len(tokenizer):,} entries; word vectors need the model built for this tokenizer's vocabulary"
        )
    std = getattr(model.config, "initializer_range", 0.02)
    matched = embedding_matrix(tokenizer, path, dim=embeddings.embedding_dim, std=std, seed=seed, file_format=file_format)
    with torch.no_grad():
        embeddings.weight.copy_(matched.weight)
    return matched


# --- reading ---------------------------------------------------------------------------------------------


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such word-vector file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a word-vector file")
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_layout(path: Path, file_format: str | None) -> _Layout:
    """The file's format and dimension (and vector count, for a header), from its first one or two lines."""
    if file_format is not None and file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)} (or None to detect it), got {file_format!r}")
    with _open(path) as stream:
        try:
            first = stream.readline()
            header = first.split()
            looks_like_header = len(header) == 2 and all(field.isdigit() for field in header)
            if file_format is None:
                file_format = _detect_format(stream, first) if looks_like_header else "glove"
        except (EOFError, OSError, zlib.error) as error:
            raise WordVectorsError(f"{path}: damaged compressed file ({_one_line(error)})") from None
    if not first.strip():
        raise WordVectorsError(f"{path}: the file is empty" if not first else f"{path}: the first line is blank")
    if file_format == "glove":
        dim = len(first.rstrip().split(b" ")) - 1
        if dim < 1:
            raise WordVectorsError(f"{path}: line 1 holds a word and no values; expected `word v1 ... vd`")
        return _Layout(file_format, dim, None)
    if not looks_like_header:
        raise WordVectorsError(f"{path}: line 1 is not a `count dim` header, which the {file_format} format starts with")
    count, dim = (int(field) for field in header)
    if count < 1 or dim < 1:
        raise WordVectorsError(f"{path}: the header announces {count} vectors of dimension {dim}; both must be ≥ 1")
    return _Layout(file_format, dim, count)


def _detect_format(stream: BinaryIO, first: bytes) -> str:
    """Text or binary after a `count dim` header: a text file's next line is a word and `dim` numbers."""
    dim = int(first.split()[1])
    fields = stream.readline().rstrip().split(b" ")
    if len(fields) != dim + 1:
        return "word2vec-binary"
    try:
        [float(field) for field in fields[1:]]
    except ValueError:
        return "word2vec-binary"
    return "word2vec"


def _read_text(stream: BinaryIO, path: Path, layout: _Layout, keep) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    blocks: list[np.ndarray] = []
    block_rows: list[bytes] = []  # the values of the kept rows not yet parsed
    block_lines: list[int] = []
    rows = 0
    first_line_number, dimension_source = (1, "line 1") if layout.count is None else (2, "the header")
    for line_number, line in enumerate(stream, start=first_line_number):
        line = line.rstrip()  # fastText ends each row with a space; Windows files end lines with \r
        if not line:
            continue
        word, _, values = line.partition(b" ")
        found = values.count(b" ") + 1 if values else 0
        if found != layout.dim:
            raise WordVectorsError(
                f"{path}: line {line_number} holds {found} values where {dimension_source} says {layout.dim}"
                " (a damaged file?)"
            )
        rows += 1
        word = word.decode("utf-8", errors="replace")
        if keep is None or keep(word):
            words.append(word)
            block_rows.append(values)
            block_lines.append(line_number)
            if len(block_rows) == ROWS_PER_BLOCK:
                blocks.append(_parse_rows(block_rows, block_lines, path))
                block_rows, block_lines = [], []
    if block_rows:
        blocks.append(_parse_rows(block_rows, block_lines, path))
    if layout.count is not None and rows != layout.count:
        raise WordVectorsError(
            f"{path}: the header announces {layout.count:,} vectors but the file holds {rows:,} "
            f"({'truncated' if rows < layout.count else 'a wrong header'}?)"
        )
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, layout.dim), dtype=np.float32)
    return words, vectors


def _parse_rows(rows: list[bytes], line_numbers: list[int], path: Path) -> np.ndarray:
    # numpy's C parser is several times faster than float() per value; on failure, find the culprit by hand.
    try:
        return np.loadtxt(
            io.BytesIO(b"\n".join(rows)), dtype=np.float32, delimiter=" ", comments=None, quotechar=None, ndmin=2
        )
    except ValueError:
        for values, line_number in zip(rows, line_numbers):
            for value in values.split(b" "):
                try:
                    float(value)
                except ValueError:
                    shown = value.decode("utf-8", errors="replace")
                    raise WordVectorsError(f"{path}: line {line_number} holds {shown!r}, which is not a number") from None
        raise


def _read_binary(stream: BinaryIO, path: Path, layout: _Layout, keep) -> tuple[list[str], np.ndarray]:
    vector_bytes = 4 * layout.dim
    words: list[str] = []
    kept: list[bytes] = []
    buffer, start = b"", 0
    for index in range(layout.count):
        while True:
            space = buffer.find(b" ", start)
            if space != -1 and len(buffer) - space - 1 >= vector_bytes:
                break
            chunk = stream.read(1 << 20)
            if not chunk:
                raise WordVectorsError(
                    f"{path}: the file ends inside vector {index + 1:,} of the {layout.count:,} its header announces "
                    "(truncated, or not a word2vec binary file?)"
                )
            buffer, start = buffer[start:] + chunk, 0
        # word2vec's C tool ends each vector with a newline; gensim does not.
        word = buffer[start:space].lstrip(b"\n").decode("utf-8", errors="replace")
        start = space + 1 + vector_bytes
        if keep is None or keep(word):
            words.append(word)
            kept.append(buffer[space + 1 : start])
    if (buffer[start:] + stream.read(4096)).strip(b"\n"):
        raise WordVectorsError(f"{path}: the file holds more than the {layout.count:,} vectors its header announces")
    vectors = np.frombuffer(b"".join(kept), dtype="<f4").astype(np.float32).reshape(len(words), layout.dim)
    return words, vectors


def _one_line(error: BaseException) -> str:
    return one_line(error) or type(error).__name__
