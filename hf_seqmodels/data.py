"""Text-classification data as a ``datasets.DatasetDict``.

Every loader here returns the same shape, so the rest of the package never cares where the
data came from:

    DatasetDict(train, validation, test) with columns
        text:  string
        label: ClassLabel (the class names travel with the data, and stratified splits need it)

- ``load_newsgroups``: 20 Newsgroups through scikit-learn's ``fetch_20newsgroups``. It downloads
  the corpus on a user's machine and reads a local copy when ``SCIKIT_LEARN_DATA`` (or
  ``data_home``) points at one, so offline machines work unchanged.
- ``load_text_dataset``: any other data set, from the Hugging Face Hub or from local
  CSV / JSON / JSONL / parquet files; with ``label_column=None``, unlabelled text (a ``text`` column
  only, for pretraining), plain-text files (one text a line) included.

Splits that the source does not provide are carved from the training split, stratified by label
and seeded, so that every run and every model sees the same examples.
"""

from math import ceil
from pathlib import Path

import datasets
import numpy as np
from sklearn.datasets import fetch_20newsgroups

from .options import check_choices, check_fraction
from .utils import first_line
from .validation import check_label_column, check_text_column, check_utf8

PROTOCOLS = ("bydate", "seed")
REMOVABLE = ("headers", "footers", "quotes")
# scikit-learn's label order (alphabetical); listed here so bad arguments fail before any loading.
NEWSGROUPS = (
    "alt.atheism",
    "comp.graphics",
    "comp.os.ms-windows.misc",
    "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware",
    "comp.windows.x",
    "misc.forsale",
    "rec.autos",
    "rec.motorcycles",
    "rec.sport.baseball",
    "rec.sport.hockey",
    "sci.crypt",
    "sci.electronics",
    "sci.med",
    "sci.space",
    "soc.religion.christian",
    "talk.politics.guns",
    "talk.politics.mideast",
    "talk.politics.misc",
    "talk.religion.misc",
)
# File extension -> the packaged `datasets` builder that reads it (no network needed).
FILE_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# Unlabelled text may also come as plain text: one text a line.
TEXT_FILE_BUILDERS = FILE_BUILDERS | {".txt": "text"}


def load_newsgroups(
    protocol="bydate", remove=(), categories=None, validation_size=0.1, seed=42, data_home=None
) -> datasets.DatasetDict:
    """Load 20 Newsgroups as ``train`` / ``validation`` / ``test``.

    Args:
        protocol: ``"bydate"`` keeps scikit-learn's standard train/test subsets (test posts are
            later in time than training posts, the usual benchmark) and carves ``validation_size``
            of train off as validation. ``"seed"`` is the original notebook's protocol: all
            18,846 posts, split 60/20/20 at random (``validation_size`` is not used).
        remove: any of ``"headers"``, ``"footers"``, ``"quotes"``; passed to
            ``fetch_20newsgroups``. Without it, headers give the group away and scores are
            optimistic. Some posts become empty strings once everything is removed.
        categories: group names to keep; the label names are then just those groups, in
            scikit-learn's (alphabetical) order.
        validation_size: fraction of the training subset used as validation (``"bydate"``).
        seed: seed of the stratified splits.
        data_home: scikit-learn data folder; defaults to ``SCIKIT_LEARN_DATA`` or
            ``~/scikit_learn_data``.
    """
    check_choices("protocol", [protocol], PROTOCOLS)
    remove = (remove,) if isinstance(remove, str) else tuple(remove)
    check_choices("remove", remove, REMOVABLE)
    if categories is not None:
        categories = [categories] if isinstance(categories, str) else list(categories)
        check_choices("categories", categories, NEWSGROUPS)
    check_fraction("validation_size", validation_size)

    def fetch(subset):
        # shuffle=False: the order comes from our seeded split alone, not from a second seed.
        bunch = fetch_20newsgroups(
            data_home=data_home,
            subset=subset,
            categories=categories,
            shuffle=False,
            remove=remove,
            download_if_missing=True,
        )
        features = datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(bunch.target_names))}
        )
        columns = {"text": bunch.data, "label": bunch.target.tolist()}
        return datasets.Dataset.from_dict(columns, features=features)

    if protocol == "bydate":
        test = fetch("test")
        train, validation = stratified_split(fetch("train"), seed, test_size=validation_size)
    else:
        rest, test = stratified_split(fetch("all"), seed, test_size=0.2)
        train, validation = stratified_split(rest, seed, test_size=0.25)  # 0.25 of 80% = 20% of all
    return datasets.DatasetDict(train=train, validation=validation, test=test)


