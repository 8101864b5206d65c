"""`hf-seqmodels pretrain --streaming`: text read as a stream while training runs, from real files in tmp_path.

Tiny models; the 2-process run (each process its own texts) is in test_distributed.py.
"""

import csv
import itertools
import json
import logging

import datasets
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hf_seqmodels
from helpers import TEXTS, TINY_SIZES, assert_refused, run_command
from hf_seqmodels.training.pretraining import PRETRAINING_SUMMARY, group_into_blocks, parse_pretraining_args, tokenize_stream
from hf_seqmodels.training.streaming import open_text_streams

LABELS = ["autos", "space", "hockey", "religion", "autos", "space"] * 4  # the topics of helpers.TEXTS
# Texts that tell each other apart: the held-out ones can be found (or not) among the training ones.
NUMBERED = [f"{text} number{index}" for index, text in enumerate(TEXTS * 3)]


def streaming_argv(output_dir, train_file, *extra):
    overrides = ",".join(f"{key}={value}" for key, value in TINY_SIZES["gru"].items())
    return [
        "pretrain", "--architecture", "gru", "--streaming", "--output_dir", output_dir, "--train_file", train_file,
        "--config_overrides", overrides, "--vocab_size", "200", "--min_df", "1", "--max_length", "16",
        "--per_device_train_batch_size", "4", "--validation_texts", "6", "--disable_tqdm", "true", "--report_to", "none",
        *extra,
    ]  # fmt: skip


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run from tmp_path, the data sets' cache there; labelled CSV files to fine-tune on."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    monkeypatch.chdir(tmp_path)
    for split in ("train", "validation", "test"):
        with open(tmp_path / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["text", "label"], *zip(TEXTS, LABELS)])
    return tmp_path


def write_texts(path, texts):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"body": text}) + "\n" for text in texts), encoding="utf-8")
    else:
        path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_streamed_pretraining_writes_a_folder_that_train_fine_tunes(suffix, workdir, capsys):
    path = write_texts(workdir / f"posts{suffix}", NUMBERED)
    extra = ["--max_steps", "3", "--save_steps", "2", "--logging_steps", "1", "--text_column", "body"]
    code, out, err = run_command(capsys, *streaming_argv("mlm", path.name, *extra))
    assert code == 0, err
    folder = workdir / "mlm"
    summary = json.loads((folder / PRETRAINING_SUMMARY).read_text())
    assert summary["global_step"] == 3 and summary["epochs"] is None
    # The first 6 texts are validation; the tokenizer's pass read the others once.
    assert summary["train_texts"] == len(NUMBERED) - 6
    streamed = summary["streaming"]
    assert streamed["validation"] == "held out" and streamed["validation_texts"] == 6
    assert streamed["examples_trained"] == 3 * 4 and streamed["texts_read"] >= len(NUMBERED) - 6
    assert [entry["step"] for entry in summary["history"]] == [1, 2, 3]  # `epoch` strategies became `steps`
    card = (folder / "README.md").read_text()
    assert "streamed (`--streaming`" in card and "the first 6 texts of the stream, held out" in card
    assert [path.name for path in folder.glob("checkpoint-*")] == ["checkpoint-3"]  # saved by steps, the last kept

    tokenizer = AutoTokenizer.from_pretrained(folder)
    code, _, err = run_command(
        capsys, "train", "--model_name_or_path", "mlm", "--output_dir", "classifier", "--train_file", "train.csv",
        "--validation_file", "validation.csv", "--test_file", "test.csv", "--num_train_epochs", "1",
        "--learning_rate", "0", "--per_device_train_batch_size", "8", "--disable_tqdm", "true", "--report_to", "none",
    )  # fmt: skip
    assert code == 0, err
    classifier = AutoModelForSequenceClassification.from_pretrained(workdir / "classifier")
    pretrained = hf_seqmodels.GRUForMaskedLM.from_pretrained(folder).model.state_dict()
    for name, tensor in classifier.model.state_dict().items():  # learning rate 0: the pretrained encoder, unchanged
        torch.testing.assert_close(tensor, pretrained[name], rtol=0, atol=0, msg=name)
    assert AutoTokenizer.from_pretrained(workdir / "classifier").get_vocab() == tokenizer.get_vocab()


