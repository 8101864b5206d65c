"""The teachers of a distillation and their answers on the transfer set.

A teacher is any classifier a user holds (`serving.open_classifier`: this package's folders, exported ONNX
folders, any transformers sequence classifier, each reading with its own tokenizer), or `tfidf`: a TF-IDF +
LogisticRegression fitted here on the labelled posts. Each teacher labels the transfer set and the validation
split once; its log-probabilities are kept in the output folder (`TEACHER_CACHE`; under `--streaming`, in the
transfer set on disk, `transfer_disk.py`), so that a resumed or repeated run, or one at another temperature or
weighting, labels nothing again. `open_teacher` readies a teacher once; it then answers any texts, the whole
transfer set at once or a batch at a time alike.
"""

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..errors import UsageError
from ..serving.ensemble import label_at
from ..serving.loading import open_classifier
from .tfidf import TFIDF_LOGISTIC_REGRESSION_SETTINGS as TFIDF_TEACHER_SETTINGS, tfidf_logistic_regression

logger = logging.getLogger(__name__)

# `--teacher tfidf`: the TF-IDF + LogisticRegression member of the comparison's ensembles, fitted on the labelled posts.
TFIDF_TEACHER = "tfidf"
TEACHER_CACHE = "teacher_log_probabilities.npz"
# Folds of the TF-IDF teacher's answers on the posts it is fitted on: a model that has seen a post is sure of its
# gold label, and its view of that post would teach nothing the label does not.
TFIDF_FOLDS = 5


@dataclass
class TeacherAnswers:
    name: str  # the folder as given, or "tfidf"
    transfer: np.ndarray | None  # (transfer texts, classes) log-probabilities; None where on disk (transfer_disk.py)
    validation: np.ndarray  # (validation posts, classes) log-probabilities
    seconds: float  # fitting (tfidf) and labelling both sets; 0.0 when read from the cache


def check_teachers(teachers: list[str]) -> None:
    """Each teacher is `tfidf` or an existing folder (or, for a name that is not a local path, a Hub repo)."""
    if not teachers:
        raise UsageError(f"--teacher: give one or more classifier folders, or {TFIDF_TEACHER}")
    if teachers.count(TFIDF_TEACHER) > 1:
        raise UsageError(f"--teacher {' '.join(teachers)}: {TFIDF_TEACHER} is named more than once")
    for teacher in teachers:
        if teacher != TFIDF_TEACHER and (os.sep in teacher or teacher.startswith(".")) and not Path(teacher).is_dir():
            raise UsageError(f"--teacher {teacher!r}: no such folder; give a classifier folder, a Hub repo or {TFIDF_TEACHER}")


def teacher_answers(
    teachers: list[str],
    label_names: list[str],
    transfer_texts: list[str],
    labelled: tuple[list[str], list[int]],
    validation_texts: list[str],
    cache_dir: Path,
    device="cpu",
    batch_size: int = 128,
    seed: int = 42,
) -> list[TeacherAnswers]:
    """Every teacher's log-probabilities on `transfer_texts` and `validation_texts`, from the cache in `cache_dir`
    where it holds them for these very texts and this very teacher, else computed (and added to the cache).

    `labelled` (texts, labels) is what the TF-IDF teacher is fitted on; its answers on those very texts (which the
    transfer set starts with) are out-of-fold. A folder whose labels differ from `label_names` is refused.
    """
    cache_path = cache_dir / TEACHER_CACHE
    cached = _read_cache(cache_path)
    answers = []
    for teacher in teachers:
        key = _fingerprint(teacher, transfer_texts, validation_texts, labelled, seed)
        if f"{key}/transfer" in cached:
            logger.info("teacher %s: answers read from %s", teacher, cache_path)
            answers.append(TeacherAnswers(teacher, cached[f"{key}/transfer"], cached[f"{key}/validation"], 0.0))
            continue
        started = time.perf_counter()
        opened = open_teacher(teacher, label_names, labelled, device, batch_size, seed)
        transfer = opened.answer_transfer(transfer_texts, gold=len(labelled[0]))
        validation = opened.answer(validation_texts)
        answers.append(TeacherAnswers(teacher, transfer, validation, time.perf_counter() - started))
        cached[f"{key}/transfer"], cached[f"{key}/validation"] = transfer, validation
        _write_cache(cache_path, cached)
    return answers


@dataclass
class Teacher:
    """A teacher ready to answer: `answer(texts)` gives its log-probabilities on any texts; `own`, where it is
    not `answer` of them, its answers on the labelled posts (the TF-IDF teacher's out-of-fold ones)."""

    name: str
    answer: Callable[[list[str]], np.ndarray]
    own: np.ndarray | None = None

    def answer_transfer(self, texts: list[str], gold: int) -> np.ndarray:
        """Its answers on transfer texts whose first `gold` are the labelled posts (all of them, or none)."""
        answers = self.answer(texts)
        if gold and self.own is not None:
            answers[:gold] = self.own
        return answers


