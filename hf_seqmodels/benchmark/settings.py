"""What one benchmark run measures: the full run by default, `BenchmarkSettings.quick()` for a short one."""

from dataclasses import dataclass

from ..models import ARCHITECTURES


@dataclass
class BenchmarkSettings:
    """What to run. The defaults are the full run; `quick()` gives the two-minute version."""

    architectures: tuple = tuple(ARCHITECTURES)
    batch_size: int = 64
    num_batches: int = 8
    repeats: int = 5
    baselines: bool = True
    unpacked_reference: bool = True
    keras: bool = False  # also the Keras 3 peers (`keras_peers.py`; the `[bench]` extra)
    scaling: bool = False  # also time our models at these sizes (how the fraction of the ceiling grows)
    scaling_hidden_sizes: tuple = (64, 128, 256, 512)
    scaling_batch_sizes: tuple = (16, 32, 64, 128)
    compile: bool = False
    device: str = "auto"
    amp: str = "none"  # "none", "bf16" or "fp16" (fp16 on CUDA only)
    threads: int | None = None  # None: one per idle core (see `machine.idle_core_threads`)
    vocab_size: int = 30000
    max_texts: int | None = None  # tokenize only this many training posts for the length distribution
    seed: int = 0
    matmul_size: int = 2048
    # Deployment rows (`deployment.py`): eager PyTorch against ONNX Runtime fp32 and int8 of each model.
    deployment: bool = False
    deployment_posts: int = 50  # posts of median length timed one at a time
    deployment_batch_size: int = 64
    deployment_vocab_size: int | None = None  # None: the architecture's default (the shipped size)
    model_dirs: tuple = ()  # trained folders to deploy instead of fresh models; adds their test accuracy

    @classmethod
    def quick(cls, **overrides):
        quick = {"batch_size": 32, "num_batches": 2, "repeats": 3, "unpacked_reference": False, "max_texts": 4000, "deployment_posts": 20}
        return cls(**(quick | overrides))
