"""Word-vector files: every format read back exactly, matched to a tokenizer's vocabulary, bad files refused."""

import gzip
import struct

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, tiny_config

import hf_seqmodels
from hf_seqmodels import train_tokenizer
from hf_seqmodels.vectors import (
    WordVectorsError,
    embedding_matrix,
    initialize_embeddings,
    load_word_vectors,
    vector_dimension,
)

REAL_GLOVE = REPO_ROOT.parent / "shared" / "data" / "word_vectors" / "glove.6B.50d.20newsgroups-sms.txt.gz"
DIM = 4
# Values exactly representable in float32, so that every format must give them back bit for bit. "Sat" and
# "SAT" test case-insensitive matching (the first spelling wins), "apple" after "Apple" an exact spelling
# winning over an earlier one, "zebra" a word the vocabulary lacks.
VECTORS = {
    "the": [0.5, -0.25, 0.125, 1.0],
    "cat": [-1.5, 2.0, 0.0625, -0.75],
    "Sat": [0.375, 0.5, -2.5, 3.0],
    "SAT": [9.0, 9.0, 9.0, 9.0],
    "Apple": [7.0, 7.0, 7.0, 7.0],
    "apple": [0.25, 0.75, -0.125, -1.0],
    "café": [1.25, -1.25, 2.25, -2.25],
    "zebra": [4.0, -4.0, 4.5, -4.5],
}
TEXTS = ["the cat sat on the mat", "the dog ate an apple", "a café by the mat", "the cat and the dog"]


def write_text(path, vectors=VECTORS, header=False, trailing_space=False):
    lines = [f"{len(vectors)} {DIM}"] if header else []
    lines += [" ".join([word, *map(str, values)]) + (" " if trailing_space else "") for word, values in vectors.items()]
    write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


def write_binary(path, vectors=VECTORS, newline_after_vector=True):
    data = f"{len(vectors)} {DIM}\n".encode()
    for word, values in vectors.items():
        data += word.encode("utf-8") + b" " + struct.pack(f"<{DIM}f", *values) + (b"\n" if newline_after_vector else b"")
    write_bytes(path, data)


def write_bytes(path, data: bytes):
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


# name -> (writer, detected format); each is also written gzip-compressed.
FILES = {
    "glove.txt": (lambda path: write_text(path), "glove"),
    "word2vec.txt": (lambda path: write_text(path, header=True), "word2vec"),
    "fasttext.vec": (lambda path: write_text(path, header=True, trailing_space=True), "word2vec"),
    "word2vec.bin": (lambda path: write_binary(path), "word2vec-binary"),
    "gensim.bin": (lambda path: write_binary(path, newline_after_vector=False), "word2vec-binary"),
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=100, min_df=1)


def assert_one_line_naming(error, path):
    message = str(error.value)
    assert str(path) in message and "\n" not in message, message


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", FILES)
def test_every_format_reads_back_exactly(tmp_path, name, compressed):
    path = tmp_path / (name + (".gz" if compressed else ""))
    FILES[name][0](path)

    words, vectors = load_word_vectors(path)

    assert words == list(VECTORS)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, np.array(list(VECTORS.values()), dtype=np.float32))
    assert vector_dimension(path) == DIM
    # The format given explicitly reads the same.
    np.testing.assert_array_equal(load_word_vectors(path, file_format=FILES[name][1])[1], vectors)


