"""The report as text: a few lines on where and how the numbers were taken, the results table (the one
scripts/results/benchmark/README.md shows) and the scaling table; and the JSON file beside them."""

import json
from pathlib import Path

from .contenders import KERAS

# The ratio columns of the results table, as its header names them.
RATIO_COLUMNS = {
    "train_vs_textbook": "train vs textbook",
    "train_vs_bert": "train vs BERT",
    "infer_vs_textbook": "infer vs textbook",
    "infer_vs_bert": "infer vs BERT",
    "train_vs_keras": "train vs Keras",
    "infer_vs_keras": "infer vs Keras",
}

def write_report(report: dict, output) -> str:
    """Write the JSON report; return the printed text (summary, table, scaling table)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    parts = [summary(report), markdown_table(report)]
    if report["scaling"]:
        parts.append(scaling_table(report))
    if report.get("deployment"):
        parts.append(deployment_table(report))
    return "\n\n".join(parts) + f"\n\nwrote {output}"


def summary(report: dict) -> str:
    """Where and how the numbers were taken, in a few lines above the table."""
    machine, batches, ceiling = report["machine"], report["batches"], report["matmul_gflops"]
    load = " / ".join("n/a" if value is None else f"{value[0]:.1f}" for value in (machine["load_average_at_start"], machine["load_average_at_end"]))
    utilisation = [row["train_cpu_utilisation"] for row in report["results"] if row["error"] is None] or [0.0]
    compile_errors = {row["model"]: row["compile_error"] for row in report["results"] if row["compile_error"]}
    lines = [
        f"{report['date']} · {machine['cpu']} · {machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads "
        f"({'given' if report['settings']['threads'] else 'one per idle core'}) · device {machine['device']} · torch {machine['torch']} "
        f"· transformers {machine['transformers']}",
        f"1-minute load average at start / end: {load}; CPU time / (wall time x threads) of the training "
        f"passes: {min(utilisation):.2f}–{max(utilisation):.2f} (1: the threads had their cores to themselves)",
        f"fp32 matmul {ceiling['size']}x{ceiling['size']}: {ceiling['at_start']:.0f} GFLOP/s at start, "
        f"{ceiling['at_end']:.0f} at end; ceiling = {ceiling['ceiling']:.0f} GFLOP/s "
        f"({ceiling['ceiling_per_cpu_second']:.0f} GFLOP per CPU second)",
        f"batches: {batches['num_batches']} x {batches['batch_size']} posts of lengths {batches['batch_lengths']} "
        f"({batches['padding_fraction']:.1%} padding), the same for every model; median of "
        f"{report['settings']['repeats']} repeats after warm-up, contenders timed in turns",
    ]
    lines += [f"torch.compile failed for {model}, timed eagerly: {error}" for model, error in compile_errors.items()]
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    """The results as a markdown table (the one scripts/results/benchmark/README.md shows); the columns against
    Keras only when the Keras peers ran."""
    ratios = ["train_vs_textbook", "train_vs_bert", "infer_vs_textbook", "infer_vs_bert"]
    if any(row["implementation"] == KERAS for row in report["results"]):
        ratios += ["train_vs_keras", "infer_vs_keras"]
    header = [
        "model", "implementation", "train samples/s", "train tokens/s", "infer samples/s", "train GFLOP/s",
        "of ceiling", "of ceiling, CPU time", *(RATIO_COLUMNS[key] for key in ratios),
    ]
    lines = markdown_header(header)
    for row in report["results"]:
        implementation = f"{row['implementation']}: {row['model']}" + (" (compiled)" if row["compiled"] else "")
        if row["error"] is not None:
            lines.append(markdown_row([row["architecture"], implementation, f"failed: {row['error']}"]) + " |" * (len(header) - 3))
            continue
        cells = [
            row["architecture"],
            implementation,
            f"{row['train_samples_per_s']:.0f}",
            f"{row['train_tokens_per_s']:,.0f}",
            f"{row['infer_samples_per_s']:.0f}",
            f"{row['train_gflops']:.1f}",
            f"{row['fraction_of_matmul_ceiling']:.2f}",
            f"{row['fraction_of_matmul_ceiling_cpu_time']:.2f}",
        ]
        cells += [format_ratio(row[key]) for key in ratios]
        lines.append(markdown_row(cells))
    return "\n".join(lines)


def scaling_table(report: dict) -> str:
    """Fraction of the matmul ceiling of our training step by hidden size and batch size."""
    lines = markdown_header(["model", "hidden size", "batch size", "length", "train GFLOP/s", "of ceiling", "of ceiling, CPU time"])
    for point in report["scaling"]:
        cells = [point["architecture"], point["hidden_size"], point["batch_size"], point["length"], f"{point['train_gflops']:.1f}"]
        cells += [f"{point['fraction_of_matmul_ceiling']:.2f}", f"{point['fraction_of_matmul_ceiling_cpu_time']:.2f}"]
        lines.append(markdown_row(cells))
    return "\n".join(lines)


def deployment_table(report: dict) -> str:
    """Each model as shipped: eager PyTorch, ONNX Runtime fp32 and int8; speed, size, and accuracy if scored."""
    section = report["deployment"]
    header = [
        "model", "implementation", "file MB", "size vs eager", "batch 1 ms (median)", "batch 1 ms (p95)",
        "batch 1 speed-up vs eager", f"batch {section['batch_size']} posts/s", "throughput vs eager", "test accuracy",
    ]
    lines = markdown_header(header)
    for row in section["rows"]:
        accuracy = "–" if row["test_accuracy"] is None else f"{row['test_accuracy']:.4f}"
        cells = [
            row["architecture"],
            f"{row['implementation']}: {row['model']}",
            f"{row['file_bytes'] / 1e6:.1f}",
            format_ratio(row["size_vs_eager"]),
            f"{row['latency_ms_median']:.2f}",
            f"{row['latency_ms_p95']:.2f}",
            format_ratio(row["latency_speedup_vs_eager"]),
            f"{row['batch_posts_per_s']:.0f}",
            format_ratio(row["throughput_vs_eager"]),
            accuracy,
        ]
        lines.append(markdown_row(cells))
    lengths = section["latency_post_lengths"]
    note = (
        f"deployment: batch 1 over {section['latency_posts']} posts of {lengths[0]}–{lengths[-1]} tokens (near the median), "
        f"batch {section['batch_size']} over {section['num_batches']} batches of lengths {section['batch_lengths']}; "
        f"{section['repeats']} repeats, forms timed in turns, {section['threads']} threads each; onnxruntime {section['onnxruntime']}; "
        f"{section['source']}"
    )
    return note + "\n\n" + "\n".join(lines)


def markdown_header(columns: list[str]) -> list[str]:
    return [markdown_row(columns), "|" + " --- |" * len(columns)]


def markdown_row(cells: list) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def format_ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}×"
