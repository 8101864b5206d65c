"""One benchmark run, from the matmul ceiling to the report.

How the timing is done. All contenders of one architecture are built and warmed up, then timed in
turns, repeat by repeat (ours, textbook, BERT, ours, ...), so that a machine that gets busier or
quieter during the run shifts them alike. The matmul ceiling is measured at the start and at the end,
and the higher of the two is taken, so that the fraction of the ceiling errs low rather than high.
"""

import os
import platform
import time
import warnings
from dataclasses import asdict
from datetime import datetime, timezone

import torch
import transformers
from tqdm.auto import tqdm

from .. import machine
from .batches import Posts, length_grouped_batches, tokenized_posts
from .contenders import Contender, build_contenders, default_config, make_ready, our_contender
from .deployment import deployment_section
from .results import add_ratios, result_row
from .settings import BenchmarkSettings
from .timing import infer_pass, measure_matmul_gflops, median_seconds, resolve_device, train_pass, warm_up


def run_benchmark(settings: BenchmarkSettings, progress: bool = True) -> dict:
    """Run the benchmark; returns the report (what `--output` writes as JSON)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads or machine.idle_core_threads())
    try:
        return measure_everything(settings, progress)
    finally:
        torch.set_num_threads(threads)


def measure_everything(settings: BenchmarkSettings, progress: bool) -> dict:
    device = resolve_device(settings.device)
    if settings.amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device, got device={str(device)!r}; use amp='bf16' or 'none'.")
    started = time.time()
    load_at_start = machine.load_average()
    ceiling_start = measure_matmul_gflops(device, settings.matmul_size)

    # The Transformer's position table sets the longest input; every model sees the same batches.
    max_length = default_config("transformer", settings.vocab_size).max_position_embeddings
    posts = tokenized_posts(settings.vocab_size, max_length, settings.max_texts)
    batches, batch_description = length_grouped_batches(posts, settings.batch_size, settings.num_batches, settings.seed, device)

    measured = []
    with warnings.catch_warnings():
        # nn.TransformerEncoder's inference fast path announces its nested tensors on every call.
        warnings.filterwarnings("ignore", message=".*nested tensors is in prototype stage.*")
        for architecture in settings.architectures:
            contenders = build_contenders(architecture, posts.vocab_size, settings, device)
            time_in_turns(contenders, batches, settings, device, progress=progress)
            measured.extend(contenders)

    scaling = run_scaling(settings, posts, device, progress) if settings.scaling else None
    deployment = deployment_section(settings, posts, progress) if settings.deployment else None
    ceiling_end = measure_matmul_gflops(device, settings.matmul_size)
    ceiling = max(ceiling_start[0], ceiling_end[0])
    cpu_ceiling = max(ceiling_start[1], ceiling_end[1])
    rows = [result_row(contender, batches, batch_description, ceiling, cpu_ceiling) for contender in measured]
    add_ratios(rows)
    if scaling is not None:
        for point in scaling:
            point["fraction_of_matmul_ceiling"] = point["train_gflops"] / ceiling
            point["fraction_of_matmul_ceiling_cpu_time"] = point.pop("train_gflop_per_cpu_second") / cpu_ceiling
    return {
        "date": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "machine": machine_section(device, load_at_start),
        "settings": asdict(settings),
        "matmul_gflops": {
            "size": settings.matmul_size,
            "at_start": ceiling_start[0],
            "at_end": ceiling_end[0],
            "ceiling": ceiling,
            "per_cpu_second_at_start": ceiling_start[1],
            "per_cpu_second_at_end": ceiling_end[1],
            "ceiling_per_cpu_second": cpu_ceiling,
        },
        "batches": batch_description,
        "results": rows,
        "scaling": scaling,
        "deployment": deployment,
    }


def time_in_turns(contenders: list[Contender], batches: list[dict], settings: BenchmarkSettings, device, progress: bool) -> None:
    """Warm every contender up, then time a training pass and an inference pass of each, in turns, repeat
    by repeat: a machine that gets busier slows all of them alike. A contender that failed is skipped."""
    architecture = contenders[0].architecture
    bar = tqdm(total=2 * settings.repeats * len(contenders), desc=f"benchmark {architecture}", disable=not progress)
    for contender in contenders:
        warm_up(contender, batches, device, settings.amp)
    for run_pass, times in ((train_pass, "train_times"), (infer_pass, "infer_times")):
        for _ in range(settings.repeats):
            for contender in contenders:
                if contender.error is None:
                    getattr(contender, times).append(run_pass(contender, batches, device, settings.amp))
                bar.update()
    bar.close()


def machine_section(device, load_at_start: list[float] | None) -> dict:
    """The machine as the report describes it: the processor, the threads and what else ran on it."""
    return {
        "cpu": machine.processor_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": machine.load_average(),
    }


def run_scaling(settings: BenchmarkSettings, posts: Posts, device, progress: bool = True) -> list[dict]:
    """Achieved training GFLOP/s of our models as the hidden size and the batch size grow.

    One batch at the median padded length per point, median of `settings.repeats` steps after one
    warm-up step; hidden sizes at the default batch size, batch sizes at the default hidden size.
    The Transformer keeps 4 heads and a feed-forward layer twice the hidden size, as by default.
    """
    points = [(hidden, settings.batch_size) for hidden in settings.scaling_hidden_sizes]
    points += [(None, size) for size in settings.scaling_batch_sizes if size != settings.batch_size]
    jobs = [(architecture, hidden, batch_size) for architecture in settings.architectures for hidden, batch_size in points]
    results = []
    for architecture, hidden, batch_size in tqdm(jobs, desc="scaling", disable=not progress):
        overrides = {} if hidden is None else {"hidden_size": hidden}
        if hidden is not None and architecture == "transformer":
            overrides["intermediate_size"] = 2 * hidden
        config = default_config(architecture, posts.vocab_size, **overrides)
        batches, _ = length_grouped_batches(posts, batch_size, 1, settings.seed, device)
        torch.manual_seed(settings.seed)
        contender = make_ready(our_contender(architecture, config), device)
        train_pass(contender, batches, device, settings.amp)
        wall, cpu = median_seconds([train_pass(contender, batches, device, settings.amp) for _ in range(settings.repeats)])
        gflop = contender.training_flops(batches[0]) / 1e9
        results.append(
            {
                "architecture": architecture,
                "hidden_size": config.hidden_size,
                "batch_size": batch_size,
                "length": int(batches[0]["input_ids"].shape[1]),
                "train_gflops": gflop / wall,
                "train_gflop_per_cpu_second": gflop / cpu,
            }
        )
    return results
