"""The evaluation-split rule (README.md, "Train, pretrain, distill ..."): no vocabulary, pretraining or
distillation the package runs on its own data ever reads the test posts' text. Each test runs the real path
(`train`, `pretrain`, `distill`, the benchmark's posts) on a slice of 20 Newsgroups, with a vocabulary large
enough to learn every word it reads, and checks that what was learned is the training text's exactly: a word
that only the test posts hold would show."""

import json
from collections import Counter

import pytest
from transformers import AutoTokenizer

from helpers import run_command
from hf_seqmodels import train_tokenizer
from hf_seqmodels.benchmark.batches import tokenized_posts
from hf_seqmodels.data import load_newsgroups
from hf_seqmodels.training import DataArguments, ModelArguments, SeqModelsTrainingArguments, load_data, train
from hf_seqmodels.training.pretraining import load_unlabelled_data, parse_pretraining_args, pretrain
from hf_seqmodels.training.transfer import unlabelled_remainder

# Room for every word: nothing read is left out of the vocabulary, so nothing read can hide.
EVERY_WORD = {"vocab_size": 100_000, "min_df": 1, "max_length": 32}
SLICE = dict(categories="comp.graphics,rec.autos,sci.space", max_train_samples=60, max_eval_samples=20, max_test_samples=40)
TINY_GRU = "embedding_size=8,hidden_size=8"
QUIET = ["--disable_tqdm", "true", "--report_to", "none"]


def words_of(texts) -> set[str]:
    return set(train_tokenizer(list(texts), min_df=1, vocab_size=EVERY_WORD["vocab_size"]).get_vocab()) - {"[PAD]", "[UNK]", "[MASK]"}


def learned_words(folder) -> set[str]:
    return set(AutoTokenizer.from_pretrained(folder).get_vocab()) - {"[PAD]", "[UNK]", "[MASK]"}


def words_only_the_test_posts_hold(splits, read_texts) -> set[str]:
    """Words of the test posts that none of `read_texts` holds: what a leak would add. Asserted non-empty, so
    that the checks using it can fail."""
    found = words_of(splits["test"]["text"]) - words_of(read_texts)
    assert found
    return found


@pytest.mark.parametrize("protocol", ["bydate", "seed"])
def test_the_pretraining_loader_reads_the_training_and_validation_text_only(protocol, newsgroups_home):
    seed_removes = "headers,footers,quotes" if protocol == "seed" else ""
    data_args = DataArguments(protocol=protocol, remove=seed_removes, categories=SLICE["categories"])
    labelled = load_data(data_args)
    unlabelled = load_unlabelled_data(data_args)
    assert set(unlabelled) == {"train", "validation"}
    for split in ("train", "validation"):
        assert Counter(unlabelled[split]["text"]) == Counter(labelled[split]["text"])
    # Posts whose text only the test split holds (duplicates and posts emptied by `remove` aside) are never read.
    only_in_test = set(labelled["test"]["text"]) - set(labelled["train"]["text"]) - set(labelled["validation"]["text"])
    assert len(only_in_test) > 0.9 * len(labelled["test"])
    assert not only_in_test & (set(unlabelled["train"]["text"]) | set(unlabelled["validation"]["text"]))


def test_the_tokenizer_train_fits_learns_the_training_posts_words_and_no_test_word(newsgroups_home, tmp_path):
    data_args = DataArguments(**SLICE)
    model_args = ModelArguments(architecture="gru", config_overrides=TINY_GRU, **EVERY_WORD)
    training_args = SeqModelsTrainingArguments(output_dir=str(tmp_path / "gru"), num_train_epochs=1, disable_tqdm=True, report_to=[])
    train(model_args, data_args, training_args)
    splits = load_data(data_args)
    learned = learned_words(tmp_path / "gru")
    assert learned == words_of(splits["train"]["text"])  # the training posts' words, every one of them
    assert not learned & words_only_the_test_posts_hold(splits, splits["train"]["text"])


