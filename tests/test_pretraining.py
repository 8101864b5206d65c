"""`hf-seqmodels pretrain`: unlabelled text -> a masked-LM folder -> `train --model_name_or_path` fine-tunes it.

Tiny models on text files written in tmp_path (plain text with empty lines, CSV and JSONL without labels).
"""

import csv
import hashlib
import json
import pathlib

import datasets
import pytest
import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
)

import hf_seqmodels
from helpers import TEXTS, TINY_SIZES, assert_refused, save_tiny_folder, tiny_model
from hf_seqmodels import cli
from hf_seqmodels.compare import CompareArguments
from hf_seqmodels.compare import pretrained_folders as compare_pretraining
from hf_seqmodels.compare.arguments import config_path
from hf_seqmodels.training import pretraining as pretraining_job
from hf_seqmodels.training.pretraining import (
    PRETRAINING_SUMMARY,
    MaskedLMCollator,
    group_into_blocks,
    parse_pretraining_args,
)
from hf_seqmodels.training.outputs import write_summary

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
    # The validation text is one block of about 35 tokens: masking 40 % of it leaves words to score.
    extra = ["--num_train_epochs", "2", "--learning_rate", "1e-2", "--mlm_probability", "0.4"]
    code, out, err = run(capsys, *pretrain_argv(architecture, "mlm", *extra))
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


def test_blocks_hold_every_token_of_the_text_exactly_once():
    """run_mlm.py's grouping: the posts tokenized whole, concatenated and cut into blocks; nothing is cut off,
    nothing read twice, and only the last block of each batch of 1,000 posts is short."""
    tokenizer = hf_seqmodels.train_tokenizer(TEXTS, vocab_size=40, model_max_length=6, min_df=1)
    long_post = " ".join(TEXTS[:5])  # far longer than model_max_length: line by line would cut it
    posts = [*TEXTS, long_post, "", "  \n"] * 120  # 3,240 posts: four batches of the map
    splits = {"train": posts, "validation": TEXTS[:3]}
    raw = datasets.DatasetDict({name: datasets.Dataset.from_dict({"text": texts}) for name, texts in splits.items()})
    blocks = group_into_blocks(raw, tokenizer, block_size=6)
    tokens_in = [token for post in posts for token in tokenizer(post)["input_ids"]]
    assert len(tokenizer(long_post)["input_ids"]) > 6
    tokens_out = [token for block in blocks["train"]["input_ids"] for token in block]
    assert tokens_out == tokens_in  # every token once, in the text's order
    lengths = blocks["train"]["length"]
    assert lengths == [len(block) for block in blocks["train"]["input_ids"]] and max(lengths) == 6
    assert sum(length < 6 for length in lengths) <= 4
    assert all(all(mask) for mask in blocks["train"]["attention_mask"])
    validation_in = [token for post in TEXTS[:3] for token in tokenizer(post)["input_ids"]]
    assert [token for block in blocks["validation"]["input_ids"] for token in block] == validation_in


@pytest.mark.parametrize("line_by_line", [False, True])
def test_the_text_is_read_in_blocks_or_post_by_post_and_the_folder_says_which(
    line_by_line, text_files, capsys, monkeypatch
):
    """In blocks every token of the training text is trained on once; `--line_by_line` keeps one example a
    post, cut to --max_length. The summary and the card record which."""
    seen = {}
    real_load, real_build_trainer = pretraining_job.load_unlabelled_data, pretraining_job.build_trainer

    def load_spy(*args, **kwargs):
        seen["texts"] = (raw := real_load(*args, **kwargs))["train"]["text"]
        return raw

    def build_trainer_spy(model, training_args, tokenized, *args, **kwargs):
        seen["examples"] = tokenized["train"]["input_ids"]
        return real_build_trainer(model, training_args, tokenized, *args, **kwargs)

    monkeypatch.setattr(pretraining_job, "load_unlabelled_data", load_spy)
    monkeypatch.setattr(pretraining_job, "build_trainer", build_trainer_spy)
    extra = ["--max_steps", "1", "--eval_strategy", "no", "--save_strategy", "no", "--max_length", "8"]
    # Said both ways: the ready gru-mlm recipe that --architecture starts from reads post by post.
    extra += ["--line_by_line", "true" if line_by_line else "false"]
    code, _, err = run(capsys, *pretrain_argv("gru", "mlm", *extra))
    assert code == 0, err
    summary = json.loads((text_files / "mlm" / PRETRAINING_SUMMARY).read_text())
    card = (text_files / "mlm" / "README.md").read_text()
    tokenizer = AutoTokenizer.from_pretrained(text_files / "mlm")
    posts = [tokenizer(text)["input_ids"] for text in seen["texts"]]
    examples = seen["examples"]
    assert summary["max_length"] == 8 and summary["train_examples"] == len(examples)
    assert max(map(len, posts)) > 8  # some posts are longer than an example
    if line_by_line:  # one example per post, cut to 8 tokens
        assert summary["text_layout"] == "line_by_line"
        assert examples == [post[:8] for post in posts]
        assert "one post each, cut to 8 tokens (`--line_by_line`)" in card
    else:  # every token of the training posts once, in blocks of 8
        assert summary["text_layout"] == "blocks"
        assert [token for block in examples for token in block] == [token for post in posts for token in post]
        assert all(len(block) == 8 for block in examples[:-1])
        assert f"cut into blocks of 8 tokens, as run_mlm.py groups texts ({summary['train_examples']:,} blocks" in card