def test_embedding_rows_are_the_files_vectors(tmp_path, tokenizer):
    path = tmp_path / "glove.txt"
    write_text(path)
    vocabulary = tokenizer.get_vocab()

    matched = embedding_matrix(tokenizer, path, std=0.1, seed=3)

    weight = matched.weight
    assert weight.shape == (len(tokenizer), DIM)
    for word, file_word in [("the", "the"), ("cat", "cat"), ("sat", "Sat"), ("apple", "apple"), ("café", "café")]:
        assert torch.equal(weight[vocabulary[word]], torch.tensor(VECTORS[file_word])), word
    assert torch.count_nonzero(weight[tokenizer.pad_token_id]) == 0
    # Words the file lacks (and [UNK]) start small and random, the same for the same seed.
    missing = [vocabulary[word] for word in ("dog", "mat", "on", "[UNK]")]
    assert weight[missing].abs().max() < 0.6 and torch.count_nonzero(weight[missing]) == len(missing) * DIM
    assert torch.equal(embedding_matrix(tokenizer, path, std=0.1, seed=3).weight, weight)
    assert not torch.equal(embedding_matrix(tokenizer, path, std=0.1, seed=4).weight[missing], weight[missing])
    # Found share: the, cat, sat, apple, café of the vocabulary's words, special tokens not counted.
    word_count = len(vocabulary) - len(tokenizer.all_special_ids)  # [PAD], [UNK], [MASK] are not words
    assert (matched.found_count, matched.word_count) == (5, word_count)
    assert matched.found_fraction == pytest.approx(5 / word_count)


