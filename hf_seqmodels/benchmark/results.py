"""What the timings become in the report: one row per contender, with its ratios to the baselines.

Each number is the median over the repeats of one pass over all batches; ratios are taken between
these medians.
"""

import torch

from .contenders import BERT, KERAS, TEXTBOOK, Contender
from .timing import median_seconds

# What a row holds only when its model ran.
MEASURED_COLUMNS = (
    "train_samples_per_s",
    "train_tokens_per_s",
    "infer_samples_per_s",
    "infer_tokens_per_s",
    "train_gflop_per_pass",
    "train_gflops",
    "fraction_of_matmul_ceiling",
    "fraction_of_matmul_ceiling_cpu_time",
    "train_cpu_utilisation",
    "train_seconds_per_pass",
    "infer_seconds_per_pass",
)


def result_row(contender: Contender, batches: list[dict], description: dict, ceiling: float, cpu_ceiling: float) -> dict:
    row = {
        "architecture": contender.architecture,
        "implementation": contender.implementation,
        "model": contender.description,
        "compiled": contender.compiled,
        "compile_error": contender.compile_error,
        "error": contender.error,
        "parameters": sum(p.numel() for p in contender.model.parameters()),
    }
    if contender.error is not None:
        return row | dict.fromkeys(MEASURED_COLUMNS)
    train, train_cpu = median_seconds(contender.train_times)
    infer, _ = median_seconds(contender.infer_times)
    gflop = sum(contender.training_flops(batch) for batch in batches) / 1e9
    samples, tokens = description["samples"], description["real_tokens"]
    return row | {
        "train_samples_per_s": samples / train,
        "train_tokens_per_s": tokens / train,
        "infer_samples_per_s": samples / infer,
        "infer_tokens_per_s": tokens / infer,
        "train_gflop_per_pass": gflop,
        "train_gflops": gflop / train,
        "fraction_of_matmul_ceiling": gflop / train / ceiling,
        # The same fraction in GFLOP per CPU second, for the model and the matmul alike: it hardly
        # moves when other work takes turns on the cores, which wall-clock rates do.
        "fraction_of_matmul_ceiling_cpu_time": gflop / train_cpu / cpu_ceiling,
        # CPU time of the process over wall time and threads: near 1 when the threads had the cores to
        # themselves; low when other work shared them (or when a GPU did the work).
        "train_cpu_utilisation": train_cpu / (train * torch.get_num_threads()),
        "train_seconds_per_pass": [wall for wall, _ in contender.train_times],
        "infer_seconds_per_pass": [wall for wall, _ in contender.infer_times],
    }


def add_ratios(rows: list[dict]) -> None:
    """Throughput of every row over the textbook model's, BERT's and Keras's of its architecture (None where absent)."""
    for row in rows:
        for reference_name, key in ((TEXTBOOK, "vs_textbook"), (BERT, "vs_bert"), (KERAS, "vs_keras")):
            reference = next(
                (r for r in rows if r["architecture"] == row["architecture"] and r["implementation"] == reference_name),
                None,
            )
            for phase in ("train", "infer"):
                ours, theirs = row[f"{phase}_samples_per_s"], reference and reference[f"{phase}_samples_per_s"]
                row[f"{phase}_{key}"] = ours / theirs if ours and theirs else None
