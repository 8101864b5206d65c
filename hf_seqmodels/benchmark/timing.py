"""Timing: the matmul ceiling, one training or inference pass over the batches, and the warm-up.

Every measurement is (wall seconds, process CPU seconds): CPU time / (wall time x threads) well below
1 means other work shared the cores.
"""

import statistics
import time
from collections.abc import Callable

import torch

from ..utils import first_line
from .contenders import Contender


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device, work: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of `work()`, up to the moment the device has finished it too."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def median_seconds(times: list[tuple[float, float]]) -> tuple[float, float]:
    """(median wall, median CPU) seconds of several `timed` measurements."""
    walls, cpus = zip(*times)
    return statistics.median(walls), statistics.median(cpus)


def measure_matmul_gflops(device, size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """The fp32 matmul ceiling of a square matrix product (2 * n^3 FLOPs), median of `repeats`:
    (GFLOP per wall second, GFLOP per process CPU second)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    for _ in range(3):
        a @ b
    wall, cpu = median_seconds([timed(device, lambda: a @ b) for _ in range(repeats)])
    flop = 2 * size**3 / 1e9
    return flop / wall, flop / max(cpu, 1e-9)


def autocast(device, amp: str):
    if amp == "none":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[amp])


def train_pass(contender: Contender, batches: list[dict], device, amp: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one training step on every batch: forward, backward, optimizer step."""

    def steps():
        for batch in batches:
            contender.optimizer.zero_grad(set_to_none=True)
            with autocast(device, amp):
                loss = contender.runner(**batch).loss
            loss.backward()
            contender.optimizer.step()

    contender.model.train()
    return timed(device, steps)


def infer_pass(contender: Contender, batches: list[dict], device, amp: str) -> tuple[float, float]:
    """(wall, CPU) seconds of predicting every batch in eval mode."""

    def predict():
        with torch.inference_mode(), autocast(device, amp):
            for batch in batches:
                contender.runner(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    contender.model.eval()
    return timed(device, predict)


def error_headline(error: Exception) -> str:
    """The error's type and the first line of its message: what the report's table has room for."""
    return f"{type(error).__name__}: {first_line(error)}"


def warm_up(contender: Contender, batches: list[dict], device, amp: str) -> None:
    """One step of each kind initialises the optimizer state and the allocator; a compiled model needs
    every batch shape once. A model that fails is reported, not timed: a compiled one falls back to
    eager, any other gets `error` set (e.g. nn.TransformerEncoder's inference fast path under CPU bf16
    autocast)."""
    shortest = min(batches, key=lambda batch: batch["input_ids"].shape[1])
    warm_up_batches = batches if contender.compiled else [shortest]
    try:
        train_pass(contender, warm_up_batches, device, amp)
        infer_pass(contender, warm_up_batches, device, amp)
    except Exception as error:  # noqa: BLE001 - whatever went wrong is reported in the table
        if not contender.compiled:
            contender.error = error_headline(error)
            return
        contender.compile_error = error_headline(error)
        contender.runner, contender.compiled = contender.model, False
        warm_up(contender, batches, device, amp)