def load_text_dataset(
    train_file=None,
    validation_file=None,
    test_file=None,
    dataset_name=None,
    dataset_config_name=None,
    text_column="text",
    label_column="label",
    validation_size=0.1,
    test_size=0.1,
    seed=42,
) -> datasets.DatasetDict:
    """Load any text-classification data set into the package's ``text`` / ``label`` shape.

    Either ``dataset_name`` (a Hub data set, with optional ``dataset_config_name``) or
    ``train_file`` (CSV, JSON, JSONL or parquet; optional ``validation_file`` / ``test_file`` of
    the same type). ``text_column`` and ``label_column`` are renamed to ``text`` and ``label``;
    other columns are dropped. ``label_column=None`` loads text alone (also from ``.txt`` files, whose
    lines are the texts), and carves the missing splits at random instead of stratified. String labels become a ``ClassLabel`` with the sorted names found
    in the training split; integer labels likewise (sorted as numbers, named by their values: ``1, 2, 5``
    become ids 0, 1, 2 named ``"1"``, ``"2"``, ``"5"``, and 0..N-1 keep their ids).
    A missing validation or test split is carved from train (``validation_size`` and
    ``test_size`` are fractions of the training data as loaded), stratified and seeded.
    """
    check_fraction("validation_size", validation_size)
    check_fraction("test_size", test_size)  # None: no test split unless a file or the data set has one (pretraining)
    raw, sources = read_raw_splits(train_file, validation_file, test_file, dataset_name, dataset_config_name, label_column)
    splits = {}
    for split in ("train", "validation", "test"):
        if split in raw:
            splits[split] = select_text_and_label(raw[split], text_column, label_column, sources[split])
    splits = datasets.DatasetDict(splits)
    if label_column is not None:
        splits = _to_class_label(splits, label_column, sources)
    splits = carve_missing_splits(splits, validation_size, test_size, seed, stratified=label_column is not None)
    return datasets.DatasetDict({split: splits[split] for split in ("train", "validation", "test") if split in splits})


def read_raw_splits(train_file, validation_file, test_file, dataset_name, dataset_config_name, label_column):
    """(the splits as `datasets` reads them, a name for each in errors): a Hub data set, or files whose
    extension picks the packaged builder (plain text only for unlabelled text, `label_column=None`)."""
    if dataset_name is not None:
        raw = datasets.load_dataset(dataset_name, dataset_config_name)
        if "train" not in raw:
            raise ValueError(f"dataset_name={dataset_name!r} has no 'train' split; splits: {list(raw)}")
        return raw, {split: f"{dataset_name} ({split})" for split in raw}
    if train_file is None:
        raise ValueError("give either train_file=<path> or dataset_name=<Hub data set>")
    files = {"train": train_file, "validation": validation_file, "test": test_file}
    files = {split: str(path) for split, path in files.items() if path is not None}
    suffixes = {Path(path).suffix.lower() for path in files.values()}
    builders = FILE_BUILDERS if label_column is not None else TEXT_FILE_BUILDERS
    if len(suffixes) != 1 or not suffixes <= builders.keys():
        raise ValueError(f"data files {list(files.values())} must share one extension among {list(builders)}")
    builder = builders[suffixes.pop()]
    if builder != "parquet":  # a binary format; its strings are checked by pyarrow
        for path in files.values():
            check_utf8(path)
    try:
        raw = datasets.load_dataset(builder, data_files=files)
    except datasets.exceptions.DatasetGenerationError as error:
        # The message says only "An error occurred while generating the dataset"; the cause says what.
        cause = error.__cause__ or error
        raise ValueError(
            f"data files {list(files.values())} could not be read as {builder}: "
            f"{type(cause).__name__}: {first_line(cause)}"
        ) from error
    return raw, {split: repr(path) for split, path in files.items()}


def select_text_and_label(dataset: datasets.Dataset, text_column: str, label_column: str | None, source: str):
    """The text (and label) column of one split, checked and renamed `text` (and `label`); the rest dropped."""
    # A plain-text file has one column, "text", whatever --text_column says.
    text = "text" if builder_of(dataset) == "text" else text_column
    columns = [text] if label_column is None else [text, label_column]
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(f"column {column!r} not found in {source}; columns: {dataset.column_names}")
    # Select first, rename second: an unused column may already be called "text" or "label".
    dataset = dataset.select_columns(columns)
    # Row indices in errors are those of the file or split as given: checked before any carving.
    dataset = check_text_column(dataset, text, source)
    if label_column is not None:
        check_label_column(dataset, label_column, source)
    return dataset.rename_columns({text: "text"} | ({label_column: "label"} if label_column else {}))


def carve_missing_splits(splits, validation_size, test_size, seed, stratified: bool) -> datasets.DatasetDict:
    """Validation and test, where the source has none, carved from train (stratified by label, or at random
    for unlabelled text). Both sizes are fractions of the training data as loaded, turned into counts once so
    that 0.1 / 0.1 really gives 10% / 10%; a size of None carves nothing."""
    carved = {"test": test_size, "validation": validation_size}
    carved = {split: size for split, size in carved.items() if split not in splits and size is not None}
    if sum(carved.values()) >= 1:
        raise ValueError(f"carving {carved} from the training data leaves nothing to train on")
    n_train = len(splits["train"])
    for split, size in carved.items():
        count = round(size * n_train)
        if not stratified:
            parts = splits["train"].train_test_split(test_size=count, seed=seed)
            splits["train"], splits[split] = parts["train"], parts["test"]
        else:
            splits["train"], splits[split] = stratified_split(splits["train"], seed, test_size=count)
    return splits


