"""hf_seqmodels.data on real data: the offline 20 Newsgroups copy and the SMS Spam Collection.

Both live in ../shared/data next to the repository (never copied into it); tests skip with a
message where that folder is missing.
"""

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
from sklearn.datasets import fetch_20newsgroups

from hf_seqmodels.data import load_newsgroups, load_text_dataset, stratified_split

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SKLEARN_DATA = SHARED_DATA / "scikit_learn_data"
SMS_SPAM = SHARED_DATA / "sms_spam" / "SMSSpamCollection"
SPLITS = ("train", "validation", "test")


# --------------------------------------------------------------------------- 20 Newsgroups


@pytest.fixture(scope="module")
def offline_newsgroups():
    """Point scikit-learn at the offline copy, as a user without internet would."""
    if not (SKLEARN_DATA / "20news-bydate_py3.pkz").exists():
        pytest.skip(f"offline 20 Newsgroups copy not found at {SKLEARN_DATA}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCIKIT_LEARN_DATA", str(SKLEARN_DATA))
        yield


@pytest.fixture(scope="module")
def bydate(offline_newsgroups):
    return load_newsgroups()


@pytest.fixture(scope="module")
def seed_protocol(offline_newsgroups):
    return load_newsgroups(protocol="seed")


@pytest.fixture(scope="module")
def sklearn_corpus(offline_newsgroups):
    """scikit-learn's own view of the corpus: the reference our splits must partition."""
    return {subset: fetch_20newsgroups(subset=subset, shuffle=False) for subset in ("train", "test", "all")}


def examples(*splits):
    """Multiset of (text, label name) pairs: duplicate and empty posts are counted, not merged."""
    counts = Counter()
    for split in splits:
        names = split.features["label"].names
        # Each column read whole ([:]): iterating a datasets Column formats one row at a time (7x slower).
        counts.update((text, names[label]) for text, label in zip(split["text"][:], split["label"][:]))
    return counts


def reference(bunch):
    return Counter((text, bunch.target_names[label]) for text, label in zip(bunch.data, bunch.target))


def test_bydate_split_sizes(bydate):
    assert list(bydate) == list(SPLITS)
    assert len(bydate["train"]) + len(bydate["validation"]) == 11_314
    assert len(bydate["test"]) == 7_532
    assert abs(len(bydate["validation"]) - 0.1 * 11_314) <= 1


def test_bydate_keeps_sklearn_subsets(bydate, sklearn_corpus):
    # Train + validation is exactly scikit-learn's training subset and test its test subset,
    # with every post keeping its group: published bydate numbers stay comparable.
    assert examples(bydate["train"], bydate["validation"]) == reference(sklearn_corpus["train"])
    assert examples(bydate["test"]) == reference(sklearn_corpus["test"])


def test_seed_protocol_is_60_20_20_of_all_posts(seed_protocol):
    sizes = {split: len(seed_protocol[split]) for split in SPLITS}
    assert sum(sizes.values()) == 18_846
    for split, share in zip(SPLITS, (0.6, 0.2, 0.2)):
        assert abs(sizes[split] - share * 18_846) <= 1, sizes


def test_seed_protocol_partitions_the_corpus(seed_protocol, sklearn_corpus):
    # Every post lands in exactly one split: the multisets add up to the whole corpus.
    assert examples(*seed_protocol.values()) == reference(sklearn_corpus["all"])
    # So a text shared by two splits can only be a post the corpus itself holds twice.
    corpus_counts = Counter(sklearn_corpus["all"].data)
    texts = {split: set(seed_protocol[split]["text"][:]) for split in SPLITS}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert all(corpus_counts[text] > 1 for text in texts[a] & texts[b])


@pytest.mark.parametrize("protocol", ["bydate", "seed"])
def test_twenty_label_names_in_sklearn_order(protocol, bydate, seed_protocol, sklearn_corpus):
    dataset = bydate if protocol == "bydate" else seed_protocol
    expected = sklearn_corpus["train"].target_names
    assert len(expected) == 20 and expected[0] == "alt.atheism" and expected[-1] == "talk.religion.misc"
    for split in SPLITS:
        assert dataset[split].features["label"] == datasets.ClassLabel(names=expected)
        assert dataset[split].features["text"] == datasets.Value("string")


