"""`train_tokenizer`: the words it learns are the words it reads back, in any script, from any iterable or
data set, streamed or not; on ASCII text its vocabulary is scikit-learn's `TfidfVectorizer` vocabulary, ids
included; with `max_candidates`, the count pruned as its docstring says."""

import logging
from collections import Counter

import pytest
from datasets import Dataset, load_dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_seqmodels import train_tokenizer
from hf_seqmodels.tokenization import count_words

SPECIAL_TOKENS = {"[PAD]", "[UNK]", "[MASK]"}


def words_of(tokenizer, text: str) -> list[str]:
    """The words the tokenizer's own normalizer and pre-tokenizer cut `text` into."""
    backend = tokenizer.backend_tokenizer
    return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))]


def tokens(tokenizer, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


# Texts of a few words each (drawn from a small pool, so that words recur in several texts and pass
# min_df), the words and the text between them arbitrary Unicode.
word_pools = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6)


@st.composite
def corpora(draw):
    pool = draw(word_pools)
    piece = st.tuples(st.sampled_from(pool), st.text(max_size=2))
    return ["".join(word + separator for word, separator in draw(st.lists(piece, max_size=6))) for _ in range(draw(st.integers(2, 6)))]


WORD_SPLITTER = train_tokenizer(["any words"], min_df=1)


@settings(max_examples=150, deadline=None)
@given(texts=corpora())
def test_every_learned_word_is_read_back_as_itself(texts):
    # Every tokenizer it makes cuts text alike; this one tells what words the texts hold.
    words_per_text = [words_of(WORD_SPLITTER, text) for text in texts]
    document_frequency = Counter(word for words in words_per_text for word in set(words))
    recurring_words = {word for word, count in document_frequency.items() if count >= 2}
    if not recurring_words:
        with pytest.raises(ValueError, match="no word"):
            train_tokenizer(texts, vocab_size=1000, min_df=2)
        return
    tokenizer = train_tokenizer(texts, vocab_size=1000, min_df=2)
    vocabulary = tokenizer.get_vocab()
    # With room for every word: exactly the words of two or more texts are learned.
    assert set(vocabulary) - SPECIAL_TOKENS == recurring_words
    read_back = set()
    for text, words in zip(texts, words_per_text):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == [vocabulary.get(word, tokenizer.unk_token_id) for word in words]
        read_back.update(ids)
    # No learned word is unreachable: encoding the training texts produces every one of them.
    assert read_back >= {vocabulary[word] for word in set(vocabulary) - SPECIAL_TOKENS}
    for word in set(vocabulary) - SPECIAL_TOKENS:  # and a learned word typed alone is itself
        assert tokenizer(word, add_special_tokens=False)["input_ids"] == [vocabulary[word]], word


def test_words_outside_ascii_are_learned_whole():
    hindi, other = "हिन्दी भाषा बहुत सुंदर है", "cafe\u0301 İstanbul DİYARBAKIR"
    tokenizer = train_tokenizer([hindi, other] * 2)
    assert tokens(tokenizer, hindi) == ["हिन्दी", "भाषा", "बहुत", "सुंदर", "है"]
    # The accent joins its letter (é, U+00E9), and İ lower-cases to i and a combining dot above, kept in the word.
    assert tokens(tokenizer, other) == ["caf\u00e9", "i\u0307stanbul", "di\u0307yarbakir"]
    # NFKC: the precomposed é, and full-width letters are the same words.
    assert tokens(tokenizer, "caf\u00e9 ＣＡＦＥ\u0301 İSTANBUL") == ["caf\u00e9", "caf\u00e9", "i\u0307stanbul"]
    assert tokenizer.unk_token_id not in tokenizer(hindi + " " + other)["input_ids"]


@pytest.fixture(scope="module")
def ascii_posts(newsgroups_home):
    from sklearn.datasets import fetch_20newsgroups

    posts = fetch_20newsgroups(subset="train", remove=("headers", "footers", "quotes"))["data"]
    return [post for post in posts if post.isascii()][:3000]


