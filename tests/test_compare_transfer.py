"""`hf-seqmodels compare --pretrain / --embeddings / --train_fraction` end to end on the real 20 Newsgroups (a
small slice): the transfer rows stand beside the from-scratch ones, pretraining is counted and reused."""

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from hf_seqmodels.compare import CompareArguments, compare
from hf_seqmodels.errors import UsageError

SMALLER = ["--max_train_samples", "400", "--max_eval_samples", "100", "--max_test_samples", "200", "--max_length", "48"]
PRETRAIN_SMALLER = "--max_train_samples 400 --max_eval_samples 100 --max_length 48"


def model_rows(results: dict) -> dict:
    return {row["name"]: row for row in results["rows"] if row["kind"] == "model"}


@pytest.mark.slow  # trains models: left out of the fast subset
def test_pretrain_quick_runs_end_to_end_and_a_second_comparison_reuses_the_pretrained_folder(newsgroups_home, tmp_path):
    arguments = dict(quick=True, models="gru", pretrain=True, pretrain_dir=str(tmp_path / "pretrained"), pretrain_options=PRETRAIN_SMALLER)
    first = compare(CompareArguments(**arguments, output_dir=str(tmp_path / "first")), SMALLER)
    rows = model_rows(first)
    assert set(rows) == {"GRU", "GRU + MLM pretraining"}
    scratch, pretrained = rows["GRU"], rows["GRU + MLM pretraining"]
    assert scratch["variant"] == "scratch" and scratch["pretrain_seconds"] == 0 and scratch["pretraining"] is None
    assert pretrained["variant"] == "pretrained" and not pretrained["pretraining"]["reused"]
    assert pretrained["pretrain_seconds"] > 0
    assert pretrained["train_seconds"] > pretrained["pretrain_seconds"]  # pretraining counted in the time
    folder = Path(pretrained["pretraining"]["output_dir"])
    assert folder.parent == tmp_path / "pretrained" and not list(folder.glob("checkpoint-*"))
    summary = json.loads((folder / "pretraining_summary.json").read_text())
    assert summary["train_texts"] == first["split_sizes"]["train"]  # the training split's text, nothing else
    # Fine-tuned from the pretrained folder: its tokenizer, not one fitted anew.
    fine_tuned = AutoTokenizer.from_pretrained(pretrained["output_dir"])
    assert fine_tuned.get_vocab() == AutoTokenizer.from_pretrained(folder).get_vocab()
    report = (tmp_path / "first" / "report.md").read_text()
    assert "| GRU + MLM pretraining |" in report
    transfer_row = f"| GRU | {scratch['test_accuracy']:.4f} ({scratch['validation_accuracy']:.4f}) | {pretrained['test_accuracy']:.4f}"
    assert "## What transfer adds" in report and transfer_row in report

    # Labels for half the training split: the same pretrained folder (all of the text), not pretrained again.
    weights = (folder / "model.safetensors").stat().st_mtime_ns
    second = compare(CompareArguments(**arguments, train_fraction=0.5, output_dir=str(tmp_path / "half")), SMALLER)
    reused = model_rows(second)["GRU + MLM pretraining"]
    assert reused["pretraining"]["reused"] and reused["pretraining"]["output_dir"] == str(folder)
    assert reused["pretrain_seconds"] == pretrained["pretrain_seconds"]
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights
    # Models and baselines learn from the same 200 posts.
    assert second["split_sizes"]["train"] == 200 and second["split_sizes"]["test"] == first["split_sizes"]["test"]


@pytest.mark.slow
def test_embeddings_rows_start_from_the_word_vectors(newsgroups_home, tmp_path):
    # Common English words: well over the reader's 1 % floor of a 20 Newsgroups vocabulary.
    words = (
        "the of and to in is that for it you this be on are not have with as or was if but they can at by an "
        "from what there all would one will so about do any my which has me we no more just some like out know "
        "people think their who only other also get time them use how been were than when then these up new "
        "because good well see very even should could does first most many much way make said work year"
    ).split()
    vectors = np.random.default_rng(0).normal(size=(len(words), 6)).round(4)
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{word} {' '.join(map(str, row))}\n" for word, row in zip(words, vectors)))
    results = compare(
        CompareArguments(quick=True, models="rnn", embeddings=str(path), output_dir=str(tmp_path / "out")), SMALLER
    )
    rows = model_rows(results)
    assert set(rows) == {"RNN", "RNN + word vectors"}
    record = rows["RNN + word vectors"]["embeddings"]
    assert record["path"] == str(path) and record["found_count"] > 0.9 * len(words)
    assert rows["RNN + word vectors"]["settings"]["config"]["embedding_size"] == 6


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(train_fraction=1.5), "--train_fraction"),
        (dict(embeddings="missing.txt"), "missing.txt"),
    ],
)
def test_bad_transfer_options_are_named(options, message):
    with pytest.raises(UsageError, match=message):
        CompareArguments(**options)


def test_bad_pretrain_options_are_named_before_anything_trains(tmp_path):
    arguments = CompareArguments(pretrain=True, pretrain_options="--mlm_probability 2", output_dir=str(tmp_path / "out"))
    with pytest.raises(UsageError, match=r"--pretrain_options '--mlm_probability 2'.*--mlm_probability"):
        compare(arguments)
    assert not (tmp_path / "out").exists()
