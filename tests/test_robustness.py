"""What users do to a classifier that its authors did not plan for: odd text, broken data files,
wrong options, killed runs, damaged or hostile folders. Each is either handled or refused with one
clear line naming what is wrong; nothing crashes deep inside, corrupts saved work or runs code.

Models are tiny and data slices a few hundred posts, so the file runs in about a minute on 2 cores.
"""

import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import hf_seqmodels
from helpers import ARCHITECTURES, REPO_ROOT, assert_refused, run_command, save_tiny_folder
from hf_seqmodels import cli, train_tokenizer
from hf_seqmodels.errors import UsageError
from hf_seqmodels.serving.prediction import load_classifier, predict
from hf_seqmodels.training import (
    ModelArguments,
    SeqModelsTrainingArguments,
    checkpoint_problem,
    read_saved_predictions,
    resolve_checkpoint,
)
from hf_seqmodels.validation import check_label_column, clean_text

WORDS = ["the probe reached orbit", "the car engine overheats", "orbit of the moon", "engine brakes and car"] * 3
LABELS = ["space", "autos"]


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    # load_dataset caches Arrow files; keep them out of the user's ~/.cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


def save_folder(architecture: str, folder: Path) -> Path:
    return save_tiny_folder(folder, architecture, WORDS, LABELS)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    return {architecture: save_folder(architecture, root / architecture) for architecture in ARCHITECTURES}


run = run_command


# --------------------------------------------------------------------------- text


ODD_TEXTS = ["", "   \n\t ", "\x00\x07\x1b[31m", "orbit \ud800 car \udfff", "😀 ̈ \u202e orbit", "x" * 100_000]


def test_odd_texts_get_a_valid_prediction(folders):
    for architecture, folder in folders.items():
        answers = predict(str(folder), ODD_TEXTS)
        assert [answer["text"] for answer in answers] == ODD_TEXTS
        for answer in answers:
            assert answer["label"] in LABELS and 0 < answer["score"] <= 1, (architecture, answer)


def test_surrogates_are_replaced_not_dropped():
    # U+FFFD is no word character: the words around it are read as before.
    tokenizer = train_tokenizer(WORDS, vocab_size=40, min_df=1)
    assert clean_text("orbit\ud800car") == "orbit\ufffdcar"
    assert tokenizer(clean_text("orbit\ud800car"))["input_ids"] == tokenizer("orbit car")["input_ids"]
    # transformers' own tokenizer call refuses such a string outright, which is why predict() cleans it.
    with pytest.raises(TypeError):
        tokenizer("orbit\ud800car")


@pytest.mark.slow
def test_ten_megabyte_document_is_truncated_to_the_models_length(folders, monkeypatch):
    document = "the probe reached orbit and the car engine overheats " * 200_000  # 10.6 MB
    assert len(document) > 10_000_000
    seen = []

    def load_and_watch(model_dir):
        tokenizer, model = load_classifier(model_dir)
        model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape), with_kwargs=True)
        return tokenizer, model

    monkeypatch.setattr(hf_seqmodels.serving.prediction, "load_classifier", load_and_watch)
    [answer] = predict(str(folders["gru"]), [document])
    # The model reads the tokenizer's model_max_length (64) tokens, not 2 million, and answers as for
    # the document's first 64 words (one token each).
    assert seen == [(1, 64)]
    [prefix_answer] = predict(str(folders["gru"]), [" ".join(document.split()[:64])])
    assert answer["label"] == prefix_answer["label"] and answer["score"] == pytest.approx(prefix_answer["score"])
    assert answer["label"] in LABELS and math.isfinite(answer["score"])


def test_non_string_texts_are_refused_by_index(folders):
    with pytest.raises(UsageError, match=r"texts\[1\] is NoneType None, not a string"):
        predict(str(folders["gru"]), ["fine", None])
    with pytest.raises(UsageError, match=r"texts\[0\] is int 3"):
        predict(str(folders["gru"]), [3])