@pytest.mark.parametrize(
    ("vocab_size", "min_df", "max_df"), [(4003, 2, 1.0), (2503, 0.002, 0.3), (60003, 3, 400)], ids=["counts", "fractions", "all-fit"]
)
def test_ascii_newsgroups_vocabulary_is_the_tfidf_vectorizers(ascii_posts, vocab_size, min_df, max_df):
    from sklearn.feature_extraction.text import TfidfVectorizer

    # The vectorizer's defaults: lower-cased runs of two or more word characters, which on ASCII text
    # are the tokenizer's words too. Its max_features cut falls among words of equal frequency here.
    vectorizer = TfidfVectorizer(max_features=vocab_size - 3, min_df=min_df, max_df=max_df).fit(ascii_posts)
    by_document_frequency = sorted(vectorizer.vocabulary_, key=lambda word: (vectorizer.idf_[vectorizer.vocabulary_[word]], word))
    expected = {"[PAD]": 0, "[UNK]": 1} | {word: index + 2 for index, word in enumerate(by_document_frequency)}
    expected["[MASK]"] = len(expected)

    assert train_tokenizer(ascii_posts, vocab_size=vocab_size, min_df=min_df, max_df=max_df).get_vocab() == expected


def test_a_generator_a_column_or_a_data_set_learns_what_a_list_learns(capsys):
    texts = ["the probe reached orbit", "The car engine, the ENGINE", "orbit of the moon", "a car in orbit", "Über car"] * 3
    expected = train_tokenizer(texts, vocab_size=8, min_df=2).get_vocab()
    dataset = Dataset.from_dict({"label": list(range(len(texts))), "text": texts})
    sources = [
        lambda: (text for text in texts),
        lambda: dataset["text"],
        lambda: dataset,  # its `text` column, read in batches
        lambda: dataset.to_iterable_dataset(num_shards=3),  # a stream
    ]
    for source in sources:
        assert train_tokenizer(source(), vocab_size=8, min_df=2).get_vocab() == expected
        # Batches of two: texts counted across batch boundaries as at once.
        assert train_tokenizer(source(), vocab_size=8, min_df=2, batch_size=2).get_vocab() == expected
    assert capsys.readouterr().err == ""  # no progress bar for a short fit


def test_a_data_set_without_a_text_column_is_refused_naming_its_columns():
    with pytest.raises(ValueError, match=r"without a 'text' column \(its columns: body, label\)") as error:
        train_tokenizer(Dataset.from_dict({"body": ["the car"] * 2, "label": [0, 1]}))
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def bydate_training_posts(newsgroups_home):
    from sklearn.datasets import fetch_20newsgroups

    return fetch_20newsgroups(subset="train")["data"]  # headers kept: e-mail addresses, names, every script


def test_batches_are_cut_into_the_words_pre_tokenizing_text_by_text_gives(bydate_training_posts):
    """The counting cuts each batch with `encode_batch`; it must count what the tokenizer's own normalizer and
    pre-tokenizer give text by text."""
    posts = bydate_training_posts[:2000]
    backend = WORD_SPLITTER.backend_tokenizer
    expected_tf, expected_df = Counter(), Counter()
    for post in posts:
        words = words_of(WORD_SPLITTER, post)
        expected_tf.update(words)
        expected_df.update(set(words))
    assert any(not post.isascii() for post in posts)
    assert count_words(posts, backend, batch_size=300, max_candidates=None) == (expected_tf, expected_df, len(posts))


def one_post_per_line(posts, path):
    """`posts` as a text file, one a line: the breaks inside a post (every kind `str.splitlines` knows) become
    spaces, which cut words as they did."""
    with open(path, "w", encoding="utf-8") as file:
        for post in posts:
            file.write(" ".join(post.splitlines()) + "\n")
    return path