def test_pretraining_on_20_newsgroups_learns_no_test_word(newsgroups_home, tmp_path):
    arguments = [
        "--architecture", "gru", "--config_overrides", TINY_GRU, "--categories", SLICE["categories"],
        "--max_train_samples", "60", "--max_eval_samples", "20", "--max_steps", "1", "--line_by_line", "true",
        *[item for name, value in EVERY_WORD.items() for item in (f"--{name}", str(value))],
        "--output_dir", str(tmp_path / "mlm"), *QUIET,
    ]  # fmt: skip
    model_args, data_args, mlm_args, training_args = parse_pretraining_args(arguments)
    summary = pretrain(model_args, data_args, mlm_args, training_args)
    read = load_unlabelled_data(data_args)["train"]["text"]  # a sample of the training split's posts
    splits = load_data(DataArguments(categories=SLICE["categories"]))
    assert set(read) <= set(splits["train"]["text"])
    learned = learned_words(tmp_path / "mlm")
    assert summary["train_texts"] == len(read) == 60
    assert learned == words_of(read)
    assert not learned & words_only_the_test_posts_hold(splits, splits["train"]["text"])


def test_distillation_fits_its_student_on_the_training_posts_alone(newsgroups_home, tmp_path, capsys):
    """Under `--train_fraction` the transfer set is the labelled sample and the rest of the training slice
    (`test_distillation.py` holds the rest to the training split); the student's tokenizer reads those, and no
    validation or test post."""
    data = ["--categories", SLICE["categories"], "--max_train_samples", "60", "--max_eval_samples", "20",
            "--max_test_samples", "40", "--train_fraction", "0.5"]  # fmt: skip
    code, out, err = run_command(
        capsys, "distill", "--architecture", "gru", "--config_overrides", TINY_GRU, "--vocab_size", "100000",
        "--min_df", "1", "--max_length", "32", *data, "--teacher", "tfidf", "--augment", "1", "--max_steps", "1",
        "--output_dir", tmp_path / "student", *QUIET,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["distillation"]["transfer_set"] == {"texts": 120, "labelled": 30, "unlabelled": 30, "augmented": 60}
    data_args = DataArguments(**SLICE, train_fraction=0.5)
    splits = load_data(data_args)
    read = list(splits["train"]["text"]) + unlabelled_remainder(data_args)
    learned = learned_words(tmp_path / "student")
    assert learned == words_of(read)
    held_out = {"test": splits["test"]["text"], "validation": splits["validation"]["text"]}
    for split, texts in held_out.items():
        assert not learned & (words_of(texts) - words_of(read)), split
    assert not learned & words_only_the_test_posts_hold(splits, read)


def test_the_benchmarks_vocabulary_is_fitted_on_training_posts(newsgroups_home):
    posts = tokenized_posts(vocab_size=100_000, max_length=32, max_texts=50)
    train = load_newsgroups()["train"]
    first = list(train.select(range(50))["text"])
    assert set(posts.texts) <= set(first)
    learned = set(posts.tokenizer.get_vocab()) - {"[PAD]", "[UNK]", "[MASK]"}
    assert learned == set(train_tokenizer(first, vocab_size=100_000).get_vocab()) - {"[PAD]", "[UNK]", "[MASK]"}


def test_streamed_pretraining_on_20_newsgroups_learns_the_training_posts_words_alone(newsgroups_home, tmp_path):
    """`pretrain --streaming` streams 20 Newsgroups' training split; its tokenizer reads that stream once."""
    arguments = [
        "--architecture", "gru", "--config_overrides", TINY_GRU, "--categories", SLICE["categories"], "--streaming",
        "--max_steps", "1", *[item for name, value in EVERY_WORD.items() for item in (f"--{name}", str(value))],
        "--output_dir", str(tmp_path / "mlm"), *QUIET,
    ]  # fmt: skip
    pretrain(*parse_pretraining_args(arguments))
    splits = load_data(DataArguments(categories=SLICE["categories"]))
    learned = learned_words(tmp_path / "mlm")
    assert learned == words_of(splits["train"]["text"])
    assert not learned & words_only_the_test_posts_hold(splits, splits["train"]["text"])
