"""`hf-seqmodels train --embeddings FILE`: a model trained from scratch starts from the file's word vectors.

Tiny CSV data sets and vector files written in tmp_path; training runs with a learning rate of 0, so the saved
embedding rows are still the ones the run started from.
"""

import csv
import json

import datasets
import numpy as np
import pytest
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from helpers import TEXTS, assert_refused
from hf_seqmodels import cli
from hf_seqmodels.training import ModelArguments, apply_word_vectors, build_model, build_tokenizer

LABELS = ["autos", "space", "hockey", "religion", "autos", "space"] * 4  # the topics of helpers.TEXTS
# Words of TEXTS (one capitalised, as word2vec and fastText files keep them) and a word of no text.
FILE_WORDS = ["car", "engine", "orbit", "probe", "hockey", "God", "religion", "summer", "zeppelin"]
TINY_OVERRIDES = {
    "gru": "hidden_size=8",
    "transformer": "num_attention_heads=2,intermediate_size=16,num_hidden_layers=1,max_position_embeddings=64",
}
DIMENSIONS = {"gru": 6, "transformer": 8}


@pytest.fixture
def data_files(tmp_path, monkeypatch):
    """Train, validation and test CSV files of TEXTS; run from tmp_path, with the data sets' cache there."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    monkeypatch.chdir(tmp_path)
    for split in ("train", "validation", "test"):
        with open(tmp_path / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(TEXTS, LABELS))
    return ["--train_file", "train.csv", "--validation_file", "validation.csv", "--test_file", "test.csv"]


def write_glove(path, words, dim, seed=0):
    """A GloVe text file of `words` with seeded vectors; returns {word: float32 vector} as written."""
    values = np.round(np.random.default_rng(seed).normal(size=(len(words), dim)), 4)
    path.write_text("".join(f"{word} {' '.join(str(v) for v in row)}\n" for word, row in zip(words, values)))
    return {word: row.astype(np.float32) for word, row in zip(words, values)}


def train_argv(architecture, output_dir, embeddings, *extra):
    return [
        "train", "--architecture", architecture, "--output_dir", output_dir, "--embeddings", embeddings,
        "--config_overrides", TINY_OVERRIDES[architecture], "--vocab_size", "60", "--min_df", "1",
        "--max_length", "32", "--num_train_epochs", "1", "--learning_rate", "0", "--per_device_train_batch_size", "8",
        "--disable_tqdm", "true", *extra,
    ]


def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("architecture", ["gru", "transformer"])
def test_trained_model_starts_from_the_file_vectors(architecture, data_files, tmp_path, capsys):
    dim = DIMENSIONS[architecture]
    vectors = write_glove(tmp_path / "vectors.txt", FILE_WORDS, dim)
    code, out, err = run(capsys, *train_argv(architecture, "model", "vectors.txt"), *data_files)
    assert code == 0, err

    folder = tmp_path / "model"
    config = AutoConfig.from_pretrained(folder)
    width = "embedding_size" if architecture == "gru" else "hidden_size"
    assert getattr(config, width) == dim  # follows the file: no override gave it
    tokenizer = AutoTokenizer.from_pretrained(folder)
    weight = AutoModelForSequenceClassification.from_pretrained(folder).get_input_embeddings().weight.detach().numpy()
    vocabulary = tokenizer.get_vocab()
    found = {word: vocabulary[word.lower()] for word in FILE_WORDS if word.lower() in vocabulary}
    assert set(found) == set(FILE_WORDS) - {"zeppelin"}
    for word, token_id in found.items():
        np.testing.assert_array_equal(weight[token_id], vectors[word], err_msg=word)
    assert not weight[tokenizer.pad_token_id].any()

    word_count = len(vocabulary) - len(tokenizer.all_special_ids)
    expected = {
        "path": "vectors.txt",
        "found_fraction": pytest.approx(len(found) / word_count),
        "found_count": len(found),
        "word_count": word_count,
    }
    assert json.loads(out.strip().splitlines()[-1])["embeddings"] == expected  # the line the command prints
    assert json.loads((folder / "training_summary.json").read_text())["embeddings"] == expected
    card = (folder / "README.md").read_text()
    assert f"word vectors of `vectors.txt`, which held {len(found)} of the vocabulary's {word_count} words" in card


def test_the_share_of_the_vocabulary_found_is_logged(data_files, tmp_path, caplog):
    write_glove(tmp_path / "vectors.txt", FILE_WORDS, 6)
    tokenizer = build_tokenizer(ModelArguments(architecture="gru", min_df=1, vocab_size=60), TEXTS, None)
    model_args = ModelArguments(architecture="gru", embeddings="vectors.txt", config_overrides="hidden_size=8")
    model = build_model(model_args, tokenizer, ["autos", "space"], None)
    with caplog.at_level("INFO", logger="hf_seqmodels"):
        record = apply_word_vectors(model, tokenizer, model_args)
    assert f"vectors for {record['found_count']} of the vocabulary's {record['word_count']} words" in caplog.text
    assert apply_word_vectors(model, tokenizer, ModelArguments(architecture="gru")) is None


@pytest.mark.parametrize(
    "architecture,overrides,words",
    [
        ("gru", "embedding_size=12", ["6-dimensional", "embedding_size=12", "leave embedding_size out"]),
        ("transformer", None, ["6-dimensional", "hidden_size=6", "num_attention_heads=4", "1, 2, 3, 6"]),
        ("transformer", "hidden_size=16,num_attention_heads=2", ["6-dimensional", "hidden_size=16"]),
    ],
)
def test_a_width_the_file_cannot_give_is_refused_before_data_loads(architecture, overrides, words, tmp_path, capsys):
    write_glove(tmp_path / "vectors.txt", FILE_WORDS, 6)
    # --train_file names a missing file: the width is checked before it, as before anything is loaded.
    argv = ["train", "--architecture", architecture, "--embeddings", tmp_path / "vectors.txt", "--train_file", "no.csv"]
    code, _, err = run(capsys, *argv, *(["--config_overrides", overrides] if overrides else []))
    assert_refused(code, err, "train", ["--embeddings", str(tmp_path / "vectors.txt"), *words])


def test_missing_file_is_refused_before_data_loads(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--architecture", "gru", "--embeddings", tmp_path / "glove.txt")
    assert_refused(code, err, "train", ["--embeddings", str(tmp_path / "glove.txt"), "no such word-vector file"])


def test_a_saved_model_keeps_its_own_embeddings(tmp_path, capsys):
    write_glove(tmp_path / "vectors.txt", FILE_WORDS, 6)
    code, _, err = run(capsys, "train", "--model_name_or_path", tmp_path, "--embeddings", tmp_path / "vectors.txt")
    assert_refused(code, err, "train", ["--embeddings", "--model_name_or_path", "keeps its own embeddings"])


def test_a_damaged_file_is_refused_with_its_line(data_files, tmp_path, capsys):
    write_glove(tmp_path / "vectors.txt", FILE_WORDS, 6)
    lines = (tmp_path / "vectors.txt").read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0]  # a value short
    (tmp_path / "vectors.txt").write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, *train_argv("gru", "model", "vectors.txt"), *data_files)
    assert_refused(code, err, "train", ["--embeddings", "vectors.txt", "line 3 holds 5 values", "6"])


def test_a_file_of_another_vocabulary_is_refused(data_files, tmp_path, capsys):
    write_glove(tmp_path / "vectors.txt", ["der", "und", "zeppelin"], 6)
    code, _, err = run(capsys, *train_argv("gru", "model", "vectors.txt"), *data_files)
    assert_refused(code, err, "train", ["--embeddings", "vectors.txt", "0 of the tokenizer's", "another language"])

