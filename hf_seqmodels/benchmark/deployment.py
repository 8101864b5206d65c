"""Deployment rows: each model as a user would ship it, eager PyTorch beside ONNX Runtime fp32 and int8.

For each architecture (a fresh model at its default size, or a trained folder given in `model_dirs`)
the saved folder is exported twice with `hf_seqmodels.serving.export.export` (fp32; int8 dynamic quantization)
into a temporary folder, and the three forms are timed on the same inputs with the same threads:

- latency: one post at a time (batch 1), the `deployment_posts` posts nearest the median length;
  ms per post, median and 95th percentile over every post and repeat;
- throughput: batches of `deployment_batch_size` posts (the length-grouped rows the benchmark's own
  batches are cut from), posts/s of the median pass over all of them;
- the size of the weights file (model.safetensors; model.onnx).

The forms take turns post by post and pass by pass, as `run.time_in_turns` times the contenders, so
that a machine that gets busier slows them alike. Texts are tokenized (by each folder's own tokenizer)
before any timing, for every form alike: what is timed is the model. Eager PyTorch runs in eval mode
under `torch.inference_mode`; ONNX Runtime's session gets as many intra-op threads as torch has.
Both run on the CPU, whatever the benchmark's `device`: ONNX Runtime is installed here with its CPU
execution provider only.

With `model_dirs`, the test accuracy of the PyTorch folder and of both exports
(`training.evaluate_folder`, on the data each folder was trained on) stands beside the timings.
"""

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UsageError
from ..models import ARCHITECTURES
from ..serving.loading import load_classifier
from ..training import DataArguments, evaluate_folder, parse_arguments
from .batches import Posts, length_grouped_rows, median_length_rows
from .contenders import default_config, describe_size
from .settings import BenchmarkSettings

# The implementations, as the deployment table's `implementation` column names them.
EAGER = "PyTorch eager"
ORT_FP32 = "ONNX Runtime fp32"
ORT_INT8 = "ONNX Runtime int8"
INPUT_NAMES = ("input_ids", "attention_mask")


def check_onnx_installed(option: str = "--deploy") -> None:
    """One line naming the extra, before any minute of benchmarking is spent."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise UsageError(f"{option} needs `pip install hf_seqmodels[onnx]` ({error})") from None


@dataclass
class DeployedForm:
    """One form of one model, its inputs prepared, and what its timing found."""

    architecture: str
    implementation: str
    file_bytes: int
    run: Callable[[dict], object]
    posts: list  # one input per latency post, as `run` takes it
    batches: list
    latencies: list = field(default_factory=list)  # seconds, one per post and repeat
    pass_seconds: list = field(default_factory=list)  # seconds of one pass over all batches


def deployment_section(settings: BenchmarkSettings, posts: Posts, progress: bool = True) -> dict:
    """The report's `deployment` section: how the rows were measured, and the rows."""
    import onnxruntime  # an optional extra, checked by `check_onnx_installed`

    latency_rows = median_length_rows(posts, settings.deployment_posts)
    batch_rows, _ = length_grouped_rows(posts, settings.deployment_batch_size, settings.num_batches, settings.seed)
    latency_texts = [posts.texts[index] for index in latency_rows]
    batch_texts = [[posts.texts[index] for index in rows] for rows in batch_rows]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hf-seqmodels-deployment-") as scratch:
        folders = list(model_folders(settings, posts, Path(scratch)))
        for index, (architecture, model_dir) in enumerate(tqdm(folders, desc="deployment", disable=not progress)):
            work = Path(scratch, f"{index}-{architecture}-exports")
            rows += measure_folder(architecture, model_dir, work, latency_texts, batch_texts, settings)
    add_ratios_to_eager(rows)
    return {
        "source": "trained folders: " + ", ".join(settings.model_dirs) if settings.model_dirs else "fresh models at default size",
        "latency_posts": len(latency_texts),
        "latency_post_lengths": sorted(posts.lengths[index] for index in latency_rows),
        "batch_size": settings.deployment_batch_size,
        "num_batches": len(batch_texts),
        "batch_lengths": [max(posts.lengths[index] for index in rows) for rows in batch_rows],
        "lengths_note": "in the benchmark tokenizer's tokens; a trained folder's own tokenizer may differ",
        "repeats": settings.repeats,
        "threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        "rows": rows,
    }


def model_folders(settings: BenchmarkSettings, posts: Posts, scratch: Path):
    """(architecture, saved folder) to deploy: the trained folders given, or fresh models saved to `scratch`."""
    for model_dir in settings.model_dirs:
        yield architecture_of(model_dir), model_dir
    if settings.model_dirs:
        return
    for architecture in settings.architectures:
        # The shipped vocabulary size sets the embedding table, most of every file; the benchmark's
        # tokenizer (fewer ids) reads the posts.
        vocab_size = max(settings.deployment_vocab_size or ARCHITECTURES[architecture].config_class().vocab_size, posts.vocab_size)
        torch.manual_seed(settings.seed)
        model = ARCHITECTURES[architecture].classifier_class(default_config(architecture, vocab_size))
        folder = scratch / architecture
        model.save_pretrained(folder)
        posts.tokenizer.save_pretrained(folder)
        yield architecture, str(folder)