def parsed(path, *extra):
    return parse_pretraining_args(streaming_argv("mlm", str(path), "--max_steps", "1", *extra)[1:])


@pytest.mark.parametrize("line_by_line", [False, True])
def test_the_stream_makes_the_examples_the_in_memory_path_makes(line_by_line, workdir):
    """The same texts give the same examples, token for token: with a buffer of one, in the same order (pass after
    pass); with a buffer, the same examples in another order. 3,000 posts: three batches of the map."""
    long_post = " ".join(TEXTS[:5])  # longer than --max_length: cut once a post, or split over blocks
    posts = [*TEXTS, long_post, ""] * 115  # 2,990 posts
    write_texts(workdir / "train.txt", posts)
    write_texts(workdir / "validation.txt", TEXTS[:3])
    files = ["--validation_file", "validation.txt", "--line_by_line", str(line_by_line).lower()]
    in_order = ["--shuffle_buffer_size", "1", "--train_sampling_strategy", "random"]  # neither shuffled nor grouped
    model_args, data_args, mlm_args, training_args = parsed(workdir / "train.txt", *files, *in_order)
    streams = open_text_streams(data_args, mlm_args)
    tokenizer = hf_seqmodels.train_tokenizer(streams.training_texts(), vocab_size=40, model_max_length=16, min_df=1)
    assert streams.train_texts == len(posts) and streams.validation["text"] == TEXTS[:3]

    in_memory = datasets.DatasetDict(train=datasets.Dataset.from_dict({"text": posts}))
    if line_by_line:
        expected = [tokenizer(post, truncation=True)["input_ids"] for post in posts]
    else:
        expected = list(group_into_blocks(in_memory, tokenizer, block_size=16)["train"]["input_ids"])
        assert max(map(len, expected)) == 16 and len(expected) > len(posts) / 2
    stream = tokenize_stream(streams, tokenizer, model_args, mlm_args, training_args)["train"]
    two_passes = [example["input_ids"] for example in itertools.islice(stream, 2 * len(expected))]
    assert two_passes == expected + expected

    mlm_args.shuffle_buffer_size = 500
    shuffled = tokenize_stream(streams, tokenizer, model_args, mlm_args, training_args)["train"]
    first, second = (
        [example["input_ids"] for example in part]
        for part in (itertools.islice(iter(shuffled), len(expected)), itertools.islice(iter(shuffled), len(expected)))
    )
    assert first != expected and sorted(first) == sorted(expected)
    assert sorted(second) == sorted(expected)


def test_the_stream_is_read_in_batches_of_like_length_as_group_by_length_reads_a_data_set(workdir):
    """Under group_by_length (the default) a pass gives the same examples, each once, in batches whose lengths do
    not overlap within a group of 50 batches, in an order still drawn at random: padding as the in-memory path pads."""
    posts = [" ".join(TEXTS[: 1 + index % 7]) + f" number{index}" for index in range(1000)]  # 2 to 40 words long
    write_texts(workdir / "train.txt", posts)
    write_texts(workdir / "validation.txt", TEXTS[:3])
    options = ["--validation_file", "validation.txt", "--line_by_line", "true", "--max_length", "64"]
    model_args, data_args, mlm_args, training_args = parsed(workdir / "train.txt", *options)
    assert training_args.train_sampling_strategy == "group_by_length" and training_args.per_device_train_batch_size == 4
    streams = open_text_streams(data_args, mlm_args)
    tokenizer = hf_seqmodels.train_tokenizer(streams.training_texts(), vocab_size=200, model_max_length=64, min_df=1)
    stream = tokenize_stream(streams, tokenizer, model_args, mlm_args, training_args)["train"]
    one_pass = [example["input_ids"] for example in itertools.islice(iter(stream), len(posts))]
    assert sorted(one_pass) == sorted(tokenizer(posts, truncation=True)["input_ids"])  # every post once

    batches = [one_pass[start : start + 4] for start in range(0, 200, 4)]  # the first group of 50 batches
    spans = sorted((min(map(len, batch)), max(map(len, batch))) for batch in batches)
    assert all(longest <= next_shortest for (_, longest), (next_shortest, _) in zip(spans, spans[1:]))
    lengths = [max(map(len, batch)) for batch in batches]
    assert lengths != sorted(lengths, reverse=True) and lengths != sorted(lengths)  # not simply longest first
    padded = sum(4 * max(map(len, batch)) for batch in batches)
    random_order = sorted(one_pass[:200], key=lambda ids: hash(tuple(ids)))  # the same examples, lengths mixed
    padded_at_random = sum(4 * max(map(len, random_order[i : i + 4])) for i in range(0, 200, 4))
    assert padded < padded_at_random


