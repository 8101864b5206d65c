"""`hf-seqmodels compare --quick` end to end on the real 20 Newsgroups: every output file is written and the
report says what results.json says."""

import itertools
import json
import re
import shutil
import subprocess
import sys

import datasets
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from transformers import AutoModelForSequenceClassification

from helpers import REPO_ROOT, pipeline_probabilities
from hf_seqmodels.compare import BASELINES, CompareArguments, baseline_descriptions, compare, render_report
from hf_seqmodels.compare.baselines import run_baseline
from hf_seqmodels.compare.ensembles import compare_rows
from hf_seqmodels.compare.report import accuracy_vs_training_time_figure, validation_accuracy_figure
from hf_seqmodels.errors import UsageError
from hf_seqmodels.serving.ensemble import predict_ensemble
from hf_seqmodels.training import DataArguments, evaluate_ensemble, load_data, read_saved_predictions

slow = pytest.mark.slow  # trains models or starts processes: left out of the fast subset

# Smaller still than --quick, to keep the suite short; the preset itself is what runs.
SMALLER = ["--max_train_samples", "400", "--max_eval_samples", "100", "--max_test_samples", "200", "--max_length", "48"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, newsgroups_home):
    output_dir = tmp_path_factory.mktemp("compare")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "compare.py"), "--quick", "--output_dir", str(output_dir), *SMALLER]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-4000:]
    return output_dir, json.loads((output_dir / "results.json").read_text()), result.stdout


@slow
def test_every_output_file_is_written(quick_run):
    output_dir, results, stdout = quick_run
    for name in ("report.md", "results.json", "validation_accuracy.png", "accuracy_vs_training_time.png", "confusion_matrix_best.png"):
        path = output_dir / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for architecture in ("rnn", "lstm", "gru", "transformer"):
        folder = output_dir / architecture
        assert (folder / "README.md").is_file() and (folder / "model.safetensors").is_file()
        assert not list(folder.glob("checkpoint-*")), "a finished comparison keeps no checkpoints by default"
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        assert model.config.model_type == f"seqmodels_{architecture}"
    assert "| model | test accuracy |" in stdout


@slow
def test_results_hold_every_model_and_baseline(quick_run):
    _, results, _ = quick_run
    names = [row["name"] for row in results["rows"] if row["kind"] != "ensemble"]
    assert sorted(names) == sorted(["RNN", "LSTM", "GRU", "Transformer", "TF-IDF + LinearSVC", "TF-IDF + ComplementNB"])
    assert results["quick"] and results["protocol"] == "bydate" and results["remove"] == ""
    assert results["split_sizes"] == {"train": 400, "validation": 100, "test": 200}
    for row in results["rows"]:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["num_parameters"] > 0
        assert row["train_seconds"] > 0 and row["inference_samples_per_second"] > 0
        if row["kind"] != "ensemble":  # what validation_accuracy.png draws
            assert 0.0 <= row["validation_accuracy"] <= 1.0
        if row["kind"] == "model":
            assert row["epochs"] == 1 and len(row["history"]) == 1
            assert row["settings"]["config"]["model_type"] == f"seqmodels_{row['architecture']}"
    # the baselines see the same tiny slice; on it, they are far from chance (5%)
    baseline = next(row for row in results["rows"] if row["name"] == "TF-IDF + LinearSVC")
    assert baseline["test_accuracy"] > 0.3
    assert results["settings"]["baselines"] == baseline_descriptions()


@slow
def test_report_figures_match_results_json(quick_run):
    output_dir, results, _ = quick_run
    report = (output_dir / "report.md").read_text()
    table = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 9 and re.fullmatch(r"[01]\.\d{4}", cells[1]):
            table[cells[0]] = cells
    assert set(table) == {row["name"] for row in results["rows"]}
    for row in results["rows"]:
        cells = table[row["name"]]
        assert float(cells[1]) == pytest.approx(row["test_accuracy"], abs=5e-5)
        assert float(cells[2]) == pytest.approx(row["test_macro_f1"], abs=5e-5)
        assert float(cells[3]) == pytest.approx(row["validation_accuracy"], abs=5e-5)
        assert int(cells[4].replace(",", "")) == row["num_parameters"]
        assert float(cells[5]) == pytest.approx(row["train_seconds"], abs=0.05)
        assert float(cells[6]) == pytest.approx(row["train_samples_per_second"], abs=0.05)
        assert float(cells[7]) == pytest.approx(row["inference_samples_per_second"], abs=0.05)
    assert report == render_report(results)


