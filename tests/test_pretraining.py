"""`hf-seqmodels pretrain`: unlabelled text -> a masked-LM folder -> `train --model_name_or_path` fine-tunes it.

Tiny models on text files written in tmp_path (plain text with empty lines, CSV and JSONL without labels).
"""

import csv
import json

import datasets
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from helpers import TEXTS, TINY_SIZES, assert_refused, save_tiny_folder
from hf_seqmodels import cli
from hf_seqmodels.training.pretraining import PRETRAINING_SUMMARY, parse_pretraining_args

LABELS = ["autos", "space", "hockey", "religion", "autos", "space"] * 4  # the topics of helpers.TEXTS


def tiny_overrides(architecture: str, **extra) -> str:
    return ",".join(f"{key}={value}" for key, value in (TINY_SIZES[architecture] | extra).items())


def pretrain_argv(architecture, output_dir, *extra):
    return [
        "pretrain", "--architecture", architecture, "--output_dir", output_dir, "--train_file", "texts.txt",
        "--config_overrides", tiny_overrides(architecture, mlm_vocab_size=20), "--vocab_size", "40", "--min_df", "1",
        "--max_length", "32", "--per_device_train_batch_size", "4", "--disable_tqdm", "true", "--report_to", "none",
        *extra,
    ]  # fmt: skip


def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def text_files(tmp_path, monkeypatch):
    """The texts as plain text (empty lines among them: posts left empty once headers and quotes go), and
    labelled CSV files for fine-tuning; run from tmp_path, with the data sets' cache there."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "texts.txt").write_text("\n".join(text for pair in zip(TEXTS, [""] * len(TEXTS)) for text in pair) + "\n")
    for split in ("train", "validation", "test"):
        with open(tmp_path / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(TEXTS, LABELS))
    return tmp_path


@pytest.mark.parametrize("architecture", ["gru", "transformer"])
def test_pretrain_then_fine_tune_keeps_the_encoder_and_the_tokenizer(architecture, text_files, capsys):
    code, out, err = run(capsys, *pretrain_argv(architecture, "mlm", "--num_train_epochs", "2", "--learning_rate", "1e-2"))
    assert code == 0, err
    printed = json.loads(out.strip().splitlines()[-1])
    folder = text_files / "mlm"
    summary = json.loads((folder / PRETRAINING_SUMMARY).read_text())
    assert printed["output_dir"] == "mlm" and summary["architecture"] == architecture
    assert summary["epochs"] == 2 and len(summary["history"]) == 2 and summary["mlm_vocab_size"] == 20
    assert summary["embeddings"] is None
    assert summary["validation"]["loss"] > 0 and summary["train_texts"] > 0
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: fill-mask" in card and "--model_name_or_path" in card

    masked_lm = AutoModelForMaskedLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.mask_token == "[MASK]" and tokenizer.model_max_length == 32

    # Fine-tune with a learning rate of 0: the classifier saved is the pretrained encoder and a new head.
    code, out, err = run(
        capsys, "train", "--model_name_or_path", "mlm", "--output_dir", "classifier", "--train_file", "train.csv",
        "--validation_file", "validation.csv", "--test_file", "test.csv", "--num_train_epochs", "1",
        "--learning_rate", "0", "--per_device_train_batch_size", "8", "--disable_tqdm", "true", "--report_to", "none",
    )  # fmt: skip
    assert code == 0, err
    classifier = AutoModelForSequenceClassification.from_pretrained(text_files / "classifier")
    assert classifier.config.id2label == dict(enumerate(sorted(set(LABELS))))
    pretrained = masked_lm.model.state_dict()
    for name, tensor in classifier.model.state_dict().items():
        torch.testing.assert_close(tensor, pretrained[name], rtol=0, atol=0, msg=name)
    assert AutoTokenizer.from_pretrained(text_files / "classifier").get_vocab() == tokenizer.get_vocab()


def test_pretraining_resumes_from_its_last_checkpoint(text_files, capsys):
    steps = ["--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "no", "--save_total_limit", "5"]
    code, _, err = run(capsys, *pretrain_argv("gru", "mlm", "--max_steps", "4", *steps))
    assert code == 0, err
    code, _, err = run(capsys, *pretrain_argv("gru", "mlm", "--max_steps", "6", *steps, "--resume_from_checkpoint", "last"))
    assert code == 0, err
    summary = json.loads((text_files / "mlm" / PRETRAINING_SUMMARY).read_text())
    assert summary["resumed_from_step"] == 4 and summary["global_step"] == 6


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_pretrain_reads_text_columns_without_labels(suffix, text_files, capsys):
    path = text_files / f"posts{suffix}"
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["body"], *[[text] for text in TEXTS]])
    else:
        path.write_text("".join(json.dumps({"body": text}) + "\n" for text in TEXTS))
    argv = pretrain_argv("rnn", "mlm", "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no")
    argv[argv.index("texts.txt")] = path.name
    code, _, err = run(capsys, *argv, "--text_column", "body")
    assert code == 0, err
    assert json.loads((text_files / "mlm" / PRETRAINING_SUMMARY).read_text())["train_texts"] == round(0.9 * len(TEXTS))
    code, _, err = run(capsys, *argv, "--text_column", "message")
    assert_refused(code, err, "pretrain", ["'message'", "body"])


def test_pretrain_refuses_a_tokenizer_without_a_mask_token(text_files, capsys):
    """Folders saved before tokenizers had [MASK] keep predicting, but cannot be pretrained further."""
    folder = save_tiny_folder(text_files / "old", "gru", TEXTS, sorted(set(LABELS)))
    config_path = folder / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config.pop("mask_token", None)
    config_path.write_text(json.dumps(tokenizer_config))
    argv = pretrain_argv("gru", "mlm", "--max_steps", "1")
    del argv[argv.index("--architecture") : argv.index("--architecture") + 2]
    del argv[argv.index("--config_overrides") : argv.index("--config_overrides") + 2]
    code, _, err = run(capsys, *argv, "--model_name_or_path", "old")
    assert_refused(code, err, "pretrain", ["'old'", "mask token", "--architecture"])


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--mlm_probability", "1.5"], ["--mlm_probability", "1.5", "between 0 and 1"]),
        (["--config_overrides", "mlm_vocab_size=1"], ["mlm_vocab_size", "1", "≥ 2"]),
        (["--train_file", "missing.txt"], ["--train_file", "missing.txt"]),
    ],
)
def test_pretrain_names_bad_options_in_one_line(extra, words, text_files, capsys):
    code, _, err = run(capsys, *pretrain_argv("gru", "mlm", "--max_steps", "1"), *extra)
    assert_refused(code, err, "pretrain", words)
    assert not (text_files / "mlm").exists()


def test_shipped_pretraining_configs_read_with_overrides():
    model_args, data_args, mlm_args, training_args = parse_pretraining_args(
        ["lstm-mlm.json", "--num_train_epochs", "1", "--mlm_probability", "0.2"]
    )
    assert model_args.architecture == "lstm" and "mlm_vocab_size=" in model_args.config_overrides
    assert training_args.num_train_epochs == 1 and mlm_args.mlm_probability == 0.2
    assert data_args.is_newsgroups and not training_args.load_best_model_at_end
