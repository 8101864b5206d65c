"""Speed benchmark: the four architectures against what a user would otherwise write, side by side.

For each architecture at its default size, on batches of real 20 Newsgroups posts, one process run
measures:

- training throughput: one step is forward + backward + AdamW step; samples/s and tokens/s, where
  tokens are real tokens (padding is computed but not counted);
- inference throughput: eval mode under `torch.inference_mode`;
- achieved FLOP/s of the training step, as a fraction of this machine's measured fp32 matmul ceiling;

and the same for the baselines of the same size (`baselines.py`): the textbook PyTorch model, and for
the Transformer transformers' BERT; for reference (full run only), the recurrent PyTorch modules run
unpacked. With `keras` (`--keras`, the `[bench]` extra), the Keras 3 layers of the same sizes, on Keras's
torch backend (`keras_peers.py`).

With `deployment` (`--deploy`, or `--model_dirs` for trained folders), `deployment.py` also times each
model as shipped: eager PyTorch beside its ONNX Runtime exports, fp32 and int8, at batch 1 (latency on
posts of median length) and at batch 64 (throughput), with file sizes and, for trained folders, test
accuracy.

Read in this order: `batches.py` (how the batches are made), `flops.py` (how FLOPs are counted),
`baselines.py` and `contenders.py` (what is timed), `timing.py` and `run.py` (how it is timed),
`deployment.py` (the exported forms), `results.py` and `report.py` (what the report says), `command.py` (`hf-seqmodels benchmark`).
"""

import argparse

from .command import add_arguments, run_from_args, settings_from_args
from .contenders import BERT, KERAS, OURS, TEXTBOOK, UNPACKED
from .deployment import EAGER, ORT_FP32, ORT_INT8
from .report import markdown_table, write_report
from .run import run_benchmark
from .settings import BenchmarkSettings


def main(argv: list[str] | None = None) -> int:
    """`hf-seqmodels benchmark` on its own: the same options, this docstring's first line as description."""
    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


__all__ = [
    "BERT",
    "EAGER",
    "KERAS",
    "ORT_FP32",
    "ORT_INT8",
    "OURS",
    "TEXTBOOK",
    "UNPACKED",
    "BenchmarkSettings",
    "add_arguments",
    "main",
    "markdown_table",
    "run_benchmark",
    "run_from_args",
    "settings_from_args",
    "write_report",
]