def proportions(split):
    return np.bincount(split["label"][:], minlength=20) / len(split)


@pytest.mark.parametrize(
    "protocol,splits",
    [("bydate", ("train", "validation")), ("seed", ("train", "validation", "test"))],
)
def test_splits_are_stratified(protocol, splits, bydate, seed_protocol):
    # A stratified split of n rows is off by at most ~1/n per class; a plain random split of the
    # 1,132 bydate validation posts would be off by ~0.01 somewhere among 20 classes.
    dataset = bydate if protocol == "bydate" else seed_protocol
    whole = np.concatenate([dataset[split]["label"][:] for split in splits])
    overall = np.bincount(whole, minlength=20) / len(whole)
    for split in splits:
        assert np.abs(proportions(dataset[split]) - overall).max() < 0.003, split


# sha256 of each split's texts joined by NUL, first 16 hex digits, with the default options (seed 42, nothing
# removed): the splits every committed figure was measured on, as datasets' stratified train_test_split drew
# them when those figures were made. A change of datasets or of the loading that moves one post fails here.
COMMITTED_SPLITS = {
    "bydate": {"train": (10182, "b6f5192155cd886a"), "validation": (1132, "4335698ee3a74569"), "test": (7532, "5ad177e1e1b0e3d1")},
    "seed": {"train": (11307, "e0e2b40052292d27"), "validation": (3769, "7f47b1c1505461f1"), "test": (3770, "f7447f734aa3da45")},
}


def test_the_splits_are_the_ones_the_committed_figures_were_measured_on(bydate, seed_protocol):
    for protocol, splits in (("bydate", bydate), ("seed", seed_protocol)):
        digests = {
            split: (len(splits[split]), hashlib.sha256("\x00".join(splits[split]["text"][:]).encode()).hexdigest()[:16])
            for split in SPLITS
        }
        assert digests == COMMITTED_SPLITS[protocol], protocol


@pytest.mark.parametrize("size", [dict(test_size=0.2), dict(test_size=113), dict(train_size=400)])
def test_stratified_split_keeps_the_class_proportions(bydate, size):
    dataset = bydate["train"]
    train, test = stratified_split(dataset, 42, **size)
    assert len(train) + len(test) == len(dataset)
    for part in (train, test):
        counts = np.bincount(part["label"][:], minlength=20) / len(part)
        assert np.abs(counts - np.bincount(dataset["label"][:], minlength=20) / len(dataset)).max() < 0.01


@pytest.mark.parametrize("size", [dict(test_size=0.1), dict(test_size=113), dict(train_size=400), dict(train_size=0.5, test_size=0.25)])
def test_stratified_split_is_the_one_datasets_draws(bydate, size):
    dataset = bydate["train"].select(range(3000))
    train, test = stratified_split(dataset, 7, **size)
    parts = dataset.train_test_split(**size, stratify_by_column="label", seed=7)
    assert train["text"][:] == parts["train"]["text"][:] and test["text"][:] == parts["test"]["text"][:]


def test_stratified_split_names_a_class_too_small_to_split():
    features = datasets.Features(text=datasets.Value("string"), label=datasets.ClassLabel(names=["a", "b"]))
    dataset = datasets.Dataset.from_dict({"text": list("wxyz"), "label": [0, 0, 0, 1]}, features=features)
    with pytest.raises(ValueError, match="least populated class in label column has only 1 member"):
        stratified_split(dataset, 0, test_size=2)
    with pytest.raises(ValueError, match="test_size=4 should be"):  # sizes out of range: datasets' own message
        stratified_split(dataset, 0, test_size=4)


@pytest.mark.parametrize("protocol", ["bydate", "seed"])
def test_same_seed_same_split_other_seed_other_split(protocol, offline_newsgroups):
    groups = ["comp.graphics", "rec.autos", "sci.med"]  # a few groups keep this test fast
    first = load_newsgroups(protocol, categories=groups, seed=7)
    again = load_newsgroups(protocol, categories=groups, seed=7)
    other = load_newsgroups(protocol, categories=groups, seed=8)
    assert first["validation"]["text"][:] == again["validation"]["text"][:]
    assert first["train"]["text"][:] == again["train"]["text"][:]
    assert first["validation"]["text"][:] != other["validation"]["text"][:]