@pytest.fixture(scope="module")
def pipelines(folders):
    return {architecture: pipeline("text-classification", model=str(folder)) for architecture, folder in folders.items()}


# Every code point but lone surrogates, which are not text (see test_surrogates_are_replaced_not_dropped).
VALID_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=VALID_TEXT)
def test_any_unicode_through_tokenizer_model_and_pipeline(pipelines, text):
    for architecture, classifier in pipelines.items():
        # The pipeline put the model on the accelerator where there is one: the inputs go where it is.
        inputs = classifier.tokenizer([text], truncation=True, return_tensors="pt").to(classifier.model.device)
        with torch.inference_mode():
            logits = classifier.model(**inputs).logits
        assert logits.shape == (1, 2) and torch.isfinite(logits).all(), architecture
        [answer] = classifier([text])
        assert answer["label"] in LABELS and math.isfinite(answer["score"]), (architecture, text)


@settings(max_examples=50, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=()), max_size=200))
def test_any_code_point_surrogates_included_is_cleaned_to_valid_text(text):
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # what the tokenizer needs
    assert len(cleaned) == len(text)
    assert all(a == b or b == "\ufffd" for a, b in zip(text, cleaned))


# --------------------------------------------------------------------------- data files: text and labels


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


CSV_ROWS = "".join(f"{text},{label}\n" for text, label in zip(WORDS, ["space", "autos"] * 6))


@pytest.mark.parametrize(
    "name,content,words",
    [
        (  # an empty cell: pandas reads it as missing
            "missing_text.csv",
            "message,category\n" + CSV_ROWS + ",space\nhello,autos\n",
            ["'message'", "missing_text.csv", "row 12", "no text"],
        ),
        ("numbers.csv", "message,category\n1,space\n2,autos\n3,space\n", ["'message'", "int64", "--text_column"]),
        (
            "latin1.csv",
            "message,category\n".encode() + CSV_ROWS.encode() + "caf\u00e9 cr\u00e8me,space\n".encode("latin-1"),
            ["latin1.csv", "not UTF-8", "0xe9", "line 14"],
        ),
        (
            "missing_label.csv",
            "message,category\n" + CSV_ROWS + "hello,\n",
            ["'category'", "missing_label.csv", "row 12", "no label"],
        ),
        (
            "float_labels.csv",
            "message,category\n" + "".join(f"{t},{v}\n" for t, v in zip(WORDS, [0.5, 1.5] * 6)),
            ["'category'", "float64", "string or integer"],
        ),
        (
            "bool_labels.csv",
            "message,category\n" + "".join(f"{t},{v}\n" for t, v in zip(WORDS, ["true", "false"] * 6)),
            ["'category'", "bool", "string or integer"],
        ),
        (
            "negative.csv",
            "message,category\n" + "".join(f"{t},{v}\n" for t, v in zip(WORDS, [0, -1] * 6)),
            ["'category'", "negative"],
        ),
        (  # a JSON escape for half a surrogate pair: not valid text
            "surrogate.jsonl",
            '{"message": "orbit \\ud800", "category": "space"}\n',
            ["surrogate.jsonl", "could not be read as json", "surrogate"],
        ),
    ],
)
def test_bad_data_files_are_refused_naming_file_column_and_row(name, content, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / name, content)
    code, _, err = run(
        capsys, "train", "--architecture", "gru", "--train_file", path, "--text_column", "message",
        "--label_column", "category", "--output_dir", tmp_path / "out",
    )
    assert_refused(code, err, "train", words)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_labels_unknown_to_the_training_data_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train_file = write(tmp_path / "train.csv", "message,category\n" + CSV_ROWS)
    test_file = write(tmp_path / "test.csv", "message,category\norbit,space\nrecipe,cooking\n")
    code, _, err = run(
        capsys, "train", "--architecture", "gru", "--train_file", train_file, "--test_file", test_file,
        "--text_column", "message", "--label_column", "category", "--output_dir", tmp_path / "out",
    )
    assert_refused(code, err, "train", ["cooking", "test.csv", "autos", "space"])


