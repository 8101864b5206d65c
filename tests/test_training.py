"""The training pipeline on real data: slices of 20 Newsgroups and the SMS Spam Collection as CSV.

Models are tiny (`config_overrides`), texts short and slices a few hundred examples, so that the whole
file runs in well under a minute on two CPU cores; the point is the pipeline, not the scores.
"""

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from datasets import Dataset
from huggingface_hub import ModelCard
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
from transformers.trainer_utils import PredictionOutput

from helpers import REPO_ROOT, WITHOUT_PACKAGE, save_tiny_folder, tiny_model
from helpers import TEXTS as TINY_TEXTS
from hf_seqmodels import GRUConfig, train_tokenizer
from hf_seqmodels.data import NEWSGROUPS
from hf_seqmodels.errors import UsageError
from hf_seqmodels.serving.loading import load_classifier
from hf_seqmodels.serving.prediction import class_probabilities, predict, resolve_device
from hf_seqmodels.training import (
    DataArguments,
    ModelArguments,
    SeqModelsTrainer,
    SeqModelsTrainingArguments,
    build_model,
    build_tokenizer,
    load_data,
    parse_args,
    parse_config_overrides,
    read_saved_predictions,
    sample,
    train,
)
from hf_seqmodels.training.outputs import write_saved_predictions

SMS_SPAM = REPO_ROOT.parent / "shared" / "data" / "sms_spam" / "SMSSpamCollection"
CONFIGS = REPO_ROOT / "hf_seqmodels" / "configs"
TINY = {
    "gru": "embedding_size=16,hidden_size=16",
    "rnn": "embedding_size=16,hidden_size=16",
    "transformer": "hidden_size=16,num_attention_heads=2,intermediate_size=32,num_hidden_layers=1",
}
# A slice of 20 Newsgroups every run here shares: 12 posts per group to train on.
SLICE = {
    "max_train_samples": 240,
    "max_eval_samples": 60,
    "max_test_samples": 60,
    "max_length": 32,
    "vocab_size": 1500,
    "num_train_epochs": 1,
}
SLICE_ARGS = [item for name, value in SLICE.items() for item in (f"--{name}", str(value))]
OUTPUT_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
    "test_results.json",
    "trainer_state.json",
    "training_args.bin",
    "test_predictions.csv",
    "predictions_validation.npz",
    "predictions_test.npz",
    "classification_report_test.json",
    "confusion_matrix_test.png",
    "data_args.json",
    "training_summary.json",
}


def quiet_training_args(output_dir, **overrides):
    return SeqModelsTrainingArguments(output_dir=str(output_dir), disable_tqdm=True, **overrides)


def subprocess_env(newsgroups_home):
    return os.environ | {"SCIKIT_LEARN_DATA": str(newsgroups_home), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}


# --------------------------------------------------------------------------- smoke run of the command


def train_commands(tmp):
    """The two ways a user starts training: the script with a config file, and the installed command."""
    installed = Path(sys.executable).with_name("hf-seqmodels")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "hf_seqmodels.cli"]
    return {
        "gru": [
            sys.executable, "scripts/train.py", str(CONFIGS / "gru.json"),
            "--output_dir", str(tmp / "gru"), "--config_overrides", TINY["gru"], *SLICE_ARGS,
        ],
        "transformer": [
            *command, "train", "--architecture", "transformer", "--output_dir", str(tmp / "transformer"),
            "--config_overrides", TINY["transformer"], "--learning_rate", "3e-3", *SLICE_ARGS,
        ],
    }


