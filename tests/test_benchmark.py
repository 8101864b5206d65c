"""The speed benchmark's machinery: FLOP formulas against hand counts and torch's own counter, and a
tiny end-to-end run whose report has every model and every column. No timing is asserted."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import datasets
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
from hf_seqmodels.errors import UsageError

from helpers import VOCAB_SIZE, tiny_classifier

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


def tiny_settings(**overrides) -> benchmark.BenchmarkSettings:
    """A benchmark run of seconds: tiny batches, one pass. One thread keeps it steady on a busy machine (two
    threads stall when another job holds a core)."""
    tiny = dict(batch_size=2, num_batches=1, repeats=1, max_texts=100, matmul_size=128, device="cpu", threads=1)
    return benchmark.BenchmarkSettings(**(tiny | overrides))


@pytest.fixture
def two_torch_threads():
    """Two torch threads, not the one the tests run with (conftest.py) and tiny_settings asks for: a benchmark that
    did not put the thread count back would leave 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


@pytest.mark.slow
def test_tiny_benchmark_run_reports_every_model_and_column(newsgroups_home, tmp_path, two_torch_threads):
    settings = tiny_settings(
        num_batches=2,
        scaling=True,
        scaling_hidden_sizes=(16,),
        scaling_batch_sizes=(1,),
    )
    report = benchmark.run_benchmark(settings, progress=False)
    assert torch.get_num_threads() == two_torch_threads and report["machine"]["torch_threads"] == 1
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_mlm_output_cost_script_times_both_output_layers_of_every_architecture(tmp_path):
    """scripts/mlm_output_cost.py (scripts/README.md, Pretrain) writes one row per architecture with both step
    times; which is faster is the script's finding, not a test's."""
    output = tmp_path / "cost.json"
    command = [sys.executable, "scripts/mlm_output_cost.py", "--quick", "--steps", "1", "--rounds", "1", "--output", str(output)]
    printed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.read_text())
    assert [row["architecture"] for row in report["rows"]] == ["rnn", "lstm", "gru", "transformer"]
    assert report["mlm_vocab_size"] < report["vocab_size"]
    for row in report["rows"]:
        assert row["all_words_seconds"] > 0 and row["common_words_seconds"] > 0
        assert row["speedup"] == pytest.approx(row["all_words_seconds"] / row["common_words_seconds"])
    assert sum(line.startswith(("| RNN", "| LSTM", "| GRU", "| Transformer")) for line in printed.splitlines()) == 4


@pytest.mark.slow
def test_deployment_rows_compare_each_export_with_eager_pytorch(newsgroups_home, tmp_path):
    """`--deploy`: for each architecture, eager PyTorch, ONNX Runtime fp32 and int8, each timed, sized and
    compared with eager; the int8 file is the smaller one. How fast each is is the benchmark's finding."""
    pytest.importorskip("onnxruntime")
    settings = tiny_settings(
        baselines=False,
        unpacked_reference=False,
        deployment=True,
        deployment_posts=3,
        deployment_batch_size=4,
        deployment_vocab_size=2000,  # at least the tokenizer's; the shipped 60000 would only take longer
    )
    report = benchmark.run_benchmark(settings, progress=False)
    printed = benchmark.write_report(report, tmp_path / "speed.json")
    section = json.loads((tmp_path / "speed.json").read_text())["deployment"]

    forms = (benchmark.EAGER, benchmark.ORT_FP32, benchmark.ORT_INT8)
    rows = {(row["architecture"], row["implementation"]): row for row in section["rows"]}
    assert set(rows) == {(a, form) for a in hf_seqmodels.ARCHITECTURES for form in forms}
    assert section["latency_posts"] == 3 and section["batch_size"] == 4
    for (architecture, form), row in rows.items():
        assert len(row["latency_ms_per_post"]) == 3 and len(row["batch_seconds_per_pass"]) == 1
        for key in ("file_bytes", "latency_ms_median", "latency_ms_p95", "batch_posts_per_s", "latency_speedup_vs_eager", "throughput_vs_eager"):
            assert row[key] > 0, (architecture, form, key)
        assert row["latency_ms_p95"] >= row["latency_ms_median"]
        assert row["test_accuracy"] is None  # fresh models: nothing to score
        assert "vocab 2000" in row["model"]
        if form == benchmark.EAGER:
            assert row["latency_speedup_vs_eager"] == row["throughput_vs_eager"] == row["size_vs_eager"] == 1.0
    for architecture in hf_seqmodels.ARCHITECTURES:
        fp32, int8 = rows[architecture, benchmark.ORT_FP32], rows[architecture, benchmark.ORT_INT8]
        assert int8["file_bytes"] < fp32["file_bytes"], architecture
    table = printed.split("\ndeployment: ")[1].splitlines()
    assert sum(line.startswith(tuple(f"| {a} |" for a in hf_seqmodels.ARCHITECTURES)) for line in table) == len(rows)