def test_class_label_ids_out_of_range_are_refused_by_row():
    # Hub data sets mark unlabelled examples with -1 (GLUE's test splits, for instance).
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)})
    dataset = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}, features=features)
    dataset = dataset.cast(datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")}))
    dataset = dataset.map(lambda example, index: {"label": -1 if index == 2 else example["label"]}, with_indices=True)
    dataset = dataset.cast(features)
    with pytest.raises(ValueError, match=r"column 'label' of glue \(test\): row 2 hold label ids \[-1\] outside 0\.\.1"):
        check_label_column(dataset, "label", "glue (test)")


def test_one_class_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "one.csv", "message,category\n" + "".join(f"{t},space\n" for t in WORDS))
    code, _, err = run(
        capsys, "train", "--architecture", "gru", "--train_file", path, "--text_column", "message",
        "--label_column", "category", "--output_dir", tmp_path / "out",
    )
    assert_refused(code, err, "train", ["1 class", "'space'", "at least two"])
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- options on the command line


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--learning_rate", "-1"], ["--learning_rate", "-1", "≥ 0"]),
        (["--num_train_epochs", "abc"], ["--num_train_epochs", "abc", "float"]),
        (["--num_train_epochs", "0"], ["--num_train_epochs", "0", "> 0"]),
        (["--per_device_train_batch_size", "0"], ["--per_device_train_batch_size", "0", "≥ 1"]),
        (["--gradient_accumulation_steps", "0"], ["--gradient_accumulation_steps", "0", "≥ 1"]),
        (["--protocol", "foo"], ["--protocol", "foo", "bydate", "seed"]),
        (["--remove", "headers,bogus"], ["--remove", "bogus", "headers", "footers", "quotes"]),
        (["--categories", "sci.spaec"], ["--categories", "sci.spaec", "did you mean sci.space"]),
        (["--config_overrides", "hidden_size=abc"], ["--config_overrides", "hidden_size", "abc", "integer"]),
        (["--config_overrides", "hidden_size=-3"], ["--config_overrides", "hidden_size", "-3", "≥ 1"]),
        (["--config_overrides", "pooling=median"], ["--config_overrides", "pooling", "median", "mean"]),
        (["--max_length", "0"], ["--max_length", "0", "≥ 1"]),
        (["--vocab_size", "3"], ["--vocab_size", "3", "≥ 4"]),
        (["--min_df", "0"], ["--min_df", "0"]),
        (["--min_df", "1.5"], ["--min_df", "1.5", "whole number"]),
        (["--validation_size", "1.5"], ["--validation_size", "1.5", "between 0 and 1"]),
        (["--max_train_samples", "0"], ["--max_train_samples", "0", "≥ 1"]),
        (["--seed", "x"], ["--seed", "x", "int"]),
        (["--save_strategy", "sometimes"], ["--save_strategy", "sometimes", "epoch", "steps"]),
        (["--train_file", "missing.csv"], ["--train_file", "missing.csv", "no such file"]),
        (["--train_file", "data.txt"], ["data.txt", ".csv", ".json"]),
        (["--resume_from_checkpoint", "nowhere"], ["--resume_from_checkpoint", "nowhere", "trainer_state.json"]),
        (["--resume_from_checkpoint", "last"], ["--resume_from_checkpoint", "last", "no checkpoint"]),
        (["--model_name_or_path", "empty_folder"], ["--model_name_or_path", "empty_folder", "config.json"]),
    ],
)
def test_invalid_training_options_name_option_value_and_what_is_valid(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "data.txt").write_text("some text\n")
    architecture = [] if "--model_name_or_path" in argv else ["--architecture", "gru"]
    code, _, err = run(capsys, "train", *architecture, "--output_dir", tmp_path / "out", *argv)
    assert_refused(code, err, "train", words)