@pytest.mark.slow  # three fits of the whole training split, about half a minute on two cores
def test_a_fit_streamed_from_a_file_learns_the_in_memory_vocabulary(bydate_training_posts, tmp_path):
    expected = train_tokenizer(bydate_training_posts).get_vocab()
    path = one_post_per_line(bydate_training_posts, tmp_path / "posts.txt")

    def lines():
        with open(path, encoding="utf-8", newline="\n") as file:
            for line in file:
                yield line.removesuffix("\n")

    assert train_tokenizer(lines()).get_vocab() == expected
    streamed = load_dataset("text", data_files=str(path), split="train", streaming=True)
    assert train_tokenizer(streamed).get_vocab() == expected


CANDIDATE_TEXTS = ["orbit probe", "orbit engine", "moon car", "orbit car", "probe moon", "car probe"]


def test_the_candidate_bound_drops_the_rarest_words_as_documented(caplog):
    """Batches of two texts, at most three words kept between batches; by hand, the words' document frequencies:
    after texts 1-2: orbit 2, probe 1, engine 1 (three words: nothing dropped);
    after texts 3-4: orbit 3, car 2, probe 1, engine 1, moon 1: five words, and dropping those in one text leaves
    two: orbit 3, car 2;
    after texts 5-6: orbit 3, car 3, probe 2 (counted anew), moon 1 (anew): four, and dropping moon leaves three.
    With min_df 2: car and orbit (3, ordered by word), probe (2). The exact count has probe in 3 texts and moon in 2.
    """
    bounded = dict(vocab_size=100, min_df=2, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="hf_seqmodels.tokenization"):
        pruned = train_tokenizer(CANDIDATE_TEXTS, max_candidates=3, **bounded).get_vocab()
    assert pruned == {"[PAD]": 0, "[UNK]": 1, "car": 2, "orbit": 3, "probe": 4, "[MASK]": 5}
    assert "max_candidates=3" in caplog.text and "at most 1 texts" in caplog.text
    exact = {"[PAD]": 0, "[UNK]": 1, "car": 2, "orbit": 3, "probe": 4, "moon": 5, "[MASK]": 6}
    assert train_tokenizer(CANDIDATE_TEXTS, **bounded).get_vocab() == exact
    # A bound never exceeded (five distinct words) drops nothing and warns of nothing: the exact count.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_seqmodels.tokenization"):
        assert train_tokenizer(CANDIDATE_TEXTS, max_candidates=5, **bounded).get_vocab() == exact
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (dict(min_df=0), "min_df"),
        (dict(min_df=1.5), "min_df"),
        (dict(max_df=-0.1), "max_df"),
        (dict(max_df="all"), "max_df"),
        (dict(min_df=True), "min_df"),
        (dict(min_df=5, max_df=0.5), "max_df"),  # at most 3 of the 6 texts, fewer than 5
        (dict(min_df=7), "min_df"),  # no word is in 7 texts
        (dict(vocab_size=3), "vocab_size"),
        (dict(model_max_length=0), "model_max_length"),
        (dict(max_candidates=0), "max_candidates"),
        (dict(max_candidates=2.5), "max_candidates"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_settings_are_refused_in_one_line_naming_them(arguments, named):
    with pytest.raises(ValueError, match=named) as error:
        train_tokenizer(["the car", "the probe", "the orbit"] * 2, **arguments)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("texts", "named"),
    [("the car engine", "texts"), (["the car", None], r"texts\[1\]"), (["!!", "a b c", ""], "no word")],
)
def test_bad_texts_are_refused_in_one_line(texts, named):
    with pytest.raises(ValueError, match=named) as error:
        train_tokenizer(texts, min_df=1)
    assert "\n" not in str(error.value)


def test_lone_surrogates_do_not_stop_training():
    tokenizer = train_tokenizer(["orbit\ud800car", "car orbit"])
    assert tokens(tokenizer, "orbit car") == ["orbit", "car"]