def test_held_out_validation_texts_are_not_trained_on(workdir):
    write_texts(workdir / "posts.txt", NUMBERED)
    _, data_args, mlm_args, _ = parsed(workdir / "posts.txt", "--validation_texts", "10", "--max_train_samples", "50")
    streams = open_text_streams(data_args, mlm_args)
    training = list(streams.training_texts())
    assert streams.validation["text"] == NUMBERED[:10] and streams.validation_source == "held out"
    assert training == NUMBERED[10:60] and streams.train_texts == 50
    assert not set(training) & set(streams.validation["text"])


def test_resuming_continues_the_stream_where_it_stopped(workdir, capsys, caplog):
    """A run stopped at step 2 and resumed takes steps 3 and 4 on the very batches (and masks) the run that never
    stopped took: the stream is read again up to where it stopped, not started over."""
    write_texts(workdir / "posts.txt", NUMBERED)
    steps = ["--logging_steps", "1", "--save_steps", "2", "--eval_strategy", "no", "--lr_scheduler_type", "constant"]
    losses = {}
    caplog.set_level(logging.INFO, logger="hf_seqmodels")
    for name, runs in [("straight", [["--max_steps", "4"]]), ("resumed", [["--max_steps", "2"], ["--max_steps", "4", "--resume_from_checkpoint", "last"]])]:
        for extra in runs:
            code, _, err = run_command(capsys, *streaming_argv(name, "posts.txt", *steps, *extra))
            assert code == 0, err
        history = json.loads((workdir / name / "trainer_state.json").read_text())["log_history"]
        losses[name] = {entry["step"]: entry["loss"] for entry in history if "loss" in entry}
    assert "re-reads the 2 batches before it" in caplog.text
    summary = json.loads((workdir / "resumed" / PRETRAINING_SUMMARY).read_text())
    assert summary["resumed_from_step"] == 2 and summary["global_step"] == 4
    assert list(losses["resumed"]) == [1, 2, 3, 4]
    for step in (3, 4):
        assert losses["resumed"][step] == pytest.approx(losses["straight"][step], abs=1e-6), (losses, step)
    assert losses["straight"][3] != pytest.approx(losses["straight"][1], abs=1e-3)  # a restarted stream would repeat step 1


def cut_jsonl(path):
    path.write_text("".join(json.dumps({"body": text}) + "\n" for text in NUMBERED) + '{"body": "the last po', encoding="utf-8")


def cut_csv(path):
    rows = "".join(f'"{text}"\n' for text in NUMBERED)
    path.write_text(f"body\n{rows}\"the last post, cut in the mid", encoding="utf-8")


def latin1_text(path):
    # Past the held-out validation texts: found by the tokenizer's pass over the training stream.
    path.write_bytes("".join(text + "\n" for text in NUMBERED[:20]).encode() + "Caf\xe9 au lait\n".encode("latin-1"))


def empty_cell_csv(path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["body", "other"], *[[text, "x"] for text in NUMBERED[:10]], ["", "x"]])