@pytest.mark.slow
def test_categories_and_remove_reach_fetch_20newsgroups(sklearn_corpus):
    everything = ("headers", "footers", "quotes")
    # Given out of order; labels follow scikit-learn's alphabetical order all the same.
    # data_home is given explicitly here to check that path too.
    dataset = load_newsgroups(
        categories=["sci.space", "alt.atheism"], remove=everything, data_home=str(SKLEARN_DATA)
    )
    assert dataset["train"].features["label"].names == ["alt.atheism", "sci.space"]
    stripped = {
        subset: fetch_20newsgroups(
            subset=subset, categories=["alt.atheism", "sci.space"], remove=everything, shuffle=False
        )
        for subset in ("train", "test")
    }
    # Removal leaves some posts empty (and so identical): compare multisets, not sets.
    assert examples(dataset["train"], dataset["validation"]) == reference(stripped["train"])
    assert examples(dataset["test"]) == reference(stripped["test"])
    assert "" in [text for split in SPLITS for text in dataset[split]["text"][:]]
    # Headers were really removed: with them, nearly every post carries a "Subject:" line.
    assert sum("Subject:" in text for text in dataset["train"]["text"][:]) < 0.02 * len(dataset["train"])
    train = sklearn_corpus["train"]
    kept = [text for text, label in zip(train.data, train.target) if label in (0, 14)]
    assert sum("Subject:" in text for text in kept) > 0.98 * len(kept)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"protocol": "random"}, ["protocol", "random", "bydate", "seed"]),
        ({"remove": ("headers", "signatures")}, ["remove", "signatures", "headers", "footers", "quotes"]),
        ({"categories": ["sci.space", "sci.spaec"]}, ["categories", "sci.spaec", "sci.space", "alt.atheism"]),
        ({"validation_size": 1.5}, ["validation_size", "1.5"]),
    ],
)
def test_bad_arguments_name_argument_value_and_choices(kwargs, words):
    with pytest.raises(ValueError) as error:
        load_newsgroups(**kwargs)
    for word in words:
        assert word in str(error.value)


# --------------------------------------------------------------------------- local files


