"""`train_tokenizer`: a word-level tokenizer whose vocabulary scikit-learn's `TfidfVectorizer` chooses.

The original comparison chose its vocabulary with a TF-IDF vectorizer fitted on the training posts;
we keep that choice and make the result a real `PreTrainedTokenizerFast`, so it pads, truncates,
saves and reloads (`AutoTokenizer.from_pretrained`) like any transformers tokenizer. The `tokenizers`
pipeline splits text exactly as the vectorizer does (lower-cased runs of two or more word characters,
scikit-learn's default `token_pattern`), so every word the vectorizer kept is found again.
"""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# For masked-language-model pretraining (`DataCollatorForLanguageModeling` needs it). It takes the id after
# the words, so the words keep the ids they had before it existed: [PAD] 0, [UNK] 1, words from 2.
MASK_TOKEN = "[MASK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, MASK_TOKEN)
# scikit-learn's default `token_pattern` without the \b anchors, which a greedy \w\w+ match implies.
WORD_PATTERN = r"\w\w+"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 30000,
    model_max_length: int = 512,
    min_df: int | float = 2,
    max_df: int | float = 1.0,
) -> PreTrainedTokenizerFast:
    """Fit a TF-IDF vectorizer on `texts` (the training split only) and build a tokenizer from its vocabulary.

    Args:
        texts: the training texts.
        vocab_size: size of the whole vocabulary, the three special tokens `[PAD]` (id 0), `[UNK]` (id 1)
            and `[MASK]` (the last id) included; the vectorizer keeps the `vocab_size - 3` most frequent words.
        model_max_length: the length `truncation=True` cuts to.
        min_df, max_df: passed to `TfidfVectorizer`: words in fewer / more documents are left out.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(
            f"vocab_size must be ≥ {len(SPECIAL_TOKENS) + 1} ({', '.join(SPECIAL_TOKENS)} and at least one word), "
            f"got {vocab_size}."
        )
    if model_max_length < 1:
        raise ValueError(f"model_max_length must be ≥ 1, got {model_max_length}.")
    from sklearn.feature_extraction.text import TfidfVectorizer  # imported here: scikit-learn takes a second to load

    vectorizer = TfidfVectorizer(
        lowercase=True, token_pattern=WORD_PATTERN, max_features=vocab_size - len(SPECIAL_TOKENS), min_df=min_df, max_df=max_df
    )
    vectorizer.fit(texts)
    # Ids follow document frequency (most common first), after the special tokens.
    idf = vectorizer.idf_
    words = sorted(vectorizer.vocabulary_, key=lambda word: (idf[vectorizer.vocabulary_[word]], word))
    vocabulary = {PAD_TOKEN: 0, UNK_TOKEN: 1} | {word: index + 2 for index, word in enumerate(words)}
    vocabulary[MASK_TOKEN] = len(vocabulary)

    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        mask_token=MASK_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