@pytest.mark.parametrize(
    "name, write, extra, words",
    [
        ("posts.jsonl", cut_jsonl, [], ["'posts.jsonl'", "could not be read", "row 72"]),
        ("posts.csv", cut_csv, [], ["'posts.csv'", "could not be read", "EOF inside string"]),
        ("posts.txt", latin1_text, [], ["'posts.txt'", "not UTF-8", "0xe9", "line 21"]),
        ("posts.csv", empty_cell_csv, [], ["'posts.csv'", "row 10", "no text"]),
        ("posts.jsonl", lambda path: write_texts(path, NUMBERED), ["--text_column", "message"], ["'message'", "body"]),
        ("posts.txt", lambda path: path.write_text(""), [], ["'posts.txt'", "no text"]),
        ("posts.txt", lambda path: write_texts(path, NUMBERED[:6]), [], ["no training text", "6 validation texts"]),
    ],
    ids=["jsonl-cut-mid-row", "csv-cut-mid-row", "not-utf-8", "empty-cell", "no-such-column", "empty", "all-validation"],
)
def test_broken_streamed_files_are_named_in_one_line(name, write, extra, words, workdir, capsys):
    write(workdir / name)
    code, _, err = run_command(capsys, *streaming_argv("mlm", name, "--max_steps", "1", "--text_column", "body", *extra))
    assert_refused(code, err, "pretrain", words)
    assert not (workdir / "mlm").exists()


def test_a_bad_byte_met_while_training_is_named_in_one_line(workdir, capsys, caplog):
    """From a saved folder no tokenizer is fitted, and the CSV reader reads 10,000 rows at a time: the byte in row
    12,000 is first read by training (filling its shuffle buffer), and the error surfaces there."""
    write_texts(workdir / "good.txt", NUMBERED)
    code, _, err = run_command(capsys, *streaming_argv("first", "good.txt", "--max_steps", "1", "--save_strategy", "no"))
    assert code == 0, err
    rows = [f"post {index}" for index in range(15000)]
    rows[12000] = "Caf\xe9 au lait"
    (workdir / "posts.csv").write_bytes(("body\n" + "".join(row + "\n" for row in rows)).encode("latin-1"))
    argv = streaming_argv("second", "posts.csv", "--max_steps", "1", "--text_column", "body", "--shuffle_buffer_size", "20000")
    del argv[argv.index("--architecture") : argv.index("--architecture") + 2]
    del argv[argv.index("--config_overrides") : argv.index("--config_overrides") + 2]
    caplog.set_level(logging.INFO, logger="transformers.trainer")
    code, _, err = run_command(capsys, *argv, "--model_name_or_path", "first")
    assert_refused(code, err, "pretrain", ["'posts.csv'", "not UTF-8", "line 12002"])
    assert "***** Running training *****" in caplog.text  # training had started


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--dataset_name", "someone/some-corpus"], ["--dataset_name", "'someone/some-corpus'", "offline"]),
        (["--shuffle_buffer_size", "0"], ["--shuffle_buffer_size", "0"]),
        (["--validation_texts", "0"], ["--validation_texts", "0"]),
    ],
)
def test_bad_streaming_options_are_named_in_one_line(extra, words, workdir, capsys):
    write_texts(workdir / "posts.txt", NUMBERED)
    argv = streaming_argv("mlm", "posts.txt", "--max_steps", "1", *extra)
    if "--dataset_name" in extra:
        del argv[argv.index("--train_file") : argv.index("--train_file") + 2]
    code, _, err = run_command(capsys, *argv)
    assert_refused(code, err, "pretrain", words)
    assert not (workdir / "mlm").exists()


def test_streaming_needs_max_steps(workdir, capsys):
    write_texts(workdir / "posts.txt", NUMBERED)
    code, _, err = run_command(capsys, *streaming_argv("mlm", "posts.txt"))
    assert_refused(code, err, "pretrain", ["--streaming needs --max_steps"])
    assert not (workdir / "mlm").exists()


def test_20_newsgroups_streams_its_training_split_and_keeps_its_validation(newsgroups_home):
    _, data_args, mlm_args, _ = parse_pretraining_args(
        ["--architecture", "gru", "--streaming", "--max_steps", "1", "--categories", "sci.space,rec.autos", "--output_dir", "x"]
    )
    streams = open_text_streams(data_args, mlm_args)
    splits = hf_seqmodels.load_newsgroups(categories=["rec.autos", "sci.space"])
    assert list(streams.training_texts()) == splits["train"]["text"]
    assert streams.validation["text"] == splits["validation"]["text"] and streams.validation_source == "split"
