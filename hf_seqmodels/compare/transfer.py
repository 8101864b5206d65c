"""The report's transfer section: each architecture from scratch, from word vectors and from masked-LM
pretraining, side by side, with what each start adds."""

from ..models import ARCHITECTURES
from .arguments import VARIANT_TITLES

VARIANT_HEADERS = {"scratch": "from scratch", "vectors": "+ word vectors", "pretrained": "+ MLM pretraining"}


def report_section(results: dict) -> list[str]:
    """Markdown lines: one row per architecture, one column per start (test accuracy, validation in
    parentheses), and a sentence on what the best transfer start adds. Empty when every model started from scratch."""
    models = [row for row in results["rows"] if row["kind"] == "model"]
    variants = [variant for variant in VARIANT_TITLES if any(row["variant"] == variant for row in models)]
    if variants == ["scratch"] or not variants:
        return []
    by_start = {(row["architecture"], row["variant"]): row for row in models}
    architectures = list(dict.fromkeys(row["architecture"] for row in models))
    lines = [
        "",
        "## What transfer adds",
        "",
        "Test accuracy (validation accuracy in parentheses) of each architecture by how it started. A pretrained "
        "start's training time includes its pretraining, on the training split's text only.",
        "",
        "| architecture | " + " | ".join(VARIANT_HEADERS[variant] for variant in variants) + " | pretraining (s) |",
        "| --- | " + " | ".join("---" for _ in variants) + " | --- |",
    ]
    sentences = []
    for architecture in architectures:
        cells = []
        for variant in variants:
            row = by_start.get((architecture, variant))
            cells.append("–" if row is None else f"{row['test_accuracy']:.4f} ({row['validation_accuracy']:.4f})")
        pretrained = by_start.get((architecture, "pretrained"))
        seconds = f"{pretrained['pretrain_seconds']:.0f}" if pretrained else "–"
        lines.append(f"| {ARCHITECTURES[architecture].title} | {' | '.join(cells)} | {seconds} |")
        scratch = by_start.get((architecture, "scratch"))
        transfer = [by_start[(architecture, v)] for v in variants if v != "scratch" and (architecture, v) in by_start]
        if scratch and transfer:
            best = max(transfer, key=lambda row: row["validation_accuracy"])  # chosen on validation, as ever
            gain = (best["test_accuracy"] - scratch["test_accuracy"]) * 100
            sentences.append(
                f"- {best['name']} (the transfer start best on validation): {best['test_accuracy']:.4f}, "
                f"{abs(gain):.1f} points {'above' if gain >= 0 else 'below'} from scratch ({scratch['test_accuracy']:.4f})."
            )
    return lines + ["", *sentences]


def labels_note(results: dict) -> list[str]:
    """Says how many labelled posts the models and baselines learned from, under --train_fraction."""
    fraction = results["settings"]["compare"].get("train_fraction")
    if fraction is None:
        return []
    return [
        "",
        f"Labels: a stratified {fraction:g} of the training split ({results['split_sizes']['train']:,} posts) for "
        "every model and baseline; pretraining read the text of the whole training split.",
    ]
