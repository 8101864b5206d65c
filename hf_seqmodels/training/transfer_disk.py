"""`distill --streaming`: the transfer set labelled a batch at a time as the unlabelled text is read, and written
to the output folder as it goes, then read back memory-mapped: memory holds one batch of the transfer set
(`transfer.TRANSFER_CHUNK` unlabelled texts and their copies), never the set or the unlabelled file.

`Dataset.from_generator` does the writing: it fills Arrow files a thousand rows at a time, in a folder it renames
into place only once the generator has ended, so a run killed while labelling leaves no half-made set behind.
Each row holds a text, its gold label (or `NO_LABEL`) and every teacher's log-probabilities on it; the mix at
the distillation temperature is computed from them when training starts (`soft_targets_column`), so another
`--temperature` or `--teacher_weights` labels nothing again.

The set is kept in `<output_dir>/transfer_set/` under a key of everything its rows depend on (`made_from`): each
teacher as `teachers.py` keys its cache (the folder's weights, or the TF-IDF teacher's fitting data), the
labelled posts, the validation texts, the unlabelled text (the rest of the training split's texts, the file's
path, size and time), --augment, the mask token and --seed. A resumed or repeated run of the same key reads it
back and labels nothing; a run of another key labels anew, logging what differs, and removes the old set.
"""

import hashlib
import itertools
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from ..errors import UsageError
from .teachers import TeacherAnswers, add_teacher_identity, add_texts, mixed_targets, open_teacher
from .transfer import TRANSFER_CHUNK, UnlabelledStream, transfer_batches

logger = logging.getLogger(__name__)

TRANSFER_FOLDER = "transfer_set"
# Each teacher's log-probabilities on a text: (teachers, classes).
ANSWERS_COLUMN = "teacher_log_probabilities"
FEATURES = datasets.Features(
    {
        "text": datasets.Value("string"),
        "label": datasets.Value("int64"),
        ANSWERS_COLUMN: datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
    }
)

# The parts of a transfer set's key (`made_from`), as a log names them.
KEY_PARTS = {"labelled": "labelled posts", "validation": "validation texts", "unlabelled": "unlabelled text (or file)",
             "augment": "--augment", "seed": "--seed"}  # fmt: skip


@dataclass
class TransferOnDisk:
    dataset: datasets.Dataset  # FEATURES' columns, memory-mapped from TRANSFER_FOLDER
    counts: dict  # texts, labelled, unlabelled, augmented

    def describe(self) -> dict:
        return dict(self.counts)


def transfer_on_disk(
    teachers: list[str],
    label_names: list[str],
    labelled: datasets.Dataset,
    remainder: list[str],
    stream: UnlabelledStream | None,
    validation_texts: list[str],
    output_dir: Path,
    *,
    augment: int,
    mask_token: str,
    seed: int,
    device="cpu",
    batch_size: int = 128,
    chunk_size: int = TRANSFER_CHUNK,
) -> tuple[TransferOnDisk, list[TeacherAnswers]]:
    """The transfer set of `labelled`, then `remainder` and the texts of `stream`, labelled by every teacher, read
    from `output_dir/transfer_set` where it was made from the same things, else labelled and written there;
    and each teacher's answers on `validation_texts` (its `transfer` answers are in the set's column)."""
    folder = Path(output_dir) / TRANSFER_FOLDER
    posts = (list(labelled["text"]), list(labelled["label"]))
    made_from = {
        "teachers": [_teacher_key(teacher, posts, seed) for teacher in teachers],
        "labelled": _texts_key(*posts),
        "validation": _texts_key(validation_texts),
        "unlabelled": {"rest of the training split": _texts_key(remainder), "file": stream and stream.identity()},
        "augment": augment,
        "mask_token": mask_token,
        "seed": seed,
        "chunk_size": chunk_size,
    }
    key = hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()[:32]
    record = folder / f"{key}.json"
    if not record.is_file():
        _say_why_labelled(folder, made_from)
        _remove_set(folder, key)  # a set without its record (removed by hand) is made again, not half trusted
    seconds = [0.0] * len(teachers)  # each teacher's opening (fitting) and labelling; 0 where read back

    def timed(index, work, *args):
        started = time.perf_counter()
        result = work(*args)
        seconds[index] += time.perf_counter() - started
        return result

    def rows():
        # Run by from_generator only where no set of this key is saved; the record is written before the
        # generator ends, so it exists wherever the set does.
        opened = [timed(index, open_teacher, name, label_names, posts, device, batch_size, seed)
                  for index, name in enumerate(teachers)]  # fmt: skip
        validation = [timed(index, teacher.answer, validation_texts) for index, teacher in enumerate(opened)]
        counts = {"texts": 0, "labelled": 0, "unlabelled": 0, "augmented": 0}
        unlabelled = itertools.chain(remainder, stream.texts() if stream is not None else ())
        for batch in transfer_batches(labelled, unlabelled, augment, mask_token, seed, chunk_size):
            answers = [timed(index, teacher.answer_transfer, batch.texts, batch.gold) for index, teacher in enumerate(opened)]
            for text, label, answer in zip(batch.texts, batch.labels, np.stack(answers, axis=1)):
                yield {"text": text, "label": label, ANSWERS_COLUMN: answer}
            _count(counts, batch)
        saved = {"made_from": made_from, "counts": counts, "validation": [answer.tolist() for answer in validation]}
        record.write_text(json.dumps(saved))

    try:
        dataset = datasets.Dataset.from_generator(rows, features=FEATURES, cache_dir=str(folder), fingerprint=key)
    except datasets.exceptions.DatasetGenerationError as error:
        if isinstance(error.__cause__, UsageError):  # a broken unlabelled file, a teacher refused: its own line
            raise error.__cause__ from None
        raise
    if any(seconds):
        _forget_other_sets(folder, key)
    else:
        logger.info("transfer set read from %s (made from the same teachers and text): nothing labelled", folder)
    saved = json.loads(record.read_text())
    answers = [
        TeacherAnswers(name, None, np.asarray(validation, dtype=np.float32), spent)
        for name, validation, spent in zip(teachers, saved["validation"], seconds)
    ]
    return TransferOnDisk(dataset, saved["counts"]), answers


