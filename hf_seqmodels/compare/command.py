"""`compare()`: the models and the baselines on one split, then the ensembles, the report and the plots."""

import json
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from .. import machine, training
from ..errors import UsageError
from . import distillation, ensembles
from .arguments import CompareArguments, parse_args, training_argv
from .baselines import BASELINES, baseline_descriptions, run_baseline
from .report import render_report, write_plots
from ..training.pretraining import PRETRAINING_SUMMARY
from .pretrained_folders import check_pretraining_options, ensure_pretrained, pretrained_folder
from .runs import ModelPlan, launch_training, model_row, plan_model, remove_checkpoints, write_run_record


def compare(args: CompareArguments, extra: list[str] = ()) -> dict:
    """Train the chosen architectures and the baselines on one split; write report.md, results.json, plots."""
    started = time.perf_counter()
    if any(option.split("=")[0] == "--resume_from_checkpoint" for option in extra):
        raise UsageError(
            "--resume_from_checkpoint names one model's checkpoint; to continue an interrupted comparison, "
            "run it again with the same options and --resume"
        )
    # Every model's plan (and, with --resume, every check of what its folder holds) before anything is written.
    if args.pretrain:
        check_pretraining_options(args)
    plans = {
        (architecture, variant): plan_model(
            args, architecture, extra, variant, pretrained_folder(args, architecture) if variant == "pretrained" else None
        )
        for architecture in args.model_names
        for variant in args.variants
    }
    if args.distill_names:  # the distillation options too are checked before anything trains
        distillation.check_options(args, extra)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # Baselines first: seconds, and they tell at once what the split is worth.
    _, data_args, _ = training.parse_args(training_argv(args, args.model_names[0], extra))
    splits = training.load_data(data_args)
    label_names = splits["train"].features["label"].names
    rows = [run_baseline(name, splits) for name in BASELINES]

    # The models, one after the other, each on the whole machine; a pretrained start first pretrains (or reuses).
    for (architecture, variant), plan in plans.items():
        rows.append(run_model(args, architecture, variant, plan))

    # Ensembles of the models just trained (or read back), scored by running their saved folders.
    rows += ensembles.compare_rows([row for row in rows if row["kind"] == "model"], splits, output_dir)

    # One model of each --distill architecture trained on the probabilities of the ensemble best on validation.
    rows += distillation.distilled_rows(args, rows, extra)

    results = {
        "protocol": args.protocol,
        "remove": args.remove,
        "quick": args.quick,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "split_sizes": {split: len(splits[split]) for split in splits},
        "total_seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
        "settings": {
            "compare": asdict(args),
            "extra_training_arguments": list(extra),
            "baselines": baseline_descriptions(),
            "models": {row["name"]: row["settings"] for row in rows if row["kind"] in ("model", distillation.DISTILLED)},
            "ensemble_member": {ensembles.TFIDF_MEMBER: ensembles.TFIDF_MEMBER_SETTINGS},
        },
    }
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_plots(results, output_dir, label_names)
    (output_dir / "report.md").write_text(render_report(results))
    return results


def run_model(args: CompareArguments, architecture: str, variant: str, plan: ModelPlan) -> dict:
    """One model's row: trained as `plan` says (after pretraining, or reusing, its masked-LM folder for a
    pretrained start), or read back from a finished folder with --resume."""
    model_args, data_args, training_args = plan.arguments
    pretraining = None
    if variant == "pretrained":
        pretraining = ensure_pretrained(args, architecture, launch=_launcher(args))
        if not args.keep_checkpoints:
            remove_checkpoints(Path(pretraining["output_dir"]))
    if plan.finished is not None:
        summary = plan.finished
    else:
        write_run_record(Path(training_args.output_dir), plan.settings_argv)
        if args.num_processes > 1:
            summary = launch_training(plan.argv, args.num_processes, training_args.output_dir)
        else:
            summary = training.train(model_args, data_args, training_args)
    read_back = plan.finished is not None
    row = model_row(architecture, summary, model_args, training_args, read_back, variant, pretraining)
    if not args.keep_checkpoints:
        remove_checkpoints(Path(training_args.output_dir))
    return row


def _launcher(args: CompareArguments):
    """Runs `hf-seqmodels pretrain ARGV` across --num_processes processes; the summary it wrote."""

    def launch(command: str, argv: list[str]) -> dict:
        output_dir = argv[argv.index("--output_dir") + 1]
        return launch_training(argv, args.num_processes, output_dir, command, PRETRAINING_SUMMARY)

    return launch


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args, extra = parse_args(argv, prog=prog)
    results = compare(args, extra)
    print((Path(args.output_dir) / "report.md").read_text())
    return 0 if results["rows"] else 1
