"""The same training script from one process to two: `accelerate launch` and `torchrun` on CPU (gloo).

Each launched run trains a tiny GRU on a slice of 20 Newsgroups for one short epoch with two
processes of one thread each, so that they fit the two cores of a small machine; the single-process
run it is compared with is shared by the tests. The accelerate config files for GPUs are only parsed.
"""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from helpers import REPO_ROOT
from hf_seqmodels.compare import CompareArguments, compare
from hf_seqmodels.training import parse_args, train

pytestmark = pytest.mark.slow  # trains models or starts processes: left out of the fast subset

ACCELERATE_CONFIGS = REPO_ROOT / "scripts" / "accelerate"
TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"
GLOBAL_BATCH = 8
# More than 50 per-device batches: transformers' length grouping sorts within groups of 50 batches, so
# grouping by the per-device batch (4) instead of the global one (8) would give other batches.
TRAIN_SAMPLES = 240
STEPS = 12
TEST_SAMPLES = 50  # not a multiple of 2 processes x 8: the last evaluation batch is padded with repeats
# Dropout off: every process would otherwise draw its own masks, and the runs could not agree.
NO_DROPOUT = "embedding_size=16,hidden_size=16,embedding_dropout=0,hidden_dropout=0,classifier_dropout=0"
RUN_ARGS = [
    "--architecture", "gru", "--config_overrides", NO_DROPOUT,
    "--max_train_samples", str(TRAIN_SAMPLES), "--max_eval_samples", "40", "--max_test_samples", str(TEST_SAMPLES),
    "--max_length", "64", "--vocab_size", "1000", "--max_steps", str(STEPS), "--seed", "7",
    "--logging_strategy", "steps", "--logging_steps", "1", "--per_device_eval_batch_size", "8",
    "--save_strategy", "no", "--load_best_model_at_end", "false", "--early_stopping_patience", "0",
    "--report_to", "none", "--disable_tqdm", "true",
]  # fmt: skip
# Losses of float32 runs that see the same batches but reduce in another order: each process averages
# its 4 examples and the gradient all-reduce averages the two means, where one process averages 8;
# each process pads its half-batch to its own longest text; Adam divides by sqrt(v), which magnifies
# the last-bit differences of small gradient components a little at every step. Measured: at most
# 4.8e-7 over the 12 steps (two float32 ulps of a loss near 3). A batch that differs by a single example moves the
# loss by ~1e-3 or more, so 1e-5 tells "same batches, other rounding" from "other batches".
LOSS_TOLERANCE = 1e-5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env() -> dict:
    # One thread per process: two processes share two cores. No GPU, even where there is one.
    return os.environ | {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}


def launch(launcher: list[str], output_dir: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*launcher, str(TRAIN_SCRIPT), *RUN_ARGS, "--output_dir", str(output_dir), *args],
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def accelerate_launch(num_processes: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ACCELERATE_CONFIGS / "cpu_2proc.yaml"),
        "--num_processes", str(num_processes), "--main_process_port", str(free_port()),
    ]  # fmt: skip


def torchrun(num_processes: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", str(num_processes), "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
    ]  # fmt: skip