def soft_targets_column(dataset: datasets.Dataset, weights: list[float], temperature: float, column: str) -> datasets.Dataset:
    """The set with the teachers' answers mixed into `column` at `temperature` (`teachers.mixed_targets`), by
    `Dataset.map`: written beside the set, memory-mapped as it is."""
    features = datasets.Features({**{name: FEATURES[name] for name in ("text", "label")},
                                  column: datasets.Sequence(datasets.Value("float32"))})  # fmt: skip

    def mix(batch):
        answers = np.asarray(batch[ANSWERS_COLUMN], dtype=np.float32)  # (texts, teachers, classes)
        return {column: list(mixed_targets(list(answers.transpose(1, 0, 2)), weights, temperature))}

    return dataset.map(mix, batched=True, remove_columns=[ANSWERS_COLUMN], features=features, desc="soft targets")


def _teacher_key(teacher: str, posts, seed: int) -> dict:
    digest = hashlib.sha256()
    add_teacher_identity(digest, teacher, posts, seed)
    return {"teacher": teacher, "identity": digest.hexdigest()[:32]}


def _texts_key(texts, labels=()) -> str:
    digest = hashlib.sha256(json.dumps(list(map(int, labels))).encode())
    add_texts(digest, texts)
    return digest.hexdigest()[:32]


def _say_why_labelled(folder: Path, made_from: dict) -> None:
    """Log why the teachers label: no set saved yet, or the saved one made from other things (named)."""
    saved = [json.loads(path.read_text()).get("made_from", {}) for path in folder.glob("*.json")]
    if not saved:
        logger.info("the teachers label the transfer set into %s", folder)
        return
    differ = [KEY_PARTS.get(name, name) for name in made_from if saved[-1].get(name) != made_from[name]]
    logger.warning("the transfer set saved in %s differs in its %s: the teachers label it anew", folder, ", ".join(differ))


def _count(counts: dict, batch) -> None:
    counts["texts"] += len(batch.texts)
    counts["labelled"] += batch.gold
    counts["unlabelled"] += batch.originals - batch.gold
    counts["augmented"] += len(batch.texts) - batch.originals


def _forget_other_sets(folder: Path, key: str) -> None:
    """Remove the sets of other keys (and their records): a transfer set can be larger than memory, and its disk."""
    for record in folder.glob("*.json"):
        if record.stem != key:
            record.unlink()
            _remove_set(folder, record.stem)


def _remove_set(folder: Path, key: str) -> None:
    # from_generator's folder and lock files are named after the key (its `fingerprint`).
    for made in [*folder.glob(f"*{key}*"), *folder.glob(f"generator/*{key}*")]:
        if made.suffix != ".json":
            shutil.rmtree(made, ignore_errors=True) if made.is_dir() else made.unlink(missing_ok=True)