@slow
def test_ensemble_rows_follow_the_models(quick_run):
    output_dir, results, stdout = quick_run
    models = {row["name"]: row for row in results["rows"] if row["kind"] == "model"}
    ensembles = [row for row in results["rows"] if row["kind"] == "ensemble"]
    everything = ensembles[0]
    assert everything["name"] == "Ensemble: RNN + LSTM + GRU + Transformer" and everything["name"] in stdout
    assert everything["members"] == ["RNN", "LSTM", "GRU", "Transformer"]
    assert everything["num_parameters"] == sum(row["num_parameters"] for row in models.values())
    assert everything["train_seconds"] == pytest.approx(sum(row["train_seconds"] for row in models.values()), abs=0.2)
    # The subset is the one best on validation, of every subset of two or more candidates.
    chosen = ensembles[-1]
    subsets = chosen["validation_subsets"]
    assert len(subsets) == 2**5 - 1 - 5  # four models and the TF-IDF member
    best = max(subsets, key=lambda entry: entry["validation_accuracy"])
    (entry,) = [entry for entry in subsets if entry["members"] == chosen["members"]]
    assert entry["validation_accuracy"] == best["validation_accuracy"]
    assert len(ensembles) == 1 or chosen["name"] == "Ensemble (best on validation): " + " + ".join(chosen["members"])
    assert "Ensemble rows average their members' softmax probabilities" in (output_dir / "report.md").read_text()


@slow
def test_ensemble_row_is_the_mean_of_the_models_own_probabilities(quick_run, tmp_path):
    """The row's accuracy, recomputed from each saved folder through transformers' own pipeline."""
    output_dir, results, _ = quick_run
    data_args = DataArguments(**json.loads((output_dir / "rnn" / "data_args.json").read_text()))
    test = load_data(data_args)["test"]
    names = test.features["label"].names
    folders = [str(output_dir / architecture) for architecture in ("rnn", "lstm", "gru", "transformer")]
    predicted = np.mean([pipeline_probabilities(folder, test["text"], names) for folder in folders], axis=0).argmax(axis=1)
    everything = next(row for row in results["rows"] if row["kind"] == "ensemble")
    assert everything["test_accuracy"] == pytest.approx(np.mean(predicted == np.array(test["label"])), abs=1e-9)
    # `hf-seqmodels predict DIR1 DIR2 ...` gives the same labels, and `evaluate DIR1 DIR2 ...` the same figures.
    answers = predict_ensemble(folders, list(test["text"]))
    assert [answer["label"] for answer in answers] == [names[index] for index in predicted]
    metrics = evaluate_ensemble(folders, data_args, "test", str(tmp_path))
    assert (metrics["accuracy"], metrics["macro_f1"]) == (everything["test_accuracy"], everything["test_macro_f1"])


@slow
def test_ensemble_rows_from_saved_predictions_are_those_of_running_the_folders(quick_run, tmp_path):
    """The rows read each model's saved predictions; a folder without them (from before they were saved, as
    --resume may meet) is run instead, and gives the very same rows."""
    first_dir, results, _ = quick_run
    output_dir = tmp_path / "without_saved_predictions"
    shutil.copytree(first_dir, output_dir)
    data_args = DataArguments(**json.loads((output_dir / "rnn" / "data_args.json").read_text()))
    splits = load_data(data_args)
    for architecture, split in itertools.product(("rnn", "lstm", "gru", "transformer"), ("validation", "test")):
        assert read_saved_predictions(output_dir / architecture, split, splits[split]["label"]) is not None
    removed = list(output_dir.glob("*/predictions_*.npz"))
    assert len(removed) == 2 * 4  # validation and test of each model
    for path in removed:
        path.unlink()
    model_rows = [row | {"output_dir": str(output_dir / row["architecture"])} for row in results["rows"] if row["kind"] == "model"]
    rows = compare_rows(model_rows, splits, tmp_path / "evaluations")
    saved = [row for row in results["rows"] if row["kind"] == "ensemble"]
    assert [row["members"] for row in rows] == [row["members"] for row in saved]
    for ran, read in zip(rows, saved):
        assert (ran["test_accuracy"], ran["test_macro_f1"]) == (read["test_accuracy"], read["test_macro_f1"])
        assert ran.get("validation_subsets") == read.get("validation_subsets")  # the subsets' validation scores


