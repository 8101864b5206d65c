"""`train_tokenizer`: a word-level tokenizer whose vocabulary is chosen as scikit-learn's `TfidfVectorizer` chooses it.

The original comparison chose its vocabulary with a TF-IDF vectorizer fitted on the training posts;
we keep that choice and make the result a real `PreTrainedTokenizerFast`, so it pads, truncates,
saves and reloads (`AutoTokenizer.from_pretrained`) like any transformers tokenizer.

The words are counted with the tokenizer's own pipeline (NFKC, lower case, runs of two or more word
characters), so every word learned is a word the tokenizer reads back, in any script. The choice among
them is the vectorizer's: words in fewer than `min_df` or more than `max_df` texts are left out, the
`vocab_size - 3` of highest total count are kept, and ids follow document frequency. On ASCII text the
words are the vectorizer's too (scikit-learn's default `token_pattern`, lower-cased), so there the
vocabulary equals `TfidfVectorizer(max_features=vocab_size - 3, min_df=..., max_df=...)`'s, ids
included. Elsewhere they differ where Python's `re` and the `tokenizers` library disagree, and the
tokenizer's words are the ones it can read: e.g. Python's `\\w` leaves out the vowel signs of
Devanagari, cutting हिन्दी into pieces that the tokenizer never produces.
"""

import logging
import reprlib
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sized
from itertools import islice
from numbers import Integral, Real

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from .options import check_at_least, check_vocab_size
from .validation import clean_text

logger = logging.getLogger(__name__)

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# For masked-language-model pretraining (`DataCollatorForLanguageModeling` needs it). It takes the id after
# the words, so the words keep the ids they had before it existed: [PAD] 0, [UNK] 1, words from 2.
MASK_TOKEN = "[MASK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, MASK_TOKEN)
# scikit-learn's default `token_pattern` without the \b anchors, which a greedy \w\w+ match implies.
WORD_PATTERN = r"\w\w+"
# Counting shows a progress bar only once it has taken this many seconds: quiet for small corpora.
PROGRESS_DELAY_SECONDS = 2.0
# The column a `datasets.Dataset` / `IterableDataset` given as `texts` is read from: the package's data sets' own.
TEXT_COLUMN = "text"


def train_tokenizer(
    texts: Iterable,
    vocab_size: int = 30000,
    model_max_length: int = 512,
    min_df: int | float = 2,
    max_df: int | float = 1.0,
    *,
    max_candidates: int | None = None,
    batch_size: int = 1000,
) -> PreTrainedTokenizerFast:
    """Learn a word-level vocabulary from `texts` (the training split only) and build a tokenizer from it.

    Args:
        texts: the training texts, read once, `batch_size` at a time: a list, a generator (say, the lines of a
            file), a `datasets` column, any iterable of strings; or a `datasets.Dataset` or
            `datasets.IterableDataset` (a streamed one included) with a `text` column, read in batches of that
            column alone, so that its texts are never all in memory at once. Memory grows with the number of
            distinct words, not with the corpus (see `max_candidates` to bound it).
        vocab_size: size of the whole vocabulary, the three special tokens `[PAD]` (id 0), `[UNK]` (id 1)
            and `[MASK]` (the last id) included; the `vocab_size - 3` words of highest total count are kept.
        model_max_length: the length `truncation=True` cuts to.
        min_df, max_df: as in `TfidfVectorizer`: words in fewer / more texts are left out; an int is a
            number of texts (≥ 1), a float a share of them (0.0 to 1.0).
        max_candidates: a bound on the words counted at once (None, the default: no bound, the exact count).
            After each batch, if more than `max_candidates` distinct words have been counted, the words of
            the lowest document frequency so far are dropped, a whole frequency at a time (every word seen in
            one text, then every word seen in two, ...), until at most `max_candidates` are left; the table
            then holds at most `max_candidates` words plus one batch's new ones. Until the bound is first
            exceeded the result is exactly the unbounded one; after that it can differ, and a warning says
            so. A dropped word loses the counts it had, and if it comes again is counted from zero: its
            document frequency and total count end lower than the true ones, by what it had each time it
            was dropped (words never dropped are counted exactly, and the number of texts always is). So a
            word dropped early can miss `min_df`, or the `vocab_size` cut, that its full count would have
            passed, or pass a `max_df` its full count would have failed, and an undercounted word can take
            another id (ids follow document frequency). How much is lost depends on the corpus: on the 20
            Newsgroups bydate training posts (headers kept, about 130,000 distinct words), `vocab_size=30000`
            with a bound of 120,000 keeps 97 % of the exact vocabulary's words, with 60,000 only 92 %; give a
            bound many times `vocab_size`, for corpora whose distinct words would not fit in memory.
        batch_size: how many texts are read and counted at a time, and how often the bound is checked.
    """
    check_vocab_size(vocab_size, SPECIAL_TOKENS, name="vocab_size")
    check_at_least("model_max_length", model_max_length, 1)
    check_document_frequency("min_df", min_df)
    check_document_frequency("max_df", max_df)
    check_count("max_candidates", max_candidates, allow_none=True)
    check_count("batch_size", batch_size)
    if isinstance(texts, str):
        raise ValueError("texts must be an iterable of texts (a list of strings, say), got one string.")

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    # NFKC rather than NFC: besides composing accents (e + U+0301 → é), it folds compatibility forms,
    # full-width letters, ligatures, superscripts, non-breaking spaces, into the plain characters, which a
    # bag-of-words classifier should read as the same word. ASCII text is left as it is. It comes before
    # lower-casing, which is defined on the folded characters (ᴬ folds to A, then lower-cases to a).
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True)

    term_frequency, document_frequency, document_count = count_words(texts, tokenizer, batch_size, max_candidates)
    words = choose_words(term_frequency, document_frequency, document_count, vocab_size - len(SPECIAL_TOKENS), min_df, max_df)
    vocabulary = {PAD_TOKEN: 0, UNK_TOKEN: 1} | {word: index + 2 for index, word in enumerate(words)}
    vocabulary[MASK_TOKEN] = len(vocabulary)
    tokenizer.model = models.WordLevel(vocab=vocabulary, unk_token=UNK_TOKEN)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        mask_token=MASK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