@pytest.fixture(scope="module")
def sms_rows():
    if not SMS_SPAM.exists():
        pytest.skip(f"SMS Spam Collection not found at {SMS_SPAM}")
    with open(SMS_SPAM, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t", 1) for line in f]


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    # load_dataset caches Arrow files; keep them out of the user's ~/.cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


def write(path, rows, columns=("category", "message")):
    """Write (label, text) rows to CSV / JSON (a list of records) / JSONL, with an extra column."""
    records = [{columns[0]: label, columns[1]: text, "length": len(text)} for label, text in rows]
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    elif path.suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_local_file_with_custom_columns(suffix, sms_rows, tmp_path):
    path = write(tmp_path / f"sms{suffix}", sms_rows)
    dataset = load_text_dataset(train_file=path, text_column="message", label_column="category")

    assert list(dataset) == list(SPLITS)
    for split in SPLITS:
        assert dataset[split].column_names == ["text", "label"]  # "length" dropped
        assert dataset[split].features["label"] == datasets.ClassLabel(names=["ham", "spam"])
    # Nothing lost, nothing changed (texts keep trailing spaces, labels their names).
    assert examples(*dataset.values()) == Counter(map(tuple, [(text, label) for label, text in sms_rows]))
    # Validation and test carved from the one file: 10% each, spam share kept in each.
    for split, share in zip(SPLITS, (0.8, 0.1, 0.1)):
        assert abs(len(dataset[split]) - share * len(sms_rows)) <= 1
        assert abs(np.mean(dataset[split]["label"]) - 747 / 5574) < 0.005


def test_given_validation_and_test_files_are_used_as_is(sms_rows, tmp_path):
    files = {
        "train_file": write(tmp_path / "train.csv", sms_rows[:4000]),
        "validation_file": write(tmp_path / "validation.csv", sms_rows[4000:4800]),
        "test_file": write(tmp_path / "test.csv", sms_rows[4800:]),
    }
    dataset = load_text_dataset(**files, text_column="message", label_column="category")
    assert [len(dataset[split]) for split in SPLITS] == [4000, 800, 774]
    assert dataset["test"]["text"] == [text for _, text in sms_rows[4800:]]


def test_only_test_file_missing_carves_test_from_train(sms_rows, tmp_path):
    dataset = load_text_dataset(
        train_file=write(tmp_path / "train.csv", sms_rows[:5000]),
        validation_file=write(tmp_path / "validation.csv", sms_rows[5000:]),
        text_column="message",
        label_column="category",
        test_size=0.2,
    )
    assert [len(dataset[split]) for split in SPLITS] == [4000, 574, 1000]


def test_split_of_local_file_is_seeded(sms_rows, tmp_path):
    path = write(tmp_path / "sms.csv", sms_rows)
    load = lambda seed: load_text_dataset(  # noqa: E731
        train_file=path, text_column="message", label_column="category", seed=seed
    )
    assert load(1)["test"]["text"] == load(1)["test"]["text"]
    assert load(1)["test"]["text"] != load(2)["test"]["text"]


def test_integer_labels_become_class_label_keeping_their_values(sms_rows, tmp_path):
    rows = [(int(label == "spam"), text) for label, text in sms_rows]
    dataset = load_text_dataset(train_file=write(tmp_path / "sms.csv", rows, columns=("label", "text")))
    assert dataset["train"].features["label"] == datasets.ClassLabel(names=["0", "1"])
    spam = {text for label, text in sms_rows if label == "spam"}
    test = dataset["test"]
    assert all((text in spam) == bool(label) for text, label in zip(test["text"], test["label"]))


def test_integer_labels_with_gaps_are_their_own_classes(sms_rows, tmp_path):
    # Labels 1..3 (no 0): three classes named by the user's values, ids in sorted order, no phantom "0".
    rows = [(index % 3 + 1, f"post {index}: {text}") for index, (_, text) in enumerate(sms_rows[:300])]
    dataset = load_text_dataset(train_file=write(tmp_path / "stars.csv", rows, columns=("label", "text")))
    assert dataset["train"].features["label"] == datasets.ClassLabel(names=["1", "2", "3"])
    label_of = {text: label for label, text in rows}
    for split in SPLITS:
        names = [dataset[split].features["label"].int2str(label) for label in dataset[split]["label"]]
        assert names == [str(label_of[text]) for text in dataset[split]["text"]]


def test_missing_column_names_column_file_and_existing_columns(sms_rows, tmp_path):
    path = write(tmp_path / "sms.csv", sms_rows)
    with pytest.raises(ValueError) as error:
        load_text_dataset(train_file=path, text_column="message", label_column="label")
    for word in ("'label'", str(path), "category", "message", "length"):
        assert word in str(error.value)


def test_label_unseen_in_training_is_an_error(sms_rows, tmp_path):
    ham = [row for row in sms_rows if row[0] == "ham"]
    with pytest.raises(ValueError, match="spam"):
        load_text_dataset(
            train_file=write(tmp_path / "train.csv", ham),
            test_file=write(tmp_path / "test.csv", sms_rows[:100]),
            text_column="message",
            label_column="category",
        )


def test_bad_file_arguments(tmp_path):
    with pytest.raises(ValueError, match="train_file"):
        load_text_dataset()
    with pytest.raises(ValueError, match=r"\.txt"):
        load_text_dataset(train_file=tmp_path / "sms.txt")


def test_dataset_name_path_through_load_dataset(sms_rows, tmp_path):
    # dataset_name goes to datasets.load_dataset: a Hub name online, or (tried here, offline) a
    # local folder whose train.csv / test.csv become the splits.
    folder = tmp_path / "sms_spam"
    folder.mkdir()
    write(folder / "train.csv", sms_rows[:5000])
    write(folder / "test.csv", sms_rows[5000:])
    dataset = load_text_dataset(dataset_name=str(folder), text_column="message", label_column="category")
    assert [len(dataset[split]) for split in SPLITS] == [4500, 500, 574]
    assert dataset["validation"].features["label"].names == ["ham", "spam"]