def test_seed_protocol_removes_headers_footers_quotes_by_default():
    arguments = CompareArguments(protocol="seed")
    assert arguments.remove == "headers,footers,quotes" and arguments.output_dir == "outputs/compare-seed"
    assert CompareArguments().remove == ""


@pytest.mark.parametrize("field, value, message", [("protocol", "random", "--protocol"), ("models", "gru,cnn", "cnn")])
def test_bad_options_are_named(field, value, message):
    with pytest.raises(UsageError, match=message):
        CompareArguments(**{field: value})


@slow
def test_resume_reads_finished_models_back_from_a_moved_comparison(quick_run, tmp_path):
    """An interrupted comparison is run again with --resume: what finished is not trained twice."""
    first_dir, first, _ = quick_run
    output_dir = tmp_path / "moved"
    shutil.copytree(first_dir, output_dir)
    weights = {path: path.stat().st_mtime_ns for path in output_dir.glob("*/model.safetensors")}
    results = compare(CompareArguments(quick=True, output_dir=str(output_dir), resume=True), SMALLER)
    assert {path: path.stat().st_mtime_ns for path in output_dir.glob("*/model.safetensors")} == weights
    before = {row["name"]: row for row in first["rows"] if row["kind"] == "model"}
    for row in (row for row in results["rows"] if row["kind"] == "model"):
        assert row["read_back"] and row["test_accuracy"] == before[row["name"]]["test_accuracy"]
        assert row["train_seconds"] == before[row["name"]]["train_seconds"]
    # The ensembles are computed again from the folders read back: the same rows.
    ensembles = {row["name"]: row["test_accuracy"] for row in results["rows"] if row["kind"] == "ensemble"}
    assert ensembles and ensembles == {row["name"]: row["test_accuracy"] for row in first["rows"] if row["kind"] == "ensemble"}
    assert "Read back from an earlier run of this comparison (--resume): RNN, LSTM, GRU, Transformer." in (
        output_dir / "report.md"
    ).read_text()


@slow
def test_resume_continues_an_interrupted_model_from_its_checkpoint(newsgroups_home, tmp_path):
    arguments = dict(quick=True, models="rnn", output_dir=str(tmp_path))
    (first,) = [row for row in compare(CompareArguments(**arguments, keep_checkpoints=True), SMALLER)["rows"] if row["kind"] == "model"]
    (checkpoint,) = (tmp_path / "rnn").glob("checkpoint-*")
    (tmp_path / "rnn" / "training_summary.json").unlink()  # killed after its last checkpoint, before the end

    (resumed,) = [row for row in compare(CompareArguments(**arguments, resume=True), SMALLER)["rows"] if row["kind"] == "model"]
    assert not resumed["read_back"] and resumed["resumed_from_step"] == int(checkpoint.name.split("-")[1])
    assert resumed["test_accuracy"] == first["test_accuracy"] and resumed["test_macro_f1"] == first["test_macro_f1"]
    assert not list((tmp_path / "rnn").glob("checkpoint-*"))
    report = (tmp_path / "report.md").read_text()
    assert "Resumed from a checkpoint: RNN (from step" in report
    assert "trains fastest" not in report  # a resumed run's time is not a whole run's
    assert "No ensemble rows: an ensemble needs at least two models" in report


@slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--learning_rate", "1e-4"], "trained with other options than this comparison.s: \\(nothing\\) there, --learning_rate 1e-4 now"),
        (["--resume_from_checkpoint", "last"], "to continue an interrupted comparison.*--resume"),
    ],
)
def test_resume_refuses_a_folder_it_cannot_continue_and_keeps_what_is_there(quick_run, tmp_path, extra, message):
    output_dir = tmp_path / "copy"
    shutil.copytree(quick_run[0], output_dir)
    saved = {path: path.read_bytes() for path in output_dir.rglob("*") if path.is_file()}
    with pytest.raises(UsageError, match=message):
        compare(CompareArguments(quick=True, output_dir=str(output_dir), resume=True), SMALLER + extra)
    assert {path: path.read_bytes() for path in output_dir.rglob("*") if path.is_file()} == saved