def check_document_frequency(name: str, value) -> None:
    """The values `TfidfVectorizer` accepts for min_df / max_df: a count of texts or a share of them."""
    if isinstance(value, bool) or not isinstance(value, Real):
        valid = False
    elif isinstance(value, Integral):
        valid = value >= 1
    else:
        valid = 0.0 <= value <= 1.0
    if not valid:
        raise ValueError(
            f"{name} must be a number of texts (an int ≥ 1) or a share of them (a float from 0.0 to 1.0), got {value!r}."
        )


def check_count(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number ≥ 1{' or None' if allow_none else ''}, got {value!r}.")


def text_batches(texts: Iterable, batch_size: int) -> Iterator[list]:
    """`texts` in lists of `batch_size`; a `datasets.Dataset` / `IterableDataset` by its `text` column alone."""
    # A data set can only be one if `datasets` is imported: checked without importing it, which a fit from a
    # list of texts would otherwise pay for.
    datasets = sys.modules.get("datasets")
    if datasets is not None and isinstance(texts, (datasets.Dataset, datasets.IterableDataset)):
        columns = texts.column_names  # None for a stream whose features are unknown until read
        if columns is not None and TEXT_COLUMN not in columns:
            raise ValueError(
                f"texts is a {type(texts).__name__} without a {TEXT_COLUMN!r} column (its columns: {', '.join(columns)}); "
                f"rename the column of texts to {TEXT_COLUMN!r}, or pass the column itself."
            )
        for batch in texts.select_columns([TEXT_COLUMN]).iter(batch_size=batch_size):
            yield batch[TEXT_COLUMN]
        return
    iterator = iter(texts)
    while batch := list(islice(iterator, batch_size)):
        yield batch


def count_words(texts: Iterable, tokenizer: Tokenizer, batch_size: int, max_candidates: int | None) -> tuple[Counter, Counter, int]:
    """Each word's total count and number of texts holding it, and the number of texts, in one pass.

    The words are those `tokenizer`'s normalizer and pre-tokenizer cut, which is what makes every learned
    word one the tokenizer reads back. Counted here rather than by `tokenizers`' `WordLevelTrainer`: the
    trainer counts only total occurrences and keeps words by that count (`min_frequency`), while the
    vectorizer's choice needs the number of texts holding each word (min_df, max_df, and the ids' order).
    The library has no batch call for normalizing and pre-tokenizing alone, so each batch is normalized
    text by text and then cut by `encode_batch` of a tokenizer that holds only the pre-tokenizer: its
    offsets, into the normalized texts, are the words. That is faster than `pre_tokenize_str` text by text
    (the Rust side cuts the whole batch at once, on every core), and cuts the same words
    (`tests/test_tokenization.py`).
    """
    normalize = tokenizer.normalizer.normalize_str
    splitter = Tokenizer(models.WordLevel({UNK_TOKEN: 0}, unk_token=UNK_TOKEN))
    splitter.pre_tokenizer = tokenizer.pre_tokenizer
    term_frequency, document_frequency = Counter(), Counter()
    document_count = 0
    dropped_up_to = 0  # the highest document frequency at which words were dropped (0: none ever)
    total = len(texts) if isinstance(texts, Sized) else None
    with tqdm(total=total, desc="Counting words", unit=" texts", delay=PROGRESS_DELAY_SECONDS) as progress:
        for batch in text_batches(texts, batch_size):
            for offset, text in enumerate(batch):
                if not isinstance(text, str):
                    raise ValueError(f"texts[{document_count + offset}] is {type(text).__name__} {reprlib.repr(text)}, not a string.")
            # Lone surrogates are replaced as everywhere else in the package (`validation.clean_text`).
            normalized = [normalize(clean_text(text)) for text in batch]
            for text, encoding in zip(normalized, splitter.encode_batch(normalized, add_special_tokens=False)):
                words = [text[start:end] for start, end in encoding.offsets]
                term_frequency.update(words)
                document_frequency.update(set(words))
            document_count += len(batch)
            progress.update(len(batch))
            if max_candidates is not None and len(document_frequency) > max_candidates:
                level = level_to_drop(document_frequency, max_candidates)
                term_frequency = Counter({word: count for word, count in term_frequency.items() if document_frequency[word] > level})
                document_frequency = Counter({word: count for word, count in document_frequency.items() if count > level})
                dropped_up_to = max(dropped_up_to, level)
    if dropped_up_to:
        logger.warning(
            "train_tokenizer: more than max_candidates=%d distinct words; words then in at most %d texts were "
            "dropped, so the vocabulary may differ from an exact count (train_tokenizer's docstring says how)",
            max_candidates,
            dropped_up_to,
        )
    return term_frequency, document_frequency, document_count


def level_to_drop(document_frequency: Counter, max_candidates: int) -> int:
    """The lowest document frequency such that dropping every word at or below it leaves at most `max_candidates`."""
    words_at = Counter(document_frequency.values())
    left = len(document_frequency)
    for level in sorted(words_at):
        left -= words_at[level]
        if left <= max_candidates:
            break
    return level


def choose_words(
    term_frequency: Counter, document_frequency: Counter, document_count: int, max_words: int, min_df, max_df
) -> list[str]:
    """The words `TfidfVectorizer(max_features=max_words, min_df=min_df, max_df=max_df)` keeps, most common first.

    Mirrors scikit-learn's `CountVectorizer.fit_transform` and `_limit_features`: the document-frequency
    bounds first, then the `max_words` of highest total count, ordered by idf (document frequency
    descending, which is idf ascending), then by word.
    """
    if not document_frequency:
        raise ValueError("texts hold no word (a run of two or more letters, digits or marks) to learn a vocabulary from.")
    max_texts = max_df if isinstance(max_df, Integral) else max_df * document_count
    min_texts = min_df if isinstance(min_df, Integral) else min_df * document_count
    if max_texts < min_texts:
        raise ValueError(
            f"max_df={max_df!r} allows at most {max_texts:g} of the {document_count} texts, fewer than the "
            f"{min_texts:g} min_df={min_df!r} requires."
        )
    candidates = sorted(word for word, count in document_frequency.items() if min_texts <= count <= max_texts)
    if not candidates:
        raise ValueError(
            f"no word is in at least min_df={min_df!r} and at most max_df={max_df!r} of the {document_count} texts; "
            "lower min_df or raise max_df."
        )
    if len(candidates) > max_words:
        # scikit-learn's own selection, the same call on the same array (float counts, words in code-point
        # order), so that words tied in count at the cut are kept or dropped exactly as the vectorizer does.
        # numpy's default sort is not stable, and its order among ties depends on the CPU's SIMD support.
        counts = np.array([term_frequency[word] for word in candidates], dtype=np.float64)
        kept = np.sort((-counts).argsort()[:max_words])
        candidates = [candidates[index] for index in kept]
    return sorted(candidates, key=lambda word: (-document_frequency[word], word))