def step_losses(output_dir: Path) -> list[float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.fixture(scope="module")
def single_process_run(newsgroups_home, tmp_path_factory):
    """The reference: one process, batch 8 (in this process, as `hf-seqmodels train` runs it), on the CPU as the
    launched processes are (worker_env hides any GPU from them)."""
    output_dir = tmp_path_factory.mktemp("single") / "gru"
    batch = ["--per_device_train_batch_size", str(GLOBAL_BATCH), "--use_cpu", "true"]
    train(*parse_args([*RUN_ARGS, "--output_dir", str(output_dir), *batch]))
    return output_dir


def check_two_process_run(output_dir: Path, reference: Path, result: subprocess.CompletedProcess):
    """One model folder, written once, that reloads; the same losses and predictions as one process."""
    # The two processes trained together, 2 x 4 a step: each on its own would be at epoch 0.2.
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    assert state["epoch"] == pytest.approx(STEPS * GLOBAL_BATCH / TRAIN_SAMPLES)
    assert "find_unused_parameters" not in result.stderr

    # Exactly one model folder: no per-process copies, no checkpoints.
    folders = {path.parent for path in output_dir.parent.rglob("config.json")}
    assert folders == {output_dir}
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    logits = model(**tokenizer(["The new graphics card renders twice as fast"], return_tensors="pt")).logits
    assert logits.shape == (1, model.config.num_labels)
    assert (output_dir / "tokenizer.json").read_text() == (reference / "tokenizer.json").read_text()

    # Same global batches, same losses (see LOSS_TOLERANCE).
    losses, expected = step_losses(output_dir), step_losses(reference)
    assert len(losses) == len(expected) == STEPS
    assert max(abs(a - b) for a, b in zip(losses, expected)) <= LOSS_TOLERANCE, (losses, expected)

    # Test predictions gathered from both processes: one row per post, in the split's order, without
    # the repeats that pad the last batch.
    rows = list(csv.DictReader((output_dir / "test_predictions.csv").open()))
    reference_rows = list(csv.DictReader((reference / "test_predictions.csv").open()))
    assert len(rows) == TEST_SAMPLES
    assert [row["label"] for row in rows] == [row["label"] for row in reference_rows]
    assert [row["prediction"] for row in rows] == [row["prediction"] for row in reference_rows]
    summary = json.loads((output_dir / "training_summary.json").read_text())
    assert summary["global_step"] == state["global_step"]
    assert (output_dir / "README.md").read_text().startswith("---\n")


def test_accelerate_launch_two_cpu_processes_match_one(single_process_run, tmp_path):
    output_dir = tmp_path / "gru"
    result = launch(accelerate_launch(), output_dir, "--per_device_train_batch_size", str(GLOBAL_BATCH // 2))
    check_two_process_run(output_dir, single_process_run, result)


def test_torchrun_two_cpu_processes_match_one(single_process_run, tmp_path):
    output_dir = tmp_path / "gru"
    result = launch(torchrun(), output_dir, "--per_device_train_batch_size", str(GLOBAL_BATCH // 2))
    check_two_process_run(output_dir, single_process_run, result)


def test_compare_trains_each_model_across_processes(newsgroups_home, tmp_path, monkeypatch):
    for variable, value in worker_env().items():
        monkeypatch.setenv(variable, value)  # the launched processes inherit them
    output_dir = tmp_path / "compare"
    args = CompareArguments(models="gru", output_dir=str(output_dir), num_processes=2, seed=7)
    extra = [*RUN_ARGS[RUN_ARGS.index("--max_train_samples") :], "--per_device_train_batch_size", "4"]
    results = compare(args, extra)
    (row,) = [row for row in results["rows"] if row["kind"] == "model"]
    summary = json.loads((output_dir / "gru" / "training_summary.json").read_text())
    assert row["test_macro_f1"] == summary["test"]["macro_f1"]
    assert summary["global_step"] == STEPS  # 2 processes x 4 a step


# A masked-LM run under plain `Trainer`, the masks drawn once per post beforehand (each process would otherwise
# draw its own): one process of 8 posts a step and two of 4 must then take the same steps.
MASKED_LM_SCRIPT = """
import json, sys
from pathlib import Path

import torch
from datasets import Dataset
from transformers import DataCollatorForLanguageModeling, DataCollatorForTokenClassification, Trainer, TrainingArguments

import hf_seqmodels
from helpers import TEXTS, tiny_model

output_dir, batch_size = sys.argv[1], int(sys.argv[2])
tokenizer = hf_seqmodels.train_tokenizer(TEXTS, vocab_size=30, model_max_length=12, min_df=1)
masking = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3, seed=0)
masked = [masking([tokenizer(text)]) for text in TEXTS]
columns = ("input_ids", "attention_mask", "labels")
dataset = Dataset.from_dict({name: [batch[name][0].tolist() for batch in masked] for name in columns})
model = tiny_model("gru", "masked_lm", vocab_size=len(tokenizer), embedding_dropout=0.0, hidden_dropout=0.0).train()
args = TrainingArguments(
    output_dir=output_dir, per_device_train_batch_size=batch_size, max_steps=3, optim="sgd", learning_rate=1.0,
    logging_steps=1, save_strategy="no", report_to=[], seed=0, disable_tqdm=True,
    use_cpu=True,  # two CPU processes: gloo
    train_sampling_strategy="sequential",  # the same global batches however many processes share them
)
padding = DataCollatorForTokenClassification(tokenizer)  # pads the labels with -100
trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=padding)
trainer.train()
if trainer.is_world_process_zero():
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
    Path(output_dir, "result.json").write_text(json.dumps({"losses": losses, "weights": weights}))
"""


def test_masked_lm_loss_over_two_processes_matches_one(tmp_path):
    """The masked-LM loss is summed over each process's masked words and divided by the count of both
    (Trainer's `num_items_in_batch`): two processes of 4 posts train as one of 8, although the halves hold
    different numbers of masked words."""
    script = tmp_path / "masked_lm.py"
    script.write_text(MASKED_LM_SCRIPT)
    paths = [str(REPO_ROOT / "tests"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = worker_env() | {"PYTHONPATH": os.pathsep.join(paths)}
    results = {}
    for name, launcher, batch_size in [("one", [sys.executable], 8), ("two", accelerate_launch(), 4)]:
        output_dir = tmp_path / name
        command = [*launcher, str(script), str(output_dir), str(batch_size)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stderr[-3000:]
        results[name] = json.loads((output_dir / "result.json").read_text())
    one, two = results["one"], results["two"]
    assert len(two["losses"]) == len(one["losses"]) == 3
    differences = [abs(a - b) for a, b in zip(two["losses"], one["losses"])]
    assert max(differences) <= LOSS_TOLERANCE, (two["losses"], one["losses"])
    assert max(abs(a - b) for a, b in zip(two["weights"], one["weights"])) <= 1e-5


@pytest.mark.parametrize("name", ["cpu_2proc", "ddp_multi_gpu", "fsdp", "deepspeed_zero2"])
def test_accelerate_config_files_are_valid(name, monkeypatch):
    """Each file goes through what `accelerate launch --config_file` does with it, up to starting processes."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    path = ACCELERATE_CONFIGS / f"{name}.yaml"
    config = load_config_from_file(str(path))  # rejects unknown top-level keys
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(["--config_file", str(path), "x.py"]))
    assert args.num_processes == 2 and args.num_machines == 1
    known_options = set(vars(launch_command_parser().parse_args(["x.py"])))
    for key in [*(config.fsdp_config or {}), *(config.deepspeed_config or {})]:
        assert key in known_options, f"{name}: {key} is not an accelerate launch option"

    if name in ("cpu_2proc", "ddp_multi_gpu"):
        assert config.distributed_type == DistributedType.MULTI_GPU  # the type that starts local processes
        assert config.mixed_precision == ("no" if name == "cpu_2proc" else "bf16")
    elif name == "fsdp":
        # The plugin reads the environment the launcher sets, and checks every value.
        for variable, value in prepare_multi_gpu_env(args).items():
            monkeypatch.setenv(variable, value)
        plugin = FullyShardedDataParallelPlugin()
        assert plugin.fsdp_version == 2 and plugin.auto_wrap_policy is not None
        assert os.environ["ACCELERATE_MIXED_PRECISION"] == "bf16"
    else:
        args.deepspeed_fields_from_accelerate_config = ",".join(config.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        plugin = DeepSpeedPlugin()
        assert plugin.zero_stage == 2 and plugin.gradient_accumulation_steps == 1
        assert os.environ["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_distillation_over_two_processes_matches_one(newsgroups_home, tmp_path):
    """`distill` under `accelerate launch`: the teachers label once (in the main process, sent to the other), and
    2 processes x 4 texts take the steps of 1 x 8, unlabelled and augmented texts mixed in (num_items_in_batch)."""
    distill_args = ["--teacher", "tfidf", "--train_fraction", "0.5", "--augment", "1"]
    runs = {}
    for name, launcher, batch_size in [("one", [sys.executable], 8), ("two", accelerate_launch(), 4)]:
        output_dir = tmp_path / name
        result = subprocess.run(
            [*launcher, str(REPO_ROOT / "scripts" / "distill.py"), *RUN_ARGS, *distill_args,
             "--per_device_train_batch_size", str(batch_size), "--output_dir", str(output_dir)],
            env=worker_env(), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = output_dir
    summaries = {name: json.loads((folder / "training_summary.json").read_text()) for name, folder in runs.items()}
    assert summaries["two"]["distillation"]["transfer_set"] == summaries["one"]["distillation"]["transfer_set"]
    assert summaries["one"]["distillation"]["transfer_set"]["unlabelled"] == TRAIN_SAMPLES // 2
    losses, expected = step_losses(runs["two"]), step_losses(runs["one"])
    assert len(losses) == len(expected) == STEPS
    assert max(abs(a - b) for a, b in zip(losses, expected)) <= LOSS_TOLERANCE, (losses, expected)


# `pretrain --streaming` as a user runs it, each process writing down the examples it trained on: the token ids of
# every step's batch before masking (masked positions hold their target in `labels`), padding left out.
STREAMING_SCRIPT = """
import json, sys
from pathlib import Path

import torch

from hf_seqmodels import cli
from hf_seqmodels.training.streaming import StreamingTrainer

record_dir = Path(sys.argv[1])
real_training_step = StreamingTrainer.training_step


def recording_step(self, model, inputs, *args, **kwargs):
    ids = torch.where(inputs["labels"] != -100, inputs["labels"], inputs["input_ids"])
    rows = [row[mask.bool()].tolist() for row, mask in zip(ids, inputs["attention_mask"])]
    with open(record_dir / f"trained-{self.args.process_index}.jsonl", "a") as f:
        f.write("".join(json.dumps(row) + "\\n" for row in rows))
    return real_training_step(self, model, inputs, *args, **kwargs)


StreamingTrainer.training_step = recording_step
sys.exit(cli.main(["pretrain", *sys.argv[2:]]))
"""
STREAMED_TEXTS = [f"word{index} text{index}" for index in range(44)]  # each text its own two words


@pytest.mark.parametrize("layout", ["one file", "a folder of two files"])
def test_streamed_pretraining_gives_each_process_its_own_texts(layout, tmp_path):
    """Two processes of 2 texts a step for 10 steps read the 40 training texts once between them: each trains on
    texts the other never reads, and none is left out, whether the processes split one file text by text (the
    first 4 texts held out as validation) or take one file each (validation from a file of its own)."""
    from transformers import AutoTokenizer

    if layout == "one file":
        source = tmp_path / "posts.txt"
        source.write_text("".join(text + "\n" for text in STREAMED_TEXTS))
        data = ["--train_file", str(source), "--validation_texts", "4"]
        training, validation = STREAMED_TEXTS[4:], STREAMED_TEXTS[:4]
    else:
        source = tmp_path / "corpus"
        source.mkdir()
        for name, texts in [("train-0", STREAMED_TEXTS[:20]), ("train-1", STREAMED_TEXTS[20:40]), ("validation", STREAMED_TEXTS[40:])]:
            (source / f"{name}.txt").write_text("".join(text + "\n" for text in texts))
        data = ["--dataset_name", str(source)]
        training, validation = STREAMED_TEXTS[:40], STREAMED_TEXTS[40:]
    script = tmp_path / "streaming.py"
    script.write_text(STREAMING_SCRIPT)
    output_dir = tmp_path / "mlm"
    argv = [
        "--architecture", "gru", "--streaming", "--max_steps", "10", "--per_device_train_batch_size", "2",
        "--line_by_line", "true", "--config_overrides", "embedding_size=8,hidden_size=8", "--vocab_size", "200",
        "--min_df", "1", "--max_length", "8", "--save_strategy", "no", "--eval_strategy", "no",
        "--output_dir", str(output_dir), "--report_to", "none", "--disable_tqdm", "true", *data,
    ]  # fmt: skip
    env = worker_env() | {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [*accelerate_launch(), str(script), str(tmp_path), *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]

    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    ids = {text: tokenizer(text, truncation=True)["input_ids"] for text in STREAMED_TEXTS}
    text_of = {tuple(row): text for text, row in ids.items()}
    trained = [
        [text_of[tuple(json.loads(line))] for line in (tmp_path / f"trained-{rank}.jsonl").read_text().splitlines()]
        for rank in (0, 1)
    ]
    assert len(trained[0]) == len(trained[1]) == 20  # 10 steps of 2 in each process
    assert not set(trained[0]) & set(trained[1])
    assert sorted(trained[0] + trained[1]) == sorted(training)  # every training text once, no validation text
    summary = json.loads((output_dir / "pretraining_summary.json").read_text())
    assert summary["global_step"] == 10 and summary["streaming"]["examples_trained"] == 40
    assert summary["streaming"]["validation_texts"] == len(validation)
