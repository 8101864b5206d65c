#!/usr/bin/env python
"""How close to the matmul ceiling a recurrent classifier can get on this machine, whatever its kernel.

    SCIKIT_LEARN_DATA=../shared/data/scikit_learn_data python scripts/recurrent_bound.py --threads 2

On the benchmark's batches (same posts, same 8 x 64 batches, same FLOP count as scripts/benchmark.py)
it times, for RNN, LSTM and GRU at their default size:

- a training step of the model as it is;
- the same step with every recurrent layer replaced by a copy of its input (no arithmetic): the
  embeddings, dropout, pooling, classifier, loss and AdamW step that any implementation must still do;
  and that again without dropout, in case a faster dropout were found;
- the recurrence's own matrix product in a tight loop, nothing else (B x H times H x gH, one step):
  what the sequential part could reach if its gates and bookkeeping cost nothing.

From these, the best fraction of the ceiling any recurrent kernel could reach: the input projections
(g*H*I multiply-adds per step) at the full ceiling, the recurrent products (g*H*H) at the tight-loop
rate, no element-wise work at all, plus the measured rest of the step (with and without dropout). It
prints a table and writes JSON.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hf_seqmodels import machine  # noqa: E402
from hf_seqmodels.benchmark.batches import length_grouped_batches, tokenized_posts  # noqa: E402
from hf_seqmodels.benchmark.contenders import default_config, describe_size, make_ready, our_contender  # noqa: E402
from hf_seqmodels.benchmark.flops import GATES  # noqa: E402
from hf_seqmodels.benchmark.settings import BenchmarkSettings  # noqa: E402
from hf_seqmodels.benchmark.timing import measure_matmul_gflops, train_pass  # noqa: E402


class CopyInput(nn.Module):
    """Stands in for a recurrent layer: its input, cut or zero-padded to the layer's output width."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width

    def forward(self, inputs, lengths):
        return nn.functional.pad(inputs, (0, max(0, self.width - inputs.shape[-1])))[..., : self.width]


def median_train_seconds(contender, batches, repeats: int) -> float:
    train_pass(contender, batches, torch.device("cpu"), "none")  # warm-up
    return statistics.median(train_pass(contender, batches, torch.device("cpu"), "none")[0] for _ in range(repeats))


def recurrent_matmul_fraction(config, rows: int, ceiling: float, steps: int = 2000) -> float:
    """GFLOP/s of the per-step product h (rows x H) @ W_hh^T (H x gH) in a tight loop, over the ceiling."""
    hidden, gates = config.hidden_size, GATES[config.cell]
    state, weight = torch.randn(rows, hidden), torch.randn(hidden, gates * hidden)
    out = torch.empty(rows, gates * hidden)
    for _ in range(100):
        torch.mm(state, weight, out=out)
    start = time.perf_counter()
    for _ in range(steps):
        torch.mm(state, weight, out=out)
    return 2 * rows * hidden * gates * hidden * steps / (time.perf_counter() - start) / 1e9 / ceiling


def bound_row(architecture: str, posts, batches, ceiling: float, repeats: int) -> dict:
    config = default_config(architecture, posts.vocab_size)
    contender = make_ready(our_contender(architecture, config), torch.device("cpu"))
    flops = sum(contender.training_flops(batch) for batch in batches)
    step = median_train_seconds(contender, batches, repeats)

    layers = contender.model.model.layers
    directions = 2 if config.bidirectional else 1
    contender.model.model.layers = nn.ModuleList(CopyInput(directions * config.hidden_size) for _ in layers)
    rest = median_train_seconds(contender, batches, repeats)
    for name, module in list(contender.model.named_modules()):  # and with dropout costing nothing too
        if isinstance(module, nn.Dropout):
            contender.model.set_submodule(name, nn.Identity())
    rest_without_dropout = median_train_seconds(contender, batches, repeats)

    # Split the counted FLOPs into input projections (g*H*I) and recurrent products (g*H*H), layer by layer.
    inputs = [config.embedding_size] + [directions * config.hidden_size] * (config.num_hidden_layers - 1)
    recurrent_share = sum(config.hidden_size for _ in inputs) / sum(size + config.hidden_size for size in inputs)
    matmul_fraction = recurrent_matmul_fraction(config, len(batches[0]["labels"]), ceiling)
    best_layer_seconds = flops / 1e9 * ((1 - recurrent_share) + recurrent_share / matmul_fraction) / ceiling
    return {
        "architecture": architecture,
        "size": describe_size(config),
        "train_gflop": flops / 1e9,
        "step_seconds": step,
        "of_ceiling": flops / 1e9 / step / ceiling,
        "rest_of_step_seconds": rest,
        "recurrent_matmul_of_ceiling": matmul_fraction,
        "best_possible_of_ceiling": flops / 1e9 / (rest + best_layer_seconds) / ceiling,
        "rest_of_step_without_dropout_seconds": rest_without_dropout,
        "best_possible_without_dropout_of_ceiling": flops / 1e9 / (rest_without_dropout + best_layer_seconds) / ceiling,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per idle core)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 batches of 16 from 2,000 posts, 1 repeat: a smoke check")
    parser.add_argument("--output", default="recurrent_bound.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or machine.idle_core_threads())
    torch.manual_seed(0)
    quick = {"batch_size": 16, "num_batches": 2, "max_texts": 2000, "matmul_size": 512} if args.quick else {}
    settings = BenchmarkSettings(**quick)
    repeats = 1 if args.quick else args.repeats
    posts = tokenized_posts(settings.vocab_size, max_length=512, max_texts=settings.max_texts)
    batches, description = length_grouped_batches(posts, settings.batch_size, settings.num_batches, 0, torch.device("cpu"))
    ceiling, _ = measure_matmul_gflops(torch.device("cpu"), settings.matmul_size)
    rows = [bound_row(architecture, posts, batches, ceiling, repeats) for architecture in ("rnn", "lstm", "gru")]

    print(f"fp32 matmul ceiling {ceiling:.0f} GFLOP/s, {torch.get_num_threads()} threads, {machine.processor_name()}")
    print(
        "| model | train GFLOP (8 batches) | step s | of ceiling | rest of step s (without dropout) "
        "| recurrent matmul alone, of ceiling | best possible, of ceiling (without dropout) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['architecture']} ({row['size']}) | {row['train_gflop']:.1f} | {row['step_seconds']:.3f} | {row['of_ceiling']:.2f} "
            f"| {row['rest_of_step_seconds']:.3f} ({row['rest_of_step_without_dropout_seconds']:.3f}) "
            f"| {row['recurrent_matmul_of_ceiling']:.2f} "
            f"| {row['best_possible_of_ceiling']:.2f} ({row['best_possible_without_dropout_of_ceiling']:.2f}) |"
        )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine.processor_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "matmul_ceiling_gflops": ceiling,
        "batches": description,
        "rows": rows,
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