def test_each_baseline_is_recorded_so_that_it_can_be_built_again():
    """results.json records each baseline on one line as scikit-learn prints it (settings that differ from
    scikit-learn's defaults): read as Python, the line builds a pipeline with every setting of the one fitted."""
    classes = {cls.__name__: cls for cls in (Pipeline, TfidfVectorizer, LinearSVC, ComplementNB)}

    def settings(pipeline) -> dict:
        return {key: value for key, value in pipeline.get_params().items() if not isinstance(value, BaseEstimator | list)}

    descriptions = baseline_descriptions()
    assert descriptions.keys() == BASELINES.keys()
    for name, text in descriptions.items():
        assert "\n" not in text, text
        fitted = BASELINES[name]()
        assert settings(eval(text, classes)) == settings(fitted), name


# --------------------------------------------------------------------------- baselines and plots, on made-up rows


def test_baselines_score_validation_apart_from_test():
    """Validation is scored on the validation split itself: here the same posts as test, every label swapped."""
    names = ["autos", "space"]
    texts = ["engine car brakes wheel", "orbit probe moon launch", "car engine oil", "probe orbit shuttle"] * 3
    labels = [0, 1, 0, 1] * 3
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    swapped = [1 - label for label in labels]
    splits = datasets.DatasetDict(
        {name: datasets.Dataset.from_dict({"text": texts, "label": split_labels}, features=features)
         for name, split_labels in (("train", labels), ("validation", swapped), ("test", labels))}
    )  # fmt: skip
    for name in BASELINES:
        row = run_baseline(name, splits)
        assert (row["test_accuracy"], row["validation_accuracy"]) == (1.0, 0.0), name


ROWS = [
    {"name": "TF-IDF + LinearSVC", "kind": "baseline", "train_seconds": 2.1, "test_accuracy": 0.85, "validation_accuracy": 0.91},
    {"name": "TF-IDF + ComplementNB", "kind": "baseline", "train_seconds": 1.5, "test_accuracy": 0.83, "validation_accuracy": 0.88},
    {"name": "RNN", "kind": "model", "train_seconds": 120.0, "test_accuracy": 0.6,
     "history": [{"epoch": 1, "elapsed_seconds": 60, "eval_accuracy": 0.5}, {"epoch": 2, "elapsed_seconds": 120, "eval_accuracy": 0.6}]},
    {"name": "Transformer", "kind": "model", "train_seconds": 400.0, "test_accuracy": 0.8,
     "history": [{"epoch": 1, "elapsed_seconds": 400, "eval_accuracy": 0.7}]},
    {"name": "Ensemble: RNN + Transformer", "short_name": "Ensemble: all models", "kind": "ensemble", "train_seconds": 520.0, "test_accuracy": 0.82},
    {"name": "Ensemble (best on validation): RNN + Transformer + TF-IDF + LogisticRegression",
     "short_name": "Ensemble: best 3 on validation", "kind": "ensemble", "train_seconds": 530.0, "test_accuracy": 0.87},
]  # fmt: skip


def test_validation_plot_draws_the_baselines_validation_accuracy_and_says_so():
    figure = validation_accuracy_figure(ROWS)
    for axes in figure.axes:
        references = {line.get_label(): line.get_ydata()[0] for line in axes.get_lines() if "TF-IDF" in line.get_label()}
        assert references == {"TF-IDF + LinearSVC (validation)": 0.91, "TF-IDF + ComplementNB (validation)": 0.88}
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "TF-IDF + LinearSVC (validation)" in legend and "TF-IDF + ComplementNB (validation)" in legend


def test_accuracy_against_time_keeps_every_label_inside_the_plot():
    """Inside the axes, hence the figure: the layout need not shrink the plot to make room for a label either."""
    figure = accuracy_vs_training_time_figure(ROWS)
    figure.draw_without_rendering()
    axes = figure.axes[0]
    assert sorted(text.get_text() for text in axes.texts) == sorted(row.get("short_name", row["name"]) for row in ROWS)
    plot = axes.get_window_extent()
    for text in axes.texts:
        box = text.get_window_extent()
        assert plot.x0 <= box.x0 and box.x1 <= plot.x1 and plot.y0 <= box.y0 and box.y1 <= plot.y1, text.get_text()