def architecture_of(model_dir: str) -> str:
    path = Path(model_dir, "config.json")
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as error:
        raise UsageError(f"--model_dirs {model_dir!r}: no readable config.json ({error})") from None
    for name, architecture in ARCHITECTURES.items():
        if architecture.config_class.model_type == model_type:
            return name
    known = [architecture.config_class.model_type for architecture in ARCHITECTURES.values()]
    raise UsageError(f"--model_dirs {model_dir!r}: model_type {model_type!r} is none of {known}")


def measure_folder(architecture, model_dir, work: Path, latency_texts, batch_texts, settings) -> list[dict]:
    """Export `model_dir`, time its three forms in turns; with `settings.model_dirs`, score all three."""
    from ..serving.export import export  # onnx and onnxruntime are an optional extra
    from ..serving.onnx_inference import ONNX_FILE, ExportedClassifier

    exports = {ORT_FP32: export(model_dir, work / "fp32"), ORT_INT8: export(model_dir, work / "int8", quantize="int8")}
    tokenizer, model = load_classifier(model_dir)
    tokenizer.padding_side = "right"  # model.onnx was traced on right-padded batches

    def encode(texts):
        encoded = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
        return {name: encoded[name] for name in INPUT_NAMES}

    posts = [encode([text]) for text in latency_texts]
    batches = [encode(texts) for texts in batch_texts]
    weights = sum(path.stat().st_size for path in Path(model_dir).glob("*.safetensors"))
    forms = [DeployedForm(architecture, EAGER, weights, lambda inputs: model(**inputs).logits, posts, batches)]
    for implementation, folder in exports.items():
        session = ExportedClassifier(folder, threads=torch.get_num_threads()).session
        forms.append(
            DeployedForm(
                architecture,
                implementation,
                (folder / ONNX_FILE).stat().st_size,
                lambda inputs, session=session: session.run(["logits"], inputs),
                [as_numpy(inputs) for inputs in posts],
                [as_numpy(inputs) for inputs in batches],
            )
        )
    time_forms_in_turns(forms, settings.repeats)
    samples = sum(len(texts) for texts in batch_texts)
    tokens = sum(int(inputs["attention_mask"].sum()) for inputs in batches)
    description = f"{type(model).__name__} ({describe_size(model.config)}, vocab {model.config.vocab_size})"
    rows = [form_row(form, description, samples, tokens) for form in forms]
    if settings.model_dirs:
        data_args = saved_data_args(model_dir)
        folders = {EAGER: model_dir} | {implementation: str(folder) for implementation, folder in exports.items()}
        for row in rows:
            output_dir = work / f"evaluation-{row['implementation'].replace(' ', '-')}"
            row["test_accuracy"] = evaluate_folder(folders[row["implementation"]], data_args, "test", str(output_dir))["accuracy"]
    return rows


def as_numpy(inputs: dict) -> dict:
    return {name: tensor.numpy() for name, tensor in inputs.items()}


def time_forms_in_turns(forms: list[DeployedForm], repeats: int) -> None:
    """Each form warmed up, then timed in turns: every post by every form, then every pass by every form."""
    with torch.inference_mode():
        for form in forms:
            form.run(form.posts[0])
            form.run(form.batches[0])
        for _ in range(repeats):
            for index in range(len(forms[0].posts)):
                for form in forms:
                    start = time.perf_counter()
                    form.run(form.posts[index])
                    form.latencies.append(time.perf_counter() - start)
        for _ in range(repeats):
            for form in forms:
                start = time.perf_counter()
                for batch in form.batches:
                    form.run(batch)
                form.pass_seconds.append(time.perf_counter() - start)


def form_row(form: DeployedForm, description: str, samples: int, tokens: int) -> dict:
    milliseconds = [1000 * seconds for seconds in form.latencies]
    seconds = statistics.median(form.pass_seconds)
    return {
        "architecture": form.architecture,
        "implementation": form.implementation,
        "model": description,
        "file_bytes": form.file_bytes,
        "latency_ms_median": statistics.median(milliseconds),
        "latency_ms_p95": float(np.percentile(milliseconds, 95)),
        "batch_posts_per_s": samples / seconds,
        "batch_tokens_per_s": tokens / seconds,
        "test_accuracy": None,
        "latency_ms_per_post": milliseconds,
        "batch_seconds_per_pass": form.pass_seconds,
    }


def add_ratios_to_eager(rows: list[dict]) -> None:
    """Latency speed-up, throughput and file size of every row against eager PyTorch of the same model."""
    for row in rows:
        eager = next(r for r in rows if r["architecture"] == row["architecture"] and r["implementation"] == EAGER)
        row["latency_speedup_vs_eager"] = eager["latency_ms_median"] / row["latency_ms_median"]
        row["throughput_vs_eager"] = row["batch_posts_per_s"] / eager["batch_posts_per_s"]
        row["size_vs_eager"] = row["file_bytes"] / eager["file_bytes"]
        if row["test_accuracy"] is not None:
            row["accuracy_points_vs_eager"] = 100 * (row["test_accuracy"] - eager["test_accuracy"])


def saved_data_args(model_dir: str) -> DataArguments:
    """The data a trained folder was trained on (its data_args.json), as `hf-seqmodels evaluate` reads it."""
    saved = Path(model_dir, "data_args.json")
    (data_args,) = parse_arguments((DataArguments,), [], "benchmark --model_dirs", saved if saved.is_file() else None)
    return data_args
