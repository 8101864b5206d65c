#!/usr/bin/env python
"""What the masked-LM output layer costs: one pretraining step (forward + backward + AdamW) of each ready
architecture, scoring all 60,000 words against only the 10,000 most common (`mlm_vocab_size`, what the
`*-mlm.json` configs set), measured side by side in one process and alternated, so that both see the same
machine.

    python scripts/mlm_output_cost.py                       # writes mlm_output_cost.json
    python scripts/mlm_output_cost.py --steps 3 --quick     # a smoke check

Batches are 32 posts of 256 tokens with 15 % of the positions to predict, as the `*-mlm.json` configs train.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels import ARCHITECTURES  # noqa: E402
from hf_seqmodels.machine import describe  # noqa: E402


def step_seconds(model, input_ids, labels, steps: int) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels: not counted
        started = time.perf_counter()
        # As `pretrain` runs a step: the output layer at the masked positions only.
        loss = model(input_ids, labels=labels, target_logits_only=True).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each timing every setting once")
    parser.add_argument("--quick", action="store_true", help="a small vocabulary and batch (smoke check)")
    parser.add_argument("--output", default="mlm_output_cost.json")
    args = parser.parse_args()
    vocab_size, scored, batch, length = (2000, 500, 4, 32) if args.quick else (60000, 10000, 32, 256)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(3, vocab_size, (batch, length), generator=generator)
    labels = torch.where(torch.rand(batch, length, generator=generator) < 0.15, input_ids, -100)
    rows = []
    for name, entry in ARCHITECTURES.items():
        models = {}
        for setting in (None, scored):
            torch.manual_seed(0)
            models[setting] = entry.masked_lm_class(entry.config_class(vocab_size=vocab_size, mlm_vocab_size=setting)).train()
        times = {setting: [] for setting in models}
        for _ in range(args.rounds):
            for setting, model in models.items():
                times[setting] += step_seconds(model, input_ids, labels, args.steps)
        every, common = statistics.median(times[None]), statistics.median(times[scored])
        rows.append({"architecture": name, "all_words_seconds": every, "common_words_seconds": common, "speedup": every / common})
    print(f"| architecture | step, all {vocab_size:,} words (s) | step, {scored:,} most common (s) | speed-up |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {ARCHITECTURES[row['architecture']].title} | {row['all_words_seconds']:.3f} "
            f"| {row['common_words_seconds']:.3f} | {row['speedup']:.2f}× |"
        )
    result = {"machine": describe(), "vocab_size": vocab_size,
              "mlm_vocab_size": scored, "batch": [batch, length], "steps": args.steps, "rounds": args.rounds, "rows": rows}  # fmt: skip
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