def test_initialize_embeddings_fills_every_architectures_table(tmp_path, tokenizer, architecture):
    path = tmp_path / "fasttext.vec.gz"
    FILES["fasttext.vec"][0](path)
    width = {"transformer": dict(hidden_size=DIM, num_attention_heads=2)}.get(architecture, dict(embedding_size=DIM))
    config = tiny_config(architecture, vocab_size=len(tokenizer), **width)
    model = hf_seqmodels.ARCHITECTURES[architecture].classifier_class(config)

    matched = initialize_embeddings(model, tokenizer, path)

    table = model.get_input_embeddings().weight
    assert torch.equal(table[tokenizer.get_vocab()["cat"]], torch.tensor(VECTORS["cat"]))
    assert torch.count_nonzero(table[tokenizer.pad_token_id]) == 0
    assert torch.equal(table.detach(), matched.weight)
    assert matched.found_count == 5
    # The model still runs on the vocabulary, padding included.
    batch = tokenizer(["the cat sat", "café"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, config.num_labels)


def test_explicit_format_reads_a_file_detection_would_misread(tmp_path):
    # A one-dimensional GloVe file whose first row looks like a `count dim` header.
    path = tmp_path / "years.txt"
    path.write_text("1990 5\nthe 0.5\n")

    words, vectors = load_word_vectors(path, file_format="glove")

    assert words == ["1990", "the"] and vectors.tolist() == [[5.0], [0.5]]
    with pytest.raises(ValueError, match="file_format must be one of glove, word2vec, word2vec-binary"):
        load_word_vectors(path, file_format="fasttext")


def damaged_files():
    rows = [" ".join([word, *map(str, values)]) for word, values in VECTORS.items()]
    short_row = rows[:2] + ["sat 0.1 0.2"] + rows[3:]
    word_row = rows[:1] + ["cat 0.1 x 0.3 0.4"] + rows[2:]
    long_row = "\n".join([f"{len(VECTORS)} {DIM}", rows[0], "cat 1 2 3 4 5", *rows[2:]])
    nan_row = rows[:1] + ["cat 0.1 nan 0.3 0.4"] + rows[2:]
    binary = f"{len(VECTORS)} {DIM}\n".encode() + b"".join(
        word.encode() + b" " + struct.pack(f"<{DIM}f", *values) for word, values in VECTORS.items()
    )
    header_text = "\n".join([f"{len(VECTORS) + 3} {DIM}", *rows]) + "\n"
    return {
        "empty": ("empty.txt", b"", "the file is empty"),
        "empty gzip": ("empty.txt.gz", gzip.compress(b""), "the file is empty"),
        "row too short": ("short.txt", "\n".join(short_row).encode(), "line 3 holds 2 values where line 1 says 4"),
        "row too long": ("long.vec", long_row.encode(), "line 3 holds 5 values where the header says 4"),
        "not a number": ("word.txt", "\n".join(word_row).encode(), "line 2 holds 'x', which is not a number"),
        "nan": ("nan.txt", "\n".join(nan_row).encode(), "the vector of 'cat' holds nan or inf"),
        "truncated binary": ("cut.bin", binary[:-5], "ends inside vector 8 of the 8"),
        "text shorter than its header": ("short.vec", header_text.encode(), "announces 11 vectors but the file holds 8"),
        "truncated gzip": ("cut.txt.gz", gzip.compress("\n".join(rows).encode())[:-12], "damaged compressed file"),
    }


@pytest.mark.parametrize("case", damaged_files())
def test_damaged_files_give_one_line_errors_naming_the_file(tmp_path, tokenizer, case):
    name, data, expected = damaged_files()[case]
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(WordVectorsError, match=expected) as error:
        embedding_matrix(tokenizer, path)

    assert_one_line_naming(error, path)


def test_missing_file_and_folder(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="no such word-vector file") as error:
        vector_dimension(tmp_path / "absent.txt")
    assert_one_line_naming(error, tmp_path / "absent.txt")
    with pytest.raises(IsADirectoryError, match="is a folder") as error:
        embedding_matrix(tokenizer, tmp_path)
    assert_one_line_naming(error, tmp_path)


def test_a_dimension_other_than_the_models_names_both(tmp_path, tokenizer):
    path = tmp_path / "glove.txt"
    write_text(path)
    model = hf_seqmodels.ARCHITECTURES["gru"].classifier_class(tiny_config("gru", vocab_size=len(tokenizer), embedding_size=6))

    with pytest.raises(WordVectorsError, match="holds 4-dimensional vectors but the model's embeddings are 6 wide") as error:
        initialize_embeddings(model, tokenizer, path)

    assert_one_line_naming(error, path)


def test_a_file_for_another_vocabulary_is_refused_with_the_share_found(tmp_path, tokenizer):
    path = tmp_path / "german.txt"
    write_text(path, {"der": VECTORS["the"], "katze": VECTORS["cat"], "the": VECTORS["the"]})

    with pytest.raises(WordVectorsError, match=r"1 of the tokenizer's \d+ words \(\d+\.\d\d%.*another language or vocabulary") as error:
        embedding_matrix(tokenizer, path, min_found_fraction=0.2)
    assert_one_line_naming(error, path)
    # Nothing in common is refused at the default threshold too.
    write_text(path, {"der": VECTORS["the"], "katze": VECTORS["cat"]})
    with pytest.raises(WordVectorsError, match=r"0 of the tokenizer's"):
        embedding_matrix(tokenizer, path)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_agrees_with_gensim(tmp_path, binary):
    gensim_models = pytest.importorskip("gensim.models")
    vectors = gensim_models.KeyedVectors(DIM)
    rng = np.random.default_rng(0)
    words = ["the", "of", "Paris", "naïve", "x"]
    vectors.add_vectors(words, rng.normal(size=(len(words), DIM)).astype(np.float32))
    path = tmp_path / ("gensim.bin" if binary else "gensim.vec.gz")
    vectors.save_word2vec_format(str(path), binary=binary)

    read_words, read_vectors = load_word_vectors(path)

    assert read_words == words
    np.testing.assert_allclose(read_vectors, vectors.vectors, rtol=1e-6)
    glove = tmp_path / "glove.txt"
    write_text(glove)
    from_gensim = gensim_models.KeyedVectors.load_word2vec_format(str(glove), no_header=True)
    np.testing.assert_array_equal(load_word_vectors(glove)[1], from_gensim.vectors)


def test_real_glove_file():
    if not REAL_GLOVE.exists():
        pytest.skip(f"GloVe vectors not found at {REAL_GLOVE}")
    assert vector_dimension(REAL_GLOVE) == 50

    words, vectors = load_word_vectors(REAL_GLOVE)

    assert words[0] == "the" and vectors[0, 0] == pytest.approx(0.418)
    assert vectors.shape == (len(words), 50) and len(words) > 60_000
