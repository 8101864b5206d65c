"""The speed benchmark's machinery: FLOP formulas against hand counts and torch's own counter, and a
tiny end-to-end run whose report has every model and every column. No timing is asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hf_seqmodels
from hf_seqmodels import benchmark
from hf_seqmodels.benchmark.baselines import TextbookRecurrentClassifier
from hf_seqmodels.benchmark.batches import Posts, length_grouped_batches
from hf_seqmodels.benchmark.contenders import Contender
from hf_seqmodels.benchmark.flops import recurrent_batch_flops, transformer_batch_flops
from hf_seqmodels.benchmark.results import result_row
from hf_seqmodels.benchmark.timing import warm_up
from hf_seqmodels.cli import build_parser

REPO = Path(__file__).resolve().parents[1]

# Two rows, lengths 5 and 2, right-padded.
BATCH = {
    "input_ids": torch.tensor([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0]]),
    "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]),
}
RECURRENT_SIZES = dict(vocab_size=10, num_labels=2, embedding_size=4, hidden_size=3, num_hidden_layers=1, pooling="max")
TRANSFORMER_SIZES = dict(
    vocab_size=10, num_labels=2, hidden_size=4, intermediate_size=8, num_attention_heads=2, num_hidden_layers=1, pooling="mean"
)


def test_recurrent_flops_match_a_hand_count():
    gru = hf_seqmodels.GRUConfig(**RECURRENT_SIZES)  # 1 bidirectional layer, max pooling -> 6 wide
    # per step and direction 3 gates * H * (E + H) = 3 * 3 * 7 = 63 MACs; the classifier 6 * 2 per row
    padded = 2 * 10 * 63 + 2 * 6 * 2  # 2 directions, 2 rows x 5 columns
    packed = 2 * 7 * 63 + 2 * 6 * 2  # 7 real tokens
    assert recurrent_batch_flops(gru, BATCH) == 2 * padded
    assert recurrent_batch_flops(gru, BATCH, packed=True) == 2 * packed

    lstm = hf_seqmodels.LSTMConfig(**RECURRENT_SIZES | {"num_hidden_layers": 2})
    # layer 1: 4 * 3 * (4 + 3) = 84; layer 2 reads both directions: 4 * 3 * (6 + 3) = 108
    assert recurrent_batch_flops(lstm, BATCH) == 2 * (2 * 10 * (84 + 108) + 2 * 6 * 2)

    rnn = hf_seqmodels.RNNConfig(**RECURRENT_SIZES | {"bidirectional": False, "pooling": "mean_max"})
    assert recurrent_batch_flops(rnn, BATCH) == 2 * (10 * 3 * 7 + 2 * 6 * 2)


def test_transformer_flops_match_a_hand_count():
    config = hf_seqmodels.TransformerConfig(**TRANSFORMER_SIZES)
    # S = 6 positions (5 columns + our [CLS]): S * (4 H^2 + 2 H F) + 2 S^2 H = 6 * 128 + 288 per row
    per_row = 6 * (4 * 16 + 2 * 4 * 8) + 2 * 36 * 4 + 4 * 2  # + the classifier
    assert transformer_batch_flops(config, BATCH, extra_positions=1) == 2 * 2 * per_row
    bert_row = 5 * 128 + 2 * 25 * 4 + 4 * 2 + 4 * 4  # no [CLS] of ours, but BERT's pooler
    assert transformer_batch_flops(config, BATCH, pooler=True) == 2 * 2 * bert_row


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_recurrent_flops_match_torch_flop_counter(cell):
    """torch sees the matmuls inside its own RNN loop (not inside oneDNN's LSTM, hence no LSTM here)."""
    config = hf_seqmodels.ARCHITECTURES[cell].config_class(**RECURRENT_SIZES | {"num_hidden_layers": 2})
    for model, packed in ((hf_seqmodels.ARCHITECTURES[cell].classifier_class(config), False), (TextbookRecurrentClassifier(config), True)):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.eval()(**BATCH)
        assert counter.get_total_flops() == recurrent_batch_flops(config, BATCH, packed=packed)


def test_transformer_flops_match_torch_flop_counter():
    # Eager attention: torch's counter does not count the CPU flash-attention kernel.
    config = hf_seqmodels.TransformerConfig(**(TRANSFORMER_SIZES | {"num_hidden_layers": 2}), attn_implementation="eager")
    model = hf_seqmodels.TransformerForSequenceClassification(config).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**BATCH)
    assert counter.get_total_flops() == transformer_batch_flops(config, BATCH, extra_positions=1)


def test_textbook_recurrent_baselines_ignore_padding_when_packed():
    torch.manual_seed(0)
    config = hf_seqmodels.GRUConfig(**RECURRENT_SIZES)
    model = TextbookRecurrentClassifier(config).eval()
    alone = model(BATCH["input_ids"][1:, :2], BATCH["attention_mask"][1:, :2]).logits
    batched = model(**BATCH).logits[1:]
    torch.testing.assert_close(batched, alone)


def test_length_grouped_batches_follow_the_posts():
    lengths = [3, 9, 4, 12, 7, 5, 8, 2, 6, 10, 11, 1]
    posts = Posts([list(range(2, 2 + n)) for n in lengths], [n % 3 for n in lengths], vocab_size=20, max_length=12)
    batches, description = length_grouped_batches(posts, batch_size=3, num_batches=2, seed=0, device=torch.device("cpu"))
    assert len(batches) == 2 and description["samples"] == 6
    assert description["real_tokens"] == sum(int(batch["attention_mask"].sum()) for batch in batches)
    for batch in batches:
        real = batch["attention_mask"].sum(dim=1)
        assert batch["input_ids"].shape[1] == int(real.max())  # padded to the longest row only
        assert torch.equal(batch["input_ids"] != 0, batch["attention_mask"].bool())
    # picked at evenly spaced quantiles of the padded length: the shorter batch comes first
    assert description["batch_lengths"] == sorted(description["batch_lengths"])