def test_the_job_collator_counts_only_the_targets_the_head_scores():
    """Targets past mlm_vocab_size become -100 after masking, so that Trainer's num_items_in_batch (labels that
    are not -100) is the number of positions the loss sums over; the masks are transformers' own."""
    tokenizer = hf_seqmodels.train_tokenizer(TEXTS, vocab_size=40, model_max_length=16, min_df=1)
    posts = [tokenizer(text) for text in TEXTS]
    plain = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.5, seed=3)(posts)
    batch = MaskedLMCollator(tokenizer, mlm_probability=0.5, seed=3, scored_vocab_size=12)(posts)
    assert torch.equal(batch["input_ids"], plain["input_ids"]) and batch["target_logits_only"] is True
    unscored = plain["labels"] >= 12
    assert unscored.any() and (plain["labels"][~unscored] != -100).any()
    assert torch.equal(batch["labels"], plain["labels"].masked_fill(unscored, -100))
    model = tiny_model("gru", "masked_lm", vocab_size=len(tokenizer), mlm_vocab_size=12)
    loss_sum = model(**batch, num_items_in_batch=1).loss
    torch.testing.assert_close(model(**batch).loss, loss_sum / (batch["labels"] != -100).sum())


def test_summary_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / PRETRAINING_SUMMARY
    write_summary(path, {"global_step": 1})
    real_write_text = pathlib.Path.write_text

    def killed_halfway(self, text, *args, **kwargs):
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pathlib.Path, "write_text", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        write_summary(path, {"global_step": 2, "history": list(range(50))})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"global_step": 1}


def test_a_comparison_pretrains_again_over_a_truncated_summary(tmp_path, monkeypatch):
    """A pretraining killed while writing its summary: the next comparison resumes it instead of failing."""
    args = CompareArguments(models="gru", pretrain=True, pretrain_dir=str(tmp_path), output_dir=str(tmp_path / "out"))
    folder = compare_pretraining.pretrained_folder(args, "gru")
    (folder / "checkpoint-10").mkdir(parents=True)
    (folder / PRETRAINING_SUMMARY).write_text('{"architecture": "gru", "hist')
    calls = []
    monkeypatch.setattr(compare_pretraining, "pretrain", lambda *parsed: calls.append(parsed[3]) or {"global_step": 12})
    summary = compare_pretraining.ensure_pretrained(args, "gru", launch=None)
    assert summary == {"global_step": 12, "reused": False}
    assert calls[0].resume_from_checkpoint == "last"
    write_summary(folder / PRETRAINING_SUMMARY, {"global_step": 12})
    assert compare_pretraining.ensure_pretrained(args, "gru", launch=None) == {"global_step": 12, "reused": True}


def test_pretrained_folders_from_before_blocks_are_not_reused(tmp_path):
    """Grouping into blocks is the default now: the digest of the same options names another folder than
    the one made when each post was cut to --max_length."""
    args = CompareArguments(models="gru", pretrain=True, pretrain_dir=str(tmp_path))
    config = json.loads(config_path("gru-mlm").read_text(encoding="utf-8"))
    former = {"config": config, "options": compare_pretraining.pretraining_settings(args, "gru")}
    former_digest = hashlib.sha256(json.dumps(former, sort_keys=True).encode()).hexdigest()[:10]
    folder = compare_pretraining.pretrained_folder(args, "gru")
    assert folder.name.startswith("gru-bydate-") and not folder.name.endswith(former_digest)
    line_by_line = CompareArguments(
        models="gru", pretrain=True, pretrain_dir=str(tmp_path), pretrain_options="--line_by_line"
    )
    assert compare_pretraining.pretrained_folder(line_by_line, "gru") != folder