def test_single_newsgroup_is_refused_before_training(newsgroups_home, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "train", "--architecture", "gru", "--categories", "sci.space", "--output_dir", "out")
    assert_refused(code, err, "train", ["1 class", "sci.space", "at least two"])


@pytest.mark.parametrize(
    "argv,words",
    [
        (["evaluate", "{folder}", "--split", "dev"], ["--split", "dev", "validation"]),
        (["evaluate", "{folder}", "--batch_size", "abc"], ["--batch_size", "abc", "int"]),
        (["evaluate", "{folder}", "--batch_size", "0"], ["--batch_size", "0", "≥ 1"]),
        (["predict", "{folder}", "text", "--batch_size", "0"], ["--batch_size", "0", "≥ 1"]),
        (["predict", "{folder}", "--file", "missing.txt"], ["--file", "missing.txt", "no such file"]),
        (["predict", "{folder}", "--file", "latin1.txt"], ["--file", "latin1.txt", "not UTF-8", "line 2"]),
        (["predict", "{folder}", "--file", "{folder}"], ["--file", "folder"]),
        (["evaluate", "plain_folder"], ["MODEL_DIR", "plain_folder", "no config.json"]),
        (["predict", "plain_folder", "text"], ["MODEL_DIR", "plain_folder", "no config.json"]),
        (["predict", "no/such/folder", "text"], ["MODEL_DIR", "no/such/folder"]),
    ],
)
def test_invalid_evaluate_and_predict_options(argv, words, folders, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain_folder").mkdir()
    (tmp_path / "plain_folder" / "notes.txt").write_text("not a model")
    write(tmp_path / "latin1.txt", "orbit\ncaf\u00e9\n".encode("latin-1"))
    code, _, err = run(capsys, *(arg.format(folder=folders["gru"]) for arg in argv))
    assert_refused(code, err, argv[0], words)


# --------------------------------------------------------------------------- saved folders


def damaged_copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(folder, copy)
    return copy


def test_truncated_or_garbage_weights_give_one_line(folders, tmp_path, capsys):
    copy = damaged_copy(folders["lstm"], tmp_path)
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    for damaged in (data[: len(data) // 2], b"not a safetensors file at all"):
        weights.write_bytes(damaged)
        code, _, err = run(capsys, "predict", copy, "some text")
        assert_refused(code, err, "predict", [str(copy), "model.safetensors", "corrupt or truncated"])


def test_config_with_a_wrong_type_names_the_field(folders, tmp_path, capsys):
    copy = damaged_copy(folders["gru"], tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["hidden_size"] = "big"
    (copy / "config.json").write_text(json.dumps(config))
    code, _, err = run(capsys, "evaluate", copy)
    assert_refused(code, err, "evaluate", [str(copy), "config.json", "hidden_size", "int", "'big'"])
    (copy / "config.json").write_text("{not json")
    code, _, err = run(capsys, "predict", copy, "text")
    assert_refused(code, err, "predict", [str(copy), "config.json", "not a valid JSON"])


def test_tokenizer_larger_than_the_embedding_is_refused(folders, tmp_path, capsys):
    copy = damaged_copy(folders["transformer"], tmp_path)
    texts = [f"word{i} other{i}" for i in range(100)]
    train_tokenizer(texts, vocab_size=100, min_df=1).save_pretrained(copy)  # 100 ids, embedding of 40
    code, _, err = run(capsys, "predict", copy, "word7")
    assert_refused(code, err, "predict", [str(copy), "ids go up to 99", "vocab_size is 40"])
    args = ModelArguments(model_name_or_path=str(copy), max_length=16)
    with pytest.raises(UsageError, match="ids go up to 99"):
        hf_seqmodels.training.build_model(args, AutoTokenizer.from_pretrained(copy), LABELS, str(copy))


class RunsCode:
    """Unpickling this calls os.system: what a hostile pytorch_model.bin does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the protocol, then refuses
def test_a_pickled_checkpoint_is_never_unpickled(folders, tmp_path, capsys):
    folder = tmp_path / "hostile"
    shutil.copytree(folders["gru"], folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "code_ran"
    with open(folder / "pytorch_model.bin", "wb") as f:
        pickle.dump({"weight": RunsCode(marker)}, f)
    code, _, err = run(capsys, "predict", folder, "text")
    assert_refused(code, err, "predict", [str(folder), "model.safetensors"])
    with pytest.raises(UsageError):
        load_classifier(str(folder))
    args = ModelArguments(model_name_or_path=str(folder), max_length=16)
    with pytest.raises(UsageError):
        hf_seqmodels.training.build_model(args, AutoTokenizer.from_pretrained(folder), LABELS, str(folder))
    # Trainer's resume reads optimizer.pt, scheduler.pt and rng_state.pth with torch.load(weights_only=True),
    # also torch's default since 2.6: such a file is refused, not run.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(folder / "pytorch_model.bin")
    assert not marker.exists()


def test_pickles_planted_in_a_checkpoint_or_saved_predictions_never_run(uninterrupted, tmp_path, capsys):
    """What the package reads besides model folders: checkpoints to resume from and saved predictions."""
    marker = tmp_path / "code_ran"
    output_dir = tmp_path / "run"
    newest = max(uninterrupted.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    checkpoint = shutil.copytree(newest, output_dir / newest.name)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):  # zip archives as torch.save writes them
        torch.save({"state": RunsCode(marker)}, checkpoint / name)
    assert checkpoint_problem(checkpoint) is None  # complete to look at: resume goes on to read it
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        cli.main(["train", *RUN, "--output_dir", str(output_dir), "--resume_from_checkpoint", "last"])
    predictions = uninterrupted / "predictions_test.npz"
    with np.load(predictions) as saved:
        labels = saved["label_ids"]
    np.savez(output_dir / predictions.name, probabilities=np.array([RunsCode(marker)] * len(labels)), label_ids=labels,
             runtime_seconds=1.0)  # fmt: skip
    assert read_saved_predictions(output_dir, "test", labels) is None  # refused, as a damaged file is
    assert not marker.exists()


def test_saved_folders_load_without_trust_remote_code(folders):
    # hf_seqmodels is imported: its classes are registered, and no remote code may be needed or asked for.
    for architecture, folder in folders.items():
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        assert type(model) is hf_seqmodels.ARCHITECTURES[architecture].classifier_class
        assert type(model).__module__.startswith("hf_seqmodels.")
        assert tokenizer("orbit car")["input_ids"]


# --------------------------------------------------------------------------- interrupted and repeated runs


RUN = [
    "--architecture", "gru", "--config_overrides", "embedding_size=16,hidden_size=16",
    "--categories", "sci.space,rec.autos,comp.graphics", "--max_train_samples", "240", "--max_eval_samples", "30",
    "--max_test_samples", "30", "--max_length", "32", "--vocab_size", "800", "--num_train_epochs", "3",
    "--per_device_train_batch_size", "16", "--eval_strategy", "steps", "--eval_steps", "5",
    "--save_strategy", "steps", "--save_steps", "5", "--early_stopping_patience", "0", "--seed", "7",
    "--disable_tqdm", "true", "--use_cpu", "true",
]  # --use_cpu: the exact equalities below are the CPU's; cuDNN's recurrent kernels need not repeat bit for bit
# Evaluation results of the final model; runtimes and throughput differ from run to run.
METRICS = ("eval_loss", "eval_accuracy", "eval_macro_f1", "test_loss", "test_accuracy", "test_macro_f1")


def results(folder: Path) -> dict:
    everything = json.loads((folder / "all_results.json").read_text())
    return {name: everything[name] for name in METRICS}


@pytest.fixture(scope="module")
def uninterrupted(newsgroups_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert cli.main(["train", *RUN, "--output_dir", str(folder)]) == 0
    return folder


@pytest.mark.slow
def test_same_seed_same_metrics(uninterrupted, tmp_path):
    assert cli.main(["train", *RUN, "--output_dir", str(tmp_path)]) == 0
    assert results(tmp_path) == results(uninterrupted)
    train_loss = [json.loads((f / "all_results.json").read_text())["train_loss"] for f in (tmp_path, uninterrupted)]
    assert train_loss[0] == train_loss[1]
    first = json.loads((uninterrupted / "training_summary.json").read_text())
    second = json.loads((tmp_path / "training_summary.json").read_text())
    assert [(e["step"], e["eval_loss"]) for e in first["history"]] == [(e["step"], e["eval_loss"]) for e in second["history"]]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(uninterrupted, newsgroups_home, tmp_path):
    # SIGKILL (no clean-up possible) once the second checkpoint is complete; the run has 45 steps.
    env = os.environ | {"SCIKIT_LEARN_DATA": str(newsgroups_home), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "scripts/train.py", *RUN, "--output_dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "checkpoint-10" / "trainer_state.json").exists():
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-10 after 4 minutes"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "all_results.json").exists()  # it really died mid-run
    checkpoints = sorted((p for p in tmp_path.glob("checkpoint-*")), key=lambda p: int(p.name.split("-")[1]))
    newest = checkpoints[-1]
    # Whatever the kill left, resume picks a complete checkpoint. Make the newest one look like a save
    # cut short (weights half written, no state yet): resume must fall back to the one before.
    (newest / "trainer_state.json").unlink(missing_ok=True)
    weights = newest / "model.safetensors"
    if weights.exists():
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    args = SeqModelsTrainingArguments(output_dir=str(tmp_path), resume_from_checkpoint="last")
    resumed_from = Path(resolve_checkpoint(args))
    assert resumed_from != newest and checkpoint_problem(resumed_from) is None

    assert cli.main(["train", *RUN, "--output_dir", str(tmp_path), "--resume_from_checkpoint", "last"]) == 0
    summary = json.loads((tmp_path / "training_summary.json").read_text())
    assert summary["resumed_from_step"] == int(resumed_from.name.split("-")[1]) > 0
    assert summary["global_step"] == 45
    # Exact, not approximate: on CPU the restored weights, optimizer, scheduler, RNG and data order
    # reproduce the uninterrupted run bit for bit.
    assert results(tmp_path) == results(uninterrupted)
    # And every evaluation on the way. (`train_loss` in all_results.json is not compared: Trainer averages it
    # over the steps the resumed process itself ran.)
    history = [json.loads((f / "training_summary.json").read_text())["history"] for f in (tmp_path, uninterrupted)]
    assert [(e["step"], e["eval_loss"], e["eval_macro_f1"]) for e in history[0]] == [
        (e["step"], e["eval_loss"], e["eval_macro_f1"]) for e in history[1]
    ]


def test_checkpoint_validation_finds_each_kind_of_damage(uninterrupted, tmp_path):
    complete = sorted(uninterrupted.glob("checkpoint-*"))[-1]
    assert checkpoint_problem(complete) is None
    for case, (name, damage, problem) in enumerate((
        ("trainer_state.json", lambda data: data[: len(data) // 2], "trainer_state.json is unreadable"),
        ("trainer_state.json", None, "no trainer_state.json"),
        ("model.safetensors", lambda data: data[:-10], "model.safetensors is corrupt or truncated"),
        ("optimizer.pt", lambda data: data[: len(data) // 2], "optimizer.pt is truncated"),
        ("rng_state.pth", lambda data: data[:100], "rng_state.pth is truncated"),
    )):
        copy = tmp_path / str(case) / complete.name
        shutil.copytree(complete, copy)
        if damage is None:
            (copy / name).unlink()
        else:
            (copy / name).write_bytes(damage((copy / name).read_bytes()))
        assert problem in checkpoint_problem(copy), name