def test_deploy_option_needs_the_onnx_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    args = build_parser().parse_args(["benchmark", "--quick", "--deploy"])
    with pytest.raises(UsageError, match=r"^--deploy needs `pip install hf_seqmodels\[onnx\]`"):
        benchmark.settings_from_args(args)


def test_model_dirs_must_be_trained_folders(tmp_path):
    pytest.importorskip("onnxruntime")
    args = build_parser().parse_args(["benchmark", "--model_dirs", str(tmp_path)])
    with pytest.raises(UsageError, match="--model_dirs .*: no config.json there"):
        benchmark.settings_from_args(args)


def test_deployment_of_a_trained_folder_reports_test_accuracy_of_each_form(newsgroups_home, tmp_path, monkeypatch):
    """`--model_dirs`: each folder scored on its own data; the fp32 export scores as the PyTorch folder does."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    rows = [(("apples", "bikes")[index % 2], " ".join(words[index % 7 : index % 7 + 1 + index % 3])) for index in range(20)]
    with open(tmp_path / "data.csv", "w", newline="") as f:
        csv.writer(f).writerows([("label", "text"), *rows])
    labels = {0: "apples", 1: "bikes"}
    model = tiny_classifier("lstm", num_labels=2, id2label=labels, label2id={name: index for index, name in labels.items()})
    tokenizer = hf_seqmodels.train_tokenizer([" ".join(words)] * 2, vocab_size=VOCAB_SIZE, min_df=1, model_max_length=32)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "data_args.json").write_text(json.dumps({"train_file": str(tmp_path / "data.csv"), "test_size": 0.5}))

    settings = tiny_settings(
        architectures=("gru",), baselines=False, unpacked_reference=False, deployment=True, deployment_posts=2,
        deployment_batch_size=4, model_dirs=(str(tmp_path / "model"),),
    )
    section = benchmark.run_benchmark(settings, progress=False)["deployment"]
    rows = {row["implementation"]: row for row in section["rows"]}
    assert set(rows) == {benchmark.EAGER, benchmark.ORT_FP32, benchmark.ORT_INT8}
    assert all(row["architecture"] == "lstm" and 0 <= row["test_accuracy"] <= 1 for row in rows.values())
    assert rows[benchmark.ORT_FP32]["test_accuracy"] == pytest.approx(rows[benchmark.EAGER]["test_accuracy"], abs=1e-9)
    assert rows[benchmark.ORT_FP32]["accuracy_points_vs_eager"] == pytest.approx(0, abs=1e-7)
    assert not list((tmp_path / "model").glob("eval_*"))  # the user's folder is not written to


# Not pytest.importorskip: importing keras before KERAS_BACKEND=torch is set picks TensorFlow.
requires_keras = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="the [bench] extra (keras) is not installed")


@requires_keras
@pytest.mark.parametrize("architecture", list(hf_seqmodels.ARCHITECTURES))
def test_keras_peers_ignore_padding_as_ours_do(architecture):
    """The Keras peer masks its padding (mask_zero, masked mean and max): a padded row scores as the row alone."""
    from hf_seqmodels.benchmark.contenders import default_config
    from hf_seqmodels.benchmark.keras_peers import build_keras_classifier

    model = build_keras_classifier(architecture, default_config(architecture, 10, hidden_size=8, intermediate_size=16), seed=0).eval()
    with torch.inference_mode():
        alone = model(BATCH["input_ids"][1:, :2]).logits
        batched = model(**BATCH).logits[1:]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@requires_keras
def test_keras_rows_stand_beside_ours_with_ratios(newsgroups_home, tmp_path):
    """`--keras`: one Keras 3 row per architecture, timed in the same run; ours report their ratio to it."""
    settings = tiny_settings(baselines=False, unpacked_reference=False, keras=True)
    report = benchmark.run_benchmark(settings, progress=False)
    printed = benchmark.write_report(report, tmp_path / "speed.json")
    rows = {(row["architecture"], row["implementation"]): row for row in json.loads((tmp_path / "speed.json").read_text())["results"]}
    assert set(rows) == {(a, i) for a in hf_seqmodels.ARCHITECTURES for i in (benchmark.OURS, benchmark.KERAS)}
    for architecture in hf_seqmodels.ARCHITECTURES:
        keras_row, ours = rows[architecture, benchmark.KERAS], rows[architecture, benchmark.OURS]
        assert keras_row["error"] is None and keras_row["train_samples_per_s"] > 0 and keras_row["infer_samples_per_s"] > 0
        assert keras_row["train_vs_keras"] == keras_row["infer_vs_keras"] == 1.0
        assert ours["train_vs_keras"] > 0 and ours["infer_vs_keras"] > 0
    assert "| train vs Keras | infer vs Keras |" in printed


def test_keras_option_needs_the_bench_extra(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)  # as if keras were not installed
    args = build_parser().parse_args(["benchmark", "--quick", "--keras"])
    with pytest.raises(UsageError, match=r"^--keras needs `pip install hf_seqmodels\[bench\]`"):
        benchmark.settings_from_args(args)