def open_teacher(teacher: str, label_names, labelled, device="cpu", batch_size: int = 128, seed: int = 42) -> Teacher:
    """A folder opened (refused where its labels differ from `label_names`), or the TF-IDF teacher fitted on
    `labelled` (texts, labels)."""
    if teacher == TFIDF_TEACHER:
        return _tfidf_teacher(label_names, labelled, seed)
    classifier = open_classifier(teacher, device, option="--teacher")
    names = [classifier.id2label[index] for index in range(len(classifier.id2label))]
    if names != label_names:
        where = next((i for i, (a, b) in enumerate(zip(names, label_names)) if a != b), min(len(names), len(label_names)))
        raise UsageError(
            f"--teacher {teacher!r}: its labels differ from the data's (label {where}: {label_at(names, where)} there, "
            f"{label_at(label_names, where)} in the data); a teacher needs the data's labels in the same order"
        )
    return Teacher(teacher, lambda texts: _log_probabilities(classifier, texts, batch_size))


def soft_targets(answers: list[TeacherAnswers], weights: list[float], temperature: float, split: str = "transfer") -> np.ndarray:
    """The teachers' weighted mean of softmax(log-probabilities / T): what the student learns to match at T."""
    return mixed_targets([getattr(answer, split) for answer in answers], weights, temperature)


def mixed_targets(log_probabilities: list[np.ndarray], weights: list[float], temperature: float) -> np.ndarray:
    """`soft_targets` of each teacher's log-probabilities on the same texts, in the order of `weights`."""
    total = 0.0
    for answers, weight in zip(log_probabilities, weights):
        total = total + weight * torch.softmax(torch.from_numpy(np.asarray(answers)).double() / temperature, -1).numpy()
    return (total / sum(weights)).astype(np.float32)


def _log_probabilities(classifier, texts: list[str], batch_size: int) -> np.ndarray:
    # Shortest first: each batch is padded to its longest text, so similar lengths waste little work; answered in order.
    order = np.argsort([len(text) for text in texts], kind="stable")
    logits = classifier.logits([texts[index] for index in order], batch_size)
    answers = np.empty_like(logits, dtype=np.float32)
    answers[order] = torch.log_softmax(torch.from_numpy(np.asarray(logits, dtype=np.float32)), -1).numpy()
    return answers


def _tfidf_teacher(label_names, labelled, seed) -> Teacher:
    texts, labels = labelled
    labels = np.asarray(labels)
    pipeline = tfidf_logistic_regression()
    classes = np.arange(len(label_names))
    smallest = np.bincount(labels, minlength=len(label_names)).min()
    folds = min(TFIDF_FOLDS, int(smallest))
    pipeline.fit(texts, labels)
    own = None
    if folds >= 2:  # out-of-fold answers on the posts it is fitted on (a class with one post cannot be folded)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        own = _log(cross_val_predict(tfidf_logistic_regression(), texts, labels, cv=splitter, method="predict_proba"))
    return Teacher(TFIDF_TEACHER, lambda batch: _log(_tfidf_probabilities(pipeline, batch, classes)), own)


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probabilities, 1e-12, None)).astype(np.float32)


def _tfidf_probabilities(pipeline, texts, classes) -> np.ndarray:
    # predict_proba's columns are the classes seen in fitting; place them in the data's columns.
    probabilities = np.zeros((len(texts), len(classes)))
    probabilities[:, pipeline[-1].classes_] = pipeline.predict_proba(texts)
    return probabilities


def teacher_settings(teacher: str) -> dict:
    """What a teacher is, for the run's record and the model card."""
    if teacher == TFIDF_TEACHER:
        return {"teacher": teacher, "pipeline": TFIDF_TEACHER_SETTINGS, "fitted_on": "the labelled posts (out-of-fold on them)"}
    return {"teacher": teacher}


def _fingerprint(teacher: str, transfer_texts, validation_texts, labelled, seed: int) -> str:
    """Which teacher answered which texts: the teacher (`add_teacher_identity`) and every text, in order."""
    digest = hashlib.sha256()
    add_teacher_identity(digest, teacher, labelled, seed)
    for split in (transfer_texts, validation_texts):
        digest.update(b"\1")
        add_texts(digest, split)
    return digest.hexdigest()[:32]


def add_teacher_identity(digest, teacher: str, labelled, seed: int) -> None:
    """Which teacher it is, into `digest`: the folder's weights (their size and time), or the TF-IDF teacher's
    fitting data."""
    if teacher == TFIDF_TEACHER:
        digest.update(json.dumps([TFIDF_TEACHER, TFIDF_TEACHER_SETTINGS, list(map(int, labelled[1])), seed]).encode())
        add_texts(digest, labelled[0])
        return
    digest.update(os.path.abspath(teacher).encode("utf-8", "surrogatepass"))
    for name in ("model.safetensors", "model.onnx", "config.json"):
        path = Path(teacher, name)
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())


def add_texts(digest, texts) -> None:
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")


def _read_cache(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as saved:
            return {key: saved[key] for key in saved.files}
    except (OSError, ValueError, EOFError):  # a damaged cache is recomputed, never trusted
        logger.warning("%s is unreadable; the teachers label the transfer set again", path)
        return {}


def _write_cache(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)  # a run killed while writing leaves the previous cache whole