ROW_COLUMNS = {
    "architecture",
    "implementation",
    "model",
    "parameters",
    "train_samples_per_s",
    "train_tokens_per_s",
    "infer_samples_per_s",
    "infer_tokens_per_s",
    "train_gflops",
    "fraction_of_matmul_ceiling",
    "fraction_of_matmul_ceiling_cpu_time",
    "train_cpu_utilisation",
    "train_vs_textbook",
    "train_vs_bert",
    "infer_vs_textbook",
    "infer_vs_bert",
}


def test_tiny_benchmark_run_reports_every_model_and_column(newsgroups_home, tmp_path):
    settings = benchmark.BenchmarkSettings(
        batch_size=2,
        num_batches=2,
        repeats=1,
        max_texts=100,
        matmul_size=128,
        device="cpu",
        threads=1,  # steady on a busy machine: two threads stall when another job holds a core
        scaling=True,
        scaling_hidden_sizes=(16,),
        scaling_batch_sizes=(1,),
    )
    threads = torch.get_num_threads()
    report = benchmark.run_benchmark(settings, progress=False)
    assert torch.get_num_threads() == threads and report["machine"]["torch_threads"] == 1
    printed = benchmark.write_report(report, tmp_path / "speed.json")
    saved = json.loads((tmp_path / "speed.json").read_text())

    expected = {(a, benchmark.OURS) for a in hf_seqmodels.ARCHITECTURES}
    expected |= {(a, benchmark.TEXTBOOK) for a in hf_seqmodels.ARCHITECTURES}
    expected |= {(a, benchmark.UNPACKED) for a in ("rnn", "lstm", "gru")} | {("transformer", benchmark.BERT)}
    assert {(row["architecture"], row["implementation"]) for row in saved["results"]} == expected
    for row in saved["results"]:
        assert ROW_COLUMNS <= set(row), ROW_COLUMNS - set(row)
        for key in ("train_samples_per_s", "train_tokens_per_s", "infer_samples_per_s", "train_gflops", "train_vs_textbook", "infer_vs_textbook"):
            assert isinstance(row[key], float) and row[key] > 0, (row["model"], key)
        has_bert = row["architecture"] == "transformer"
        for key in ("train_vs_bert", "infer_vs_bert"):
            assert (isinstance(row[key], float) and row[key] > 0) if has_bert else row[key] is None
        if row["implementation"] == benchmark.TEXTBOOK:
            assert row["train_vs_textbook"] == 1.0
    assert saved["batches"]["same_batches_for_all_models"] is True
    assert saved["matmul_gflops"]["ceiling"] > 0
    default_hidden = {name: architecture.config_class().hidden_size for name, architecture in hf_seqmodels.ARCHITECTURES.items()}
    points = {(p["architecture"], p["hidden_size"], p["batch_size"]) for p in saved["scaling"]}
    assert points == {(a, 16, 2) for a in default_hidden} | {(a, hidden, 1) for a, hidden in default_hidden.items()}
    assert all(p["fraction_of_matmul_ceiling"] > 0 for p in saved["scaling"])
    # the printed table has one line per result
    assert sum(line.startswith(("| rnn", "| lstm", "| gru", "| transformer")) for line in printed.splitlines()) == len(expected) + len(saved["scaling"])


def test_command_line_has_the_benchmark():
    args = build_parser().parse_args(["benchmark", "--quick", "--threads", "1", "--architectures", "gru"])
    settings = benchmark.settings_from_args(args)
    assert settings == benchmark.BenchmarkSettings.quick(architectures=("gru",), threads=1)


def test_a_model_that_fails_is_reported_not_timed():
    class Broken(torch.nn.Module):
        def forward(self, **batch):
            raise RuntimeError("expected scalar type Float but found BFloat16\nmore detail")

    broken = Contender("gru", benchmark.TEXTBOOK, "broken", Broken(), lambda batch: 1)
    broken.optimizer, broken.runner = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]), broken.model
    warm_up(broken, [BATCH | {"labels": torch.tensor([0, 1])}], torch.device("cpu"), "none")
    assert broken.error == "RuntimeError: expected scalar type Float but found BFloat16"
    row = result_row(broken, [BATCH], {"samples": 2, "real_tokens": 7}, 1.0, 1.0)
    assert row["error"] == broken.error and row["train_samples_per_s"] is None


def test_recurrent_bound_script_reports_a_bound_per_recurrent_model(newsgroups_home, tmp_path):
    """scripts/recurrent_bound.py (README, Speed) writes one row per recurrent model with every timing it reports.

    How the timings compare is the benchmark's finding, not a test's: on a shared machine any of them can stall.
    """
    output = tmp_path / "bound.json"
    command = [sys.executable, "scripts/recurrent_bound.py", "--quick", "--threads", "1", "--output", str(output)]
    printed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.read_text())
    assert [row["architecture"] for row in report["rows"]] == ["rnn", "lstm", "gru"]
    for row in report["rows"]:
        timings = ("step_seconds", "rest_of_step_seconds", "rest_of_step_without_dropout_seconds")
        fractions = ("of_ceiling", "recurrent_matmul_of_ceiling", "best_possible_of_ceiling",
                     "best_possible_without_dropout_of_ceiling")
        assert all(row[key] > 0 for key in timings + fractions), row
    assert sum(line.startswith(("| rnn", "| lstm", "| gru")) for line in printed.splitlines()) == 3
