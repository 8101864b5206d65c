"""`compare --distill`: the ensemble best on validation distilled into one model of each architecture named.

The teachers are the ensemble's members as they stand: the model folders this comparison trained and, where the
ensemble has it, the TF-IDF member (`distill --teacher tfidf`, fitted on the same labelled posts). Under
`--train_fraction` the rest of the training split's text joins the transfer set, unlabelled. A distilled row's
training time counts its teachers' training and labelling; its inference speed is the student's own.
"""

import json
from pathlib import Path

from ..models import ARCHITECTURES
from ..training import distillation
from ..training.card import unlabelled_weight_clause
from ..training.teachers import TFIDF_TEACHER
from .arguments import QUICK_ARGS, CompareArguments, config_path
from .ensembles import TFIDF_MEMBER
from .runs import RUN_RECORD, check_recorded_settings, launch_training, model_row, plan_run, remove_checkpoints, write_run_record

DISTILLED = "distilled"


def distilled_rows(args: CompareArguments, rows: list[dict], extra: list[str]) -> list[dict]:
    """One row per architecture of `--distill`, each a student of the ensemble best on validation."""
    ensembles = [row for row in rows if row["kind"] == "ensemble"]
    if not args.distill_names or not ensembles:
        return []
    teacher_row = ensembles[-1]  # the subset best on validation (or all the models, when they are that subset)
    folders = {row["name"]: row["output_dir"] for row in rows if row["kind"] == "model"}
    teachers = [TFIDF_TEACHER if name == TFIDF_MEMBER else folders[name] for name in teacher_row["members"]]
    return [_student_row(args, architecture, teachers, teacher_row, extra) for architecture in args.distill_names]


def distill_argv(args: CompareArguments, architecture: str, teachers: list[str], extra: list[str]) -> list[str]:
    """What `hf-seqmodels distill` gets: the student's recipe and the comparison's data, then its own options."""
    argv = [
        str(config_path(architecture)),
        "--output_dir", str(Path(args.output_dir) / f"{architecture}-{DISTILLED}"),
        "--protocol", args.protocol, "--remove", args.remove,
        "--seed", str(args.seed), "--split_seed", str(args.seed),
        "--teacher", *teachers,
    ]  # fmt: skip
    if args.data_home:
        argv += ["--data_home", args.data_home]
    if args.train_fraction is not None:
        argv += ["--train_fraction", str(args.train_fraction)]
    return argv + (QUICK_ARGS if args.quick else []) + list(extra) + args.distill_options.split()


def check_options(args: CompareArguments, extra: list[str]) -> None:
    """Parse each student's command line (with a stand-in teacher) so that a bad option is named before minutes of
    training; with --resume, a student's folder recorded with other options is refused then too (its teachers are
    known only once the models are trained, and are checked then)."""
    for architecture in args.distill_names:
        argv = distill_argv(args, architecture, [TFIDF_TEACHER], extra)
        plan = plan_run(argv, distillation.parse_distillation_args, resume=False)
        model_dir = Path(plan.arguments[2].output_dir)
        if args.resume and (model_dir / RUN_RECORD).is_file():
            recorded = json.loads((model_dir / RUN_RECORD).read_text(encoding="utf-8")).get("training_argv")
            if isinstance(recorded, list) and without_teachers(recorded) != without_teachers(plan.settings_argv):
                check_recorded_settings(model_dir, plan.settings_argv)  # raises, naming the first difference


def without_teachers(settings: list[str]) -> list[str]:
    """A student's recorded options less the values of --teacher."""
    start = settings.index("--teacher") + 1 if "--teacher" in settings else len(settings)
    end = next((i for i in range(start, len(settings)) if settings[i].startswith("--")), len(settings))
    return settings[:start] + settings[end:]


def _student_row(args: CompareArguments, architecture: str, teachers: list[str], teacher_row: dict, extra) -> dict:
    # As each model's run: from the start, read back, or resumed from its last checkpoint, with --resume only
    # from a folder that records these very options (its teachers included).
    plan = plan_run(distill_argv(args, architecture, teachers, extra), distillation.parse_distillation_args, args.resume)
    arguments = plan.arguments
    output_dir = Path(arguments[2].output_dir)
    summary = plan.finished
    if summary is None:
        write_run_record(output_dir, plan.settings_argv)
        if args.num_processes > 1:
            summary = launch_training(plan.argv, args.num_processes, str(output_dir), "distill")
        else:
            summary = distillation.distill(*arguments)
    row = model_row(architecture, summary, arguments[0], arguments[2], plan.finished is not None)
    record = summary["distillation"]
    row.update(
        name=f"{ARCHITECTURES[architecture].title} distilled from {' + '.join(teacher_row['members'])}",
        short_name=f"{ARCHITECTURES[architecture].title} distilled",
        kind=DISTILLED,
        variant=DISTILLED,
        teacher=teacher_row["name"],
        student_train_seconds=row["train_seconds"],
        # The teachers had to be trained (and label the transfer set) before the student could learn from them.
        train_seconds=round(row["train_seconds"] + teacher_row["train_seconds"] + record["labelling_seconds"], 1),
        distillation=record,
    )
    row["settings"]["distillation_argv"] = plan.settings_argv
    if not args.keep_checkpoints:
        remove_checkpoints(output_dir)
    return row


def report_notes(rows: list[dict]) -> list[str]:
    students = [row for row in rows if row["kind"] == DISTILLED]
    if not students:
        return []
    record = students[0]["distillation"]
    transfer = record["transfer_set"]
    return [
        "",
        f"Distilled rows: one model trained on the probabilities of the ensemble best on validation ({students[0]['teacher']}; "
        f"its members' mean, validation accuracy {record['teacher_validation_accuracy']:.4f}) over a transfer set of "
        f"{transfer['texts']:,} texts: {transfer['labelled']:,} labelled posts, {transfer['unlabelled']:,} unlabelled "
        f"and {transfer['augmented']:,} altered copies (words masked, spans cut) that the teachers alone label; loss "
        f"{record['alpha']:g} × cross-entropy on gold labels + {1 - record['alpha']:g} × T² × KL(teacher ‖ student), "
        f"T = {record['temperature']:g}{unlabelled_weight_clause(record)}. Their training time counts the teachers' training and labelling; their "
        "inference speed is the student's alone.",
    ]


def summary_sentences(rows: list[dict]) -> list[str]:
    students = [row for row in rows if row["kind"] == DISTILLED]
    teachers = {row["name"]: row for row in rows if row["kind"] == "ensemble"}
    baselines = [row for row in rows if row["kind"] == "baseline"]
    sentences = []
    for student in students:
        teacher = teachers[student["teacher"]]
        best_baseline = max(baselines, key=lambda row: row["test_accuracy"])
        speedup = student["inference_samples_per_second"] / teacher["inference_samples_per_second"]
        sentences.append(
            f"- The {student['short_name']} reaches {student['test_accuracy']:.4f} against its teacher's "
            f"{teacher['test_accuracy']:.4f} and {best_baseline['name']}'s {best_baseline['test_accuracy']:.4f}, "
            f"predicting {speedup:.1f}× as fast as the teacher ensemble."
        )
    return sentences