@pytest.fixture(scope="module")
def trained(newsgroups_home, tmp_path_factory):
    """Train GRU and Transformer side by side as subprocesses; architecture -> (output folder, stdout)."""
    tmp = tmp_path_factory.mktemp("smoke")
    runs = {
        name: subprocess.Popen(
            command, cwd=REPO_ROOT, env=subprocess_env(newsgroups_home), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for name, command in train_commands(tmp).items()
    }
    results = {}
    for name, run in runs.items():
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, f"{name} failed:\n{stderr[-3000:]}"
        results[name] = (tmp / name, stdout)
    return results


@pytest.fixture(scope="module")
def sliced_splits(newsgroups_home):
    """The slices both smoke runs trained and were scored on."""
    samples = {name: value for name, value in SLICE.items() if name.endswith("_samples")}
    return load_data(DataArguments(**samples))


@pytest.fixture(scope="module")
def test_split(sliced_splits):
    return sliced_splits["test"]


@pytest.fixture(params=["gru", "transformer"])
def run(request, trained):
    folder, stdout = trained[request.param]
    return request.param, folder, stdout


@pytest.mark.slow
def test_smoke_run_writes_every_output_file(run):
    architecture, folder, stdout = run
    files = {path.name for path in folder.iterdir()}
    assert OUTPUT_FILES <= files, OUTPUT_FILES - files
    assert any(name.startswith("checkpoint-") for name in files)
    # The modeling code travels with the weights, for trust_remote_code.
    assert {name for name in files if name.startswith(("modeling_", "configuration_"))}
    assert (folder / "confusion_matrix_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The command's last line summarises the run.
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["architecture"] == architecture and Path(summary["output_dir"]) == folder


@pytest.mark.slow
def test_folder_reloads_with_auto_classes_and_names_the_groups(run, test_split):
    _, folder, _ = run
    config = AutoConfig.from_pretrained(folder)
    assert [config.id2label[i] for i in range(20)] == list(NEWSGROUPS)
    assert AutoTokenizer.from_pretrained(folder).model_max_length == SLICE["max_length"]
    # The saved model is the one that was evaluated: it predicts the saved test predictions again.
    with open(folder / "test_predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(test_split)
    again = predict(str(folder), test_split["text"])
    assert [r["label"] for r in again] == [row["prediction"] for row in rows]
    assert np.allclose([r["score"] for r in again], [float(row["score"]) for row in rows], atol=1e-5)
    assert [row["label"] for row in rows] == [NEWSGROUPS[label] for label in test_split["label"]]


@pytest.mark.slow
def test_folders_load_with_trust_remote_code_where_the_package_is_missing(trained, newsgroups_home, tmp_path):
    # The model card's first example, in a process that cannot import hf_seqmodels.
    texts = ["The shuttle reached orbit", "My car engine overheats", "", "orbit " * 3000]  # the last: past any length
    script = WITHOUT_PACKAGE + textwrap.dedent(
        f"""
        from transformers import pipeline
        answers = {{}}
        for name, folder in {dict((name, str(folder)) for name, (folder, _) in trained.items())!r}.items():
            classifier = pipeline("text-classification", model=folder, trust_remote_code=True)
            answers[name] = [[a["label"], a["score"], type(classifier.model).__module__] for a in classifier({texts!r}, truncation=True)]
        print(json.dumps(answers))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env=subprocess_env(newsgroups_home) | {"HF_HOME": str(tmp_path / "hf_home")},  # remote code lands here
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (folder, _) in trained.items():
        expected = predict(str(folder), texts)
        assert [label for label, _, _ in answers[name]] == [e["label"] for e in expected]
        assert np.allclose([score for _, score, _ in answers[name]], [e["score"] for e in expected], atol=1e-5)
        assert all(module.startswith("transformers_modules") for _, _, module in answers[name])


def assert_saved_predictions_are_the_folders_own(folder, splits) -> None:
    """Each split's `predictions_{split}.npz` holds the probabilities the saved folder gives on that split's texts
    (what `compare`'s ensembles use instead of running the folder), and the split's labels."""
    tokenizer, model = load_classifier(str(folder))
    model.to(resolve_device("auto"))  # where Trainer predicted: cuDNN's TF32 recurrences differ from the CPU's by ~1e-3
    for split in ("validation", "test"):
        with np.load(folder / f"predictions_{split}.npz", allow_pickle=False) as saved:
            probabilities, label_ids = saved["probabilities"], saved["label_ids"]
        texts = splits[split]["text"]
        assert probabilities.dtype == np.float32 and probabilities.shape == (len(texts), model.config.num_labels)
        assert label_ids.tolist() == splits[split]["label"]
        expected = class_probabilities(tokenizer, model, texts, batch_size=32).numpy()
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
        assert read_saved_predictions(folder, split, label_ids)[0] is not None


@pytest.mark.slow
def test_saved_predictions_are_the_saved_folders_own(run, sliced_splits):
    _, folder, _ = run
    assert_saved_predictions_are_the_folders_own(folder, sliced_splits)


def test_saved_predictions_that_do_not_fit_the_split_are_not_used(tmp_path):
    """A folder's saved predictions are read back only for the very split they were made on; anything else
    (none saved, other rows, other labels, a damaged file) answers None, and the caller runs the folder."""
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    write_saved_predictions(tmp_path, "test", PredictionOutput(logits, np.array([0, 1, 1]), {}), runtime_seconds=0.5)
    probabilities, seconds = read_saved_predictions(tmp_path, "test", [0, 1, 1])
    np.testing.assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-6)
    assert probabilities.dtype == np.float32 and seconds == 0.5
    assert read_saved_predictions(tmp_path, "validation", [0, 1, 1]) is None  # none saved
    assert read_saved_predictions(tmp_path, "test", [0, 1]) is None  # another number of rows
    assert read_saved_predictions(tmp_path, "test", [0, 1, 0]) is None  # other labels
    (tmp_path / "predictions_test.npz").write_bytes(b"not an npz archive")
    assert read_saved_predictions(tmp_path, "test", [0, 1, 1]) is None


@pytest.mark.slow
def test_all_results_and_summary_hold_validation_and_test_metrics(run):
    _, folder, _ = run
    results = json.loads((folder / "all_results.json").read_text())
    summary = json.loads((folder / "training_summary.json").read_text())
    for prefix, split in (("eval", "validation"), ("test", "test")):
        for metric in ("loss", "accuracy", "macro_f1"):
            assert results[f"{prefix}_{metric}"] == pytest.approx(summary[split][metric])
    # The keys evaluate() writes (its metrics and the epoch), though validation is now scored by predict().
    evaluated = json.loads((folder / "eval_results.json").read_text())
    assert set(evaluated) == {f"eval_{name}" for name in ("loss", "accuracy", "macro_f1", "runtime", "samples_per_second", "steps_per_second")} | {"epoch"}
    # Test accuracy is what the written predictions say.
    with open(folder / "test_predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert results["test_accuracy"] == pytest.approx(np.mean([r["label"] == r["prediction"] for r in rows]))
    assert summary["num_parameters"] > 0 and summary["train_samples_per_second"] > 0
    assert summary["inference_samples_per_second"] > 0 and summary["epochs"] == 1
    [epoch] = summary["history"]
    assert epoch["epoch"] == 1 and epoch["elapsed_seconds"] > 0
    assert epoch["eval_macro_f1"] == pytest.approx(summary["validation"]["macro_f1"])
    report = json.loads((folder / "classification_report_test.json").read_text())
    assert set(NEWSGROUPS) <= set(report) and report["accuracy"] == pytest.approx(results["test_accuracy"])


@pytest.mark.slow
def test_model_card_has_hub_metadata_and_usage(run):
    architecture, folder, _ = run
    card = ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == "text-classification" and card.data.library_name == "transformers"
    assert architecture in card.data.tags
    summary = json.loads((folder / "training_summary.json").read_text())
    reported = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    for split in ("validation", "test"):
        assert reported[(split, "accuracy")] == pytest.approx(summary[split]["accuracy"], abs=1e-4)
        assert reported[(split, "f1")] == pytest.approx(summary[split]["macro_f1"], abs=1e-4)
    assert "trust_remote_code=True" in card.text and "import hf_seqmodels" in card.text
    assert f"{SLICE['max_length']}" in card.text and "learning_rate" in card.text


# --------------------------------------------------------------------------- from a saved folder, early stopping


@pytest.fixture(scope="module")
def refit(newsgroups_home, tmp_path_factory):
    """A GRU folder written by `train` on all 20 groups (in this process, as the fast tests start no training
    process), trained further on two groups with a learning rate of 0: nothing can improve."""
    source = tmp_path_factory.mktemp("source") / "gru"
    train(
        ModelArguments(architecture="gru", config_overrides=TINY["gru"], vocab_size=SLICE["vocab_size"], max_length=32),
        DataArguments(max_train_samples=40, max_eval_samples=20, max_test_samples=20),
        quiet_training_args(source, num_train_epochs=1),
    )
    folder = tmp_path_factory.mktemp("refit")
    summary = train(
        ModelArguments(model_name_or_path=str(source), max_length=24),
        DataArguments(categories="sci.space,rec.autos", max_train_samples=32, max_eval_samples=16, max_test_samples=16),
        quiet_training_args(folder, num_train_epochs=5, learning_rate=0.0, early_stopping_patience=1),
    )
    return source, folder, summary


def test_training_from_a_saved_folder_keeps_its_tokenizer_and_weights(refit):
    source, folder, _ = refit
    assert AutoTokenizer.from_pretrained(folder).get_vocab() == AutoTokenizer.from_pretrained(source).get_vocab()
    assert AutoTokenizer.from_pretrained(folder).model_max_length == 24
    config = AutoConfig.from_pretrained(folder)
    assert config.id2label == {0: "rec.autos", 1: "sci.space"}
    before = AutoModelForSequenceClassification.from_pretrained(source).state_dict()
    after = AutoModelForSequenceClassification.from_pretrained(folder).state_dict()
    # The encoder came from the folder (and a learning rate of 0 left it alone); the head is new: 2 classes, not 20.
    for name, weights in before.items():
        if not name.startswith("classifier"):
            assert np.array_equal(weights.numpy(), after[name].numpy()), name
    assert after["classifier.weight"].shape[0] == 2


@pytest.mark.slow
def test_continuing_from_a_saved_folder_keeps_its_length_unless_told(trained):
    folder = str(trained["gru"][0])
    model_args, _, _ = parse_args(["--model_name_or_path", folder])
    assert build_tokenizer(model_args, None, folder).model_max_length == SLICE["max_length"]
    model_args, _, _ = parse_args(["--model_name_or_path", folder, "--max_length", "24"])
    assert build_tokenizer(model_args, None, folder).model_max_length == 24
    # From scratch, the default length.
    assert parse_args(["--architecture", "gru"])[0].max_length == 256


@pytest.mark.slow
def test_architecture_must_match_the_saved_folder(trained):
    folder = str(trained["gru"][0])
    with pytest.raises(UsageError, match="--architecture lstm does not match the gru model"):
        build_model(ModelArguments(architecture="lstm", model_name_or_path=folder), None, ["a", "b"], folder)


def test_early_stopping_ends_training_when_macro_f1_stops_improving(refit):
    _, _, summary = refit
    # Patience 1: epoch 1 sets the best score, epoch 2 does not beat it, and training stops there.
    assert summary["epochs"] == 2 and len(summary["history"]) == 2
    steps_per_epoch = summary["history"][0]["step"]
    assert summary["best_checkpoint"].endswith(f"checkpoint-{steps_per_epoch}")


def test_length_grouping_reads_the_length_column(tmp_path):
    # The shortest text claims to be the longest: a sampler that reads the `length` column puts it
    # first (length grouping always starts with the longest example); one that re-measures does not.
    texts = ["orbit"] + [f"the probe number {i} reached orbit" for i in range(15)]
    tokenizer = train_tokenizer(texts, vocab_size=40, min_df=1)
    data = Dataset.from_dict({"text": texts, "label": [0, 1] * 8}).map(
        lambda batch: tokenizer(batch["text"], return_length=True), batched=True, remove_columns=["text"]
    )
    data = data.map(lambda example, index: {"length": 1000 if index == 0 else example["length"]}, with_indices=True)
    model = build_model(ModelArguments(architecture="gru", config_overrides=TINY["gru"]), tokenizer, ["a", "b"], None)
    trainer = SeqModelsTrainer(
        model=model,
        args=quiet_training_args(tmp_path, per_device_train_batch_size=4),
        train_dataset=data,
        eval_dataset=data,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    first_batch = next(iter(trainer.get_train_dataloader()))
    assert first_batch["input_ids"][0].tolist()[: len(data[0]["input_ids"])] == data[0]["input_ids"]



@pytest.mark.parametrize("architecture", ["gru", "transformer"])
def test_encoder_learning_rate_applies_to_the_encoder_only(architecture, tmp_path):
    # Rate 0 for the encoder: a few steps move the new head and leave every encoder weight as it was.
    texts = [f"the probe number {i} reached orbit" if i % 2 else f"the team scored goal {i}" for i in range(16)]
    tokenizer = train_tokenizer(texts, vocab_size=60, min_df=1)
    data = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(16)]}).map(
        lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"]
    )
    model_args = ModelArguments(architecture=architecture, config_overrides=TINY[architecture])
    model = build_model(model_args, tokenizer, ["a", "b"], None)
    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    args = quiet_training_args(
        tmp_path, encoder_learning_rate=0.0, learning_rate=1e-2, max_steps=3, save_strategy="no",
        eval_strategy="no", early_stopping_patience=0, load_best_model_at_end=False, per_device_train_batch_size=4,
    )  # fmt: skip
    trainer = SeqModelsTrainer(
        model=model, args=args, train_dataset=data, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )  # fmt: skip
    trainer.train()
    prefix = model.base_model_prefix + "."
    # Compared on the CPU: Trainer moved the model to the accelerator where there is one.
    moved = {name for name, value in model.named_parameters() if not value.detach().cpu().equal(before[name])}
    assert moved and all(not name.startswith(prefix) for name in moved)
    assert any(name.startswith(prefix) for name in before)
    # Both of Trainer's weight-decay groups were split, each part keeping its decay.
    groups = trainer.optimizer.param_groups  # "initial_lr": the peak rate, before the schedule scaled it
    assert sorted((group["initial_lr"] > 0, group["weight_decay"] > 0) for group in groups) == [
        (False, False), (False, True), (True, False), (True, True),
    ]  # fmt: skip


def test_negative_encoder_learning_rate_is_named(tmp_path):
    with pytest.raises(UsageError, match="--encoder_learning_rate must be ≥ 0, got -0.1"):
        quiet_training_args(tmp_path, encoder_learning_rate=-0.1)



def test_predictions_come_back_in_the_datasets_order(tmp_path):
    # predict() runs the texts shortest first; what it returns must line up with the dataset as given.
    texts = [" ".join(["orbit"] * (1 + (7 * i) % 13)) + f" probe {i}" for i in range(24)]
    tokenizer = train_tokenizer(texts, vocab_size=60, min_df=1)
    data = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(24)]}).map(
        lambda batch: tokenizer(batch["text"], return_length=True), batched=True, remove_columns=["text"]
    )
    model = build_model(ModelArguments(architecture="gru", config_overrides=TINY["gru"]), tokenizer, ["a", "b"], None)
    args = quiet_training_args(
        tmp_path, per_device_eval_batch_size=5, eval_strategy="no", save_strategy="no", early_stopping_patience=0
    )
    trainer = SeqModelsTrainer(model=model.eval(), args=args, processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer))
    output = trainer.predict(data)
    with torch.inference_mode():  # on the device Trainer put the model on
        one_by_one = [model(torch.tensor([row["input_ids"]], device=model.device)).logits[0].cpu().numpy() for row in data]
    np.testing.assert_allclose(output.predictions, np.stack(one_by_one), atol=1e-5)
    assert output.label_ids.tolist() == data["label"]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("architecture", ["rnn", "lstm", "gru", "transformer"])
def test_shipped_config_files_parse(architecture):
    model_args, data_args, training_args = parse_args([str(CONFIGS / f"{architecture}.json")])
    assert model_args.architecture == architecture
    assert data_args.protocol == "bydate"
    assert training_args.load_best_model_at_end and training_args.metric_for_best_model == "macro_f1"
    assert model_args.config_overrides is None  # the shipped models are the config classes' defaults


def test_command_line_overrides_config_file():
    config = json.loads((CONFIGS / "gru.json").read_text())
    model_args, data_args, training_args = parse_args(
        [str(CONFIGS / "gru.json"), "--num_train_epochs", "1", "--max_train_samples", "200", "--remove", "headers"]
    )
    assert training_args.num_train_epochs == 1 and data_args.max_train_samples == 200 and data_args.remove == "headers"
    assert training_args.learning_rate == config["learning_rate"]
    assert model_args.vocab_size == config["vocab_size"]


def test_shipped_config_files_are_found_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as an installed command is run: no checkout around
    model_args, _, _ = parse_args(["transformer.json", "--max_length", "128"])
    assert model_args.architecture == "transformer" and model_args.max_length == 128


def test_defaults_suit_training_from_scratch():
    _, _, training_args = parse_args(["--architecture", "gru"])
    assert training_args.eval_strategy == "epoch" and training_args.save_strategy == "epoch"
    assert training_args.train_sampling_strategy == "group_by_length"
    assert training_args.report_to in ([], "none", ["none"]) and training_args.early_stopping_patience == 2


def test_unknown_key_in_config_file_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"architecture": "gru", "learning_rat": 0.1}))
    with pytest.raises(UsageError, match="learning_rat.*learning_rate"):
        parse_args([str(path)])


def test_config_overrides_are_typed_like_the_config():
    text = "hidden_size=64, bidirectional=false,pooling=mean,embedding_dropout=0.5"
    overrides = parse_config_overrides(text, GRUConfig)
    assert overrides == {"hidden_size": 64, "bidirectional": False, "pooling": "mean", "embedding_dropout": 0.5}
    assert type(overrides["embedding_dropout"]) is float


@pytest.mark.parametrize(
    "overrides,words",
    [
        ("hiden_size=64", ["hiden_size", "GRUConfig", "hidden_size", "pooling"]),
        ("hidden_size=big", ["hidden_size", "big", "integer"]),
        ("bidirectional=maybe", ["bidirectional", "maybe", "true or false"]),
        ("vocab_size=10", ["vocab_size", "valid keys"]),  # set from the tokenizer, not by hand
        ("pooling=median", ["pooling", "median", "max"]),  # the config's own check
    ],
)
def test_bad_config_overrides_name_key_and_valid_values(overrides, words):
    tokenizer = train_tokenizer(["the probe reached orbit", "the car engine"] * 3, vocab_size=10, min_df=1)
    with pytest.raises(UsageError) as error:
        build_model(ModelArguments(architecture="gru", config_overrides=overrides), tokenizer, ["a", "b"], None)
    for word in words:
        assert word in str(error.value)


def test_max_length_beyond_transformer_positions_is_refused():
    tokenizer = train_tokenizer(["the probe reached orbit", "the car engine"] * 3, vocab_size=10, min_df=1)
    args = ModelArguments(architecture="transformer", max_length=600)
    with pytest.raises(UsageError, match="max_position_embeddings"):
        build_model(args, tokenizer, ["a", "b"], None)


# --------------------------------------------------------------------------- data through DataArguments


def test_newsgroups_options_reach_the_data(newsgroups_home):
    groups = ["rec.autos", "sci.space", "comp.graphics"]
    _, data_args, _ = parse_args(
        ["--architecture", "gru", "--protocol", "seed", "--categories", ",".join(groups), "--remove", "headers,footers"]
    )
    splits = load_data(data_args)
    assert splits["train"].features["label"].names == sorted(groups)
    sizes = {split: len(splits[split]) for split in splits}
    total = sum(sizes.values())
    for split, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        assert abs(sizes[split] - share * total) <= 1
    # No post in two splits (beyond posts the corpus itself holds twice: empty ones once headers go).
    counts = Counter(text for split in splits.values() for text in split["text"])
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = set(splits[a]["text"]) & set(splits[b]["text"])
        assert all(counts[text] > 1 for text in shared)
    assert sum("Subject:" in text for text in splits["train"]["text"]) < 0.02 * sizes["train"]


def test_sample_slices_are_seeded_and_cover_every_class(newsgroups_home):
    first = load_data(DataArguments(max_train_samples=200, max_eval_samples=40, max_test_samples=40))
    assert {split: len(first[split]) for split in first} == {"train": 200, "validation": 40, "test": 40}
    # Stratified: every group in every slice, even 40 posts for 20 groups, in about its share.
    for split in first.values():
        assert set(split["label"]) == set(range(20))
    assert max(Counter(first["train"]["label"]).values()) <= 14  # the largest group's share is 5.3%
    # Seeded: the slice depends on split_seed alone (so every architecture sees the same posts).
    other = load_data(DataArguments(max_train_samples=200, split_seed=1))
    assert other["train"]["text"] != first["train"]["text"]
    assert sample(first["train"], 50, seed=3)["text"] == sample(first["train"], 50, seed=3)["text"]


# --------------------------------------------------------------------------- local files, resume


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    # load_dataset caches Arrow files; keep them out of the user's ~/.cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


@pytest.fixture
def sms_csv(tmp_path):
    if not SMS_SPAM.exists():
        pytest.skip(f"SMS Spam Collection not found at {SMS_SPAM}")
    with open(SMS_SPAM, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t", 1) for line in f][:600]
    path = tmp_path / "sms.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["category", "message"])
        writer.writerows(rows)
    return path


def test_csv_data_set_trains(sms_csv, tmp_path):
    summary = train(
        ModelArguments(
            architecture="gru",
            config_overrides="embedding_size=32,hidden_size=16",
            vocab_size=1000,
            max_length=32,
            min_df=1,
        ),
        DataArguments(train_file=str(sms_csv), text_column="message", label_column="category"),
        quiet_training_args(
            tmp_path / "sms",
            num_train_epochs=3,
            learning_rate=2e-2,
            per_device_train_batch_size=16,
            optim="adamw_torch",
        ),
    )
    config = AutoConfig.from_pretrained(tmp_path / "sms")
    assert config.id2label == {0: "ham", 1: "spam"}
    assert len(summary["history"]) == 3
    # Always answering "ham" scores a macro-F1 of 0.46: the model found the spam.
    assert summary["test"]["macro_f1"] > 0.7, summary["history"]
    data_args = json.loads((tmp_path / "sms" / "data_args.json").read_text())
    assert data_args["train_file"] == str(sms_csv) and data_args["text_column"] == "message"
    # Three epochs: the saved folder is the best one, and the predictions saved beside it are its own.
    assert_saved_predictions_are_the_folders_own(tmp_path / "sms", load_data(DataArguments(**data_args)))


@pytest.mark.slow
def test_resume_from_checkpoint_continues(newsgroups_home, tmp_path):
    model_args = ModelArguments(architecture="rnn", config_overrides=TINY["rnn"], vocab_size=1000, max_length=16)
    data_args = DataArguments(
        categories="sci.space,rec.autos", max_train_samples=64, max_eval_samples=20, max_test_samples=20
    )
    first = train(model_args, data_args, quiet_training_args(tmp_path, num_train_epochs=1))
    steps = first["global_step"]
    assert (tmp_path / f"checkpoint-{steps}").is_dir()

    resumed = train(
        model_args, data_args, quiet_training_args(tmp_path, num_train_epochs=2, resume_from_checkpoint="last")
    )
    assert resumed["resumed_from_step"] == steps
    assert resumed["global_step"] == 2 * steps
    # Epoch 1 was loaded from the checkpoint, not trained again: its record, wall clock included, is the
    # first run's, and the clock goes on from there.
    assert resumed["history"][0] == first["history"][0]
    assert resumed["history"][1]["elapsed_seconds"] > first["history"][0]["elapsed_seconds"]
    assert (tmp_path / f"checkpoint-{2 * steps}").is_dir()


# --------------------------------------------------------------------------- what training starts from, and the card


def test_overrides_that_resize_saved_weights_are_refused_unless_asked(tmp_path):
    folder = save_tiny_folder(tmp_path / "gru", "gru", TINY_TEXTS, ["a", "b"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    wider = dict(model_name_or_path=str(folder), config_overrides="hidden_size=14")
    with pytest.raises(UsageError) as refused:
        build_model(ModelArguments(**wider), tokenizer, ["a", "b"], str(folder))
    message = str(refused.value)
    assert "\n" not in message
    for word in (str(folder), "hidden_size=14", "model.layers.0.forward_cell.weight_ih_l0", "(30, 12) -> (42, 12)", "--ignore_mismatched_sizes"):
        assert word in message
    # Asked for: the resized weights start afresh and are named; the rest (the embeddings) come from the folder.
    model = build_model(ModelArguments(**wider, ignore_mismatched_sizes=True), tokenizer, ["a", "b"], str(folder))
    saved = AutoModelForSequenceClassification.from_pretrained(folder).state_dict()
    assert "model.layers.0.forward_cell.weight_ih_l0" in model.reinitialized_weights
    assert "model.embeddings.weight" not in model.reinitialized_weights
    assert torch.equal(model.state_dict()["model.embeddings.weight"], saved["model.embeddings.weight"])
    # New labels need a new head: no option needed, and nothing else starts afresh.
    model = build_model(ModelArguments(model_name_or_path=str(folder)), tokenizer, ["a", "b", "c"], str(folder))
    assert model.reinitialized_weights == ["classifier.bias", "classifier.weight"]
    # A masked-LM folder has no classification head to mismatch: its encoder is kept, the head is new.
    masked_lm = tmp_path / "mlm"
    tiny_model("gru", "masked_lm").save_pretrained(masked_lm)
    model = build_model(ModelArguments(model_name_or_path=str(masked_lm)), tokenizer, ["a", "b"], str(masked_lm))
    assert model.reinitialized_weights == ["classifier.bias", "classifier.weight"]


CARD_DATA = dict(categories="comp.graphics,rec.autos,sci.space", max_train_samples=60, max_eval_samples=30, max_test_samples=30)


def train_tiny(folder, data_args: DataArguments, license=None, **model_options) -> dict:
    """One epoch of a tiny model on a small slice, in this process."""
    model_args = ModelArguments(**({"max_length": 32, "vocab_size": 600, "min_df": 1} | model_options))
    return train(model_args, data_args, quiet_training_args(folder, num_train_epochs=1, license=license))


@pytest.fixture(scope="module")
def tiny_gru(newsgroups_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("card") / "gru"
    train_tiny(folder, DataArguments(**CARD_DATA), architecture="gru", config_overrides=TINY["gru"])
    return folder


def test_card_of_a_model_trained_from_scratch_names_the_data_each_result_came_from(tiny_gru):
    card = ModelCard.load(tiny_gru / "README.md")
    results = {result.dataset_split: result for result in card.data.eval_results if result.metric_type == "accuracy"}
    assert set(results) == {"validation", "test"}
    for split, subset in (("validation", "train"), ("test", "test")):
        result = results[split]
        # Not a Hub copy of the corpus: scikit-learn's, with the groups and slice the run read.
        assert result.dataset_type == "20newsgroups" and result.dataset_config == "bydate"
        assert result.dataset_args["subset"] == subset and result.dataset_args["examples"] == 30
        assert result.dataset_args["categories"] == CARD_DATA["categories"].split(",")
        assert result.dataset_args["max_samples"] == 30
    assert results["validation"].dataset_args["held_out_fraction"] == 0.1
    assert "SetFit" not in card.content and card.data.base_model is None and card.data.license is None
    assert "trained from scratch" in card.text
    tokenizer = AutoTokenizer.from_pretrained(tiny_gru)
    assert f"keeps the {len(tokenizer) - 3:,} words" in card.text
    # The transformers release it names is the package's own floor.
    floor = re.search(r'"transformers>=([\d.]+)', (REPO_ROOT / "setup.py").read_text()).group(1)
    assert f"beyond `transformers>={floor}`" in card.text


def test_card_of_a_fine_tuned_model_names_its_start_and_the_weights_that_started_afresh(tiny_gru, tmp_path):
    folder = tmp_path / "wider"
    summary = train_tiny(
        folder, DataArguments(**CARD_DATA), license="mit", model_name_or_path=str(tiny_gru),
        config_overrides="hidden_size=24", ignore_mismatched_sizes=True,
    )
    fresh = summary["start"]["reinitialized_weights"]
    assert "model.layers.0.forward_cell.weight_hh_l0" in fresh and "model.embeddings.weight" not in fresh
    card = ModelCard.load(folder / "README.md")
    assert f"fine-tuned from the text classifier `{tiny_gru}`" in card.text and "from scratch" not in card.text
    assert all(f"`{name}`" in card.text for name in fresh)
    assert card.data.license == "mit"
    assert card.data.base_model is None  # a local folder: base_model names Hub ids only, as transformers' cards


def test_card_of_a_model_fine_tuned_from_a_masked_lm_says_so(newsgroups_home, tmp_path):
    masked_lm = tmp_path / "mlm"
    tiny_model("gru", "masked_lm").save_pretrained(masked_lm)
    hf_tokenizer = train_tokenizer(TINY_TEXTS, vocab_size=40, model_max_length=64, min_df=1)
    hf_tokenizer.save_pretrained(masked_lm)
    train_tiny(tmp_path / "tuned", DataArguments(**CARD_DATA), model_name_or_path=str(masked_lm))
    card = ModelCard.load(tmp_path / "tuned" / "README.md")
    assert f"fine-tuned from the masked language model `{masked_lm}`" in card.text
    assert "`classifier.weight`" in card.text and "from scratch" not in card.text


def test_card_of_a_model_started_from_word_vectors_says_so(newsgroups_home, tmp_path):
    words = ["the", "of", "to", "and", "in", "is", "that", "for", "it", "on", "space", "car", "image", "with"]
    vectors = tmp_path / "tiny.vec.txt"
    vectors.write_text("".join(f"{word} " + " ".join(["0.5"] * 8) + "\n" for word in words), encoding="utf-8")
    train_tiny(tmp_path / "vec", DataArguments(**CARD_DATA), architecture="gru", embeddings=str(vectors), config_overrides="hidden_size=8")
    card = ModelCard.load(tmp_path / "vec" / "README.md")
    assert "trained from word vectors (`tiny.vec.txt`" in card.text and "trained from scratch" not in card.text


def test_card_of_file_data_names_the_file_each_result_came_from(tmp_path):
    rows = [(index % 3 + 1, f"{topic} post number {index}") for index, topic in enumerate(["orbit probe", "engine brakes", "render pixels"] * 40)]
    for name, part in (("train.csv", rows[:90]), ("test.csv", rows[90:])):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("label", "text"), *part])
    train_tiny(
        tmp_path / "out", DataArguments(train_file=str(tmp_path / "train.csv"), test_file=str(tmp_path / "test.csv")),
        architecture="gru", config_overrides=TINY["gru"],
    )
    card = ModelCard.load(tmp_path / "out" / "README.md")
    results = [result for result in card.data.eval_results if result.metric_type == "accuracy"]
    validation, test = results
    assert (test.dataset_name, test.dataset_split) == ("test.csv", "test") and test.dataset_args["examples"] == 30
    # Validation was held out from the training file: named as such, not as a split of its own.
    assert (validation.dataset_name, validation.dataset_split) == ("train.csv", "train")
    assert validation.dataset_args["held_out_from"] == "train" and validation.dataset_args["held_out_fraction"] == 0.1
    assert "Labels: `1`, `2`, `3`." in card.text  # the file's labels 1..3, no phantom class "0"