def builder_of(dataset: datasets.Dataset) -> str | None:
    """The packaged builder that read `dataset` ("csv", "text", ...), None for a Hub data set."""
    return getattr(dataset.info, "builder_name", None)


def _to_class_label(splits, label_column, sources):
    """Cast the ``label`` column of every split to one shared ``ClassLabel``."""
    feature = splits["train"].features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return splits
    dtype = getattr(feature, "dtype", None)
    values = {split: set(dataset.unique("label")) for split, dataset in splits.items()}
    is_integer = dtype is not None and dtype.startswith(("int", "uint"))
    if dtype not in ("string", "large_string") and not is_integer:
        raise ValueError(f"column {label_column!r} has type {feature}; expected string or integer labels")
    if is_integer and min(everything := set().union(*values.values())) < 0:
        raise ValueError(f"column {label_column!r} has negative labels {sorted(everything)[:5]}")
    # As transformers' run_classification.py: the training split's distinct labels, sorted, are the classes
    # (a model cannot learn a class it never saw), ids in that order. Integers sort as numbers and keep their
    # values as names, so 1..N are N classes (not N + 1 with a phantom "0") and 0..N-1 keep their ids.
    classes = sorted(values["train"])
    for split, found in values.items():
        if unknown := found - set(classes):
            raise ValueError(
                f"labels {sorted(unknown)} in {sources[split]} do not occur in the training data "
                f"{sources['train']} (labels: {classes})"
            )
    if is_integer:  # ClassLabel reads integers as ids, strings as names: hand it the names
        splits = splits.cast_column("label", datasets.Value("string"))
    return splits.cast_column("label", datasets.ClassLabel(names=[str(label) for label in classes]))


def stratified_split(dataset, seed, *, test_size=None, train_size=None):
    """Split into (kept, carved off) in the class proportions: ``(train, test)`` of datasets'
    ``dataset.train_test_split(test_size=..., train_size=..., stratify_by_column="label", seed=seed)``, index for
    index; a size is a fraction or a count.

    The indices are drawn here, by datasets' algorithm (scikit-learn's `StratifiedShuffleSplit` on numpy's
    `Generator`), for speed alone: datasets reads the label column row by row (0.8 s per 10,000 posts, on every
    load of the data), here it is one Arrow slice. tests/test_data.py holds the two equal.
    """
    n = len(dataset)
    if test_size is None:
        n_train, n_test = train_size, n - train_size
    else:
        n_test = ceil(test_size * n) if isinstance(test_size, float) else test_size
        n_train = n - n_test if train_size is None else train_size
    labels = dataset.with_format("arrow")[:]["label"].to_numpy()
    counts = np.bincount(np.unique(labels, return_inverse=True)[1]) if n else np.zeros(0, dtype=int)
    sizes_fit = isinstance(n_train, int) and isinstance(n_test, int) and 0 < n_train < n and 0 < n_test < n
    if not sizes_fit or counts.min() < 2 or min(n_train, n_test) < len(counts):
        # Sizes out of range, or a class too small to split: datasets says what is wrong.
        parts = dataset.train_test_split(test_size=test_size, train_size=train_size, stratify_by_column="label", seed=seed)
        return parts["train"], parts["test"]
    train, test = stratified_indices(labels, n_train, n_test, np.random.default_rng(seed))
    return dataset.select(train), dataset.select(test)


def stratified_indices(labels, n_train: int, n_test: int, rng) -> tuple:
    """The first split of datasets' `stratified_shuffle_split_generate_indices` (the same draws from `rng`)."""
    classes, label_indices = np.unique(labels, return_inverse=True)
    class_counts = np.bincount(label_indices)
    class_rows = np.split(np.argsort(label_indices, kind="mergesort"), np.cumsum(class_counts)[:-1])
    train_counts = approximate_mode(class_counts, n_train, rng)
    test_counts = approximate_mode(class_counts - train_counts, n_test, rng)
    train, test = [], []
    for rows, count, n_kept, n_carved in zip(class_rows, class_counts, train_counts, test_counts):
        shuffled = rows.take(rng.permutation(count), mode="clip")
        train.extend(shuffled[:n_kept])
        test.extend(shuffled[n_kept : n_kept + n_carved])
    return rng.permutation(train), rng.permutation(test)


def approximate_mode(class_counts, n_draws: int, rng):
    """How many of `n_draws` each class gets, in proportion, the remainders given out largest first (ties at
    random): scikit-learn's `_approximate_mode`, as datasets draws it."""
    continuous = n_draws * class_counts / class_counts.sum()
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(np.int64)
