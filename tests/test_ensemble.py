"""Several model folders as one (`predict` / `evaluate DIR1 DIR2 ...`, `ensemble.predict_ensemble`): the mean of
their probabilities, each folder tokenizing with its own tokenizer; labels must agree; weights are checked."""

import csv
import json
import shutil

import datasets
import pytest

from helpers import assert_one_error_line, pipeline_probabilities, run_command, save_tiny_folder
from hf_seqmodels.serving.ensemble import predict_ensemble
from hf_seqmodels.serving.prediction import predict

LABELS = ["space", "autos"]
TEXTS = ["the probe reached orbit", "my car engine overheats", "orbit of the moon and brakes", ""]
# Two vocabularies, so that the folders' token ids differ for the same text.
WORDS = {
    "gru": ["the probe reached orbit", "the car engine overheats", "orbit of the moon", "engine brakes and car"] * 3,
    "transformer": ["moon orbit probe", "brakes car my engine", "reached the of and", "overheats orbit car"] * 3,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    gru = save_tiny_folder(root / "gru", "gru", WORDS["gru"], LABELS)
    return {
        "gru": gru,
        "gru_copy": shutil.copytree(gru, root / "gru_copy"),
        "transformer": save_tiny_folder(root / "transformer", "transformer", WORDS["transformer"], LABELS, seed=1),
        "labels_swapped": save_tiny_folder(root / "labels_swapped", "gru", WORDS["gru"], LABELS[::-1]),
        "three_labels": save_tiny_folder(root / "three_labels", "gru", WORDS["gru"], LABELS + ["graphics"]),
    }


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


run = run_command


def test_identical_folders_predict_as_the_single_folder(folders):
    single = predict(str(folders["gru"]), TEXTS)
    for weights in (None, [1, 3]):
        together = predict_ensemble([str(folders["gru"]), str(folders["gru_copy"])], TEXTS, weights=weights)
        assert [a["label"] for a in together] == [a["label"] for a in single]
        assert [a["score"] for a in together] == pytest.approx([a["score"] for a in single], abs=1e-6)
        assert [a["text"] for a in together] == TEXTS


def test_the_command_averages_each_folders_own_pipeline(folders, capsys):
    """Each folder's probabilities as transformers' pipeline gives them, with its own tokenizer, weighted 1:2."""
    gru, transformer = (pipeline_probabilities(folders[name], TEXTS, LABELS, device="cpu") for name in ("gru", "transformer"))
    mean = (1 * gru + 2 * transformer) / 3  # (texts, labels)

    members = [folders["gru"], folders["transformer"]]
    code, out, err = run(capsys, "predict", *members, *TEXTS, "--weights", "1,2", "--json", "--device", "cpu")
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["text"] for a in answers] == TEXTS
    assert [a["label"] for a in answers] == [LABELS[i] for i in mean.argmax(axis=1)]
    assert [a["score"] for a in answers] == pytest.approx(mean.max(axis=1), abs=1e-5)


def test_a_folder_after_the_first_text_is_a_text(folders, capsys):
    code, out, err = run(capsys, "predict", folders["gru"], "orbit", folders["transformer"])
    assert code == 0, err
    assert [line.split("\t")[2] for line in out.splitlines()] == ["orbit", str(folders["transformer"])]


@pytest.mark.parametrize("other", ["labels_swapped", "three_labels"])
def test_folders_whose_labels_differ_are_refused_by_name(folders, other, capsys):
    code, out, err = run(capsys, "predict", folders["gru"], folders[other], "orbit")
    assert code == 2 and not out
    assert_one_error_line(err, "predict", [f"MODEL_DIR {str(folders[other])!r}", "same labels in the same order"])


@pytest.mark.parametrize(
    "weights, words",
    [
        ("1", ["--weights 1", "1 weights for 2 model folders"]),
        ("1,2,3", ["--weights 1,2,3", "3 weights for 2"]),
        ("1,-1", ["--weights 1,-1", "≥ 0"]),
        ("0,0", ["--weights 0,0", "at least one > 0"]),
        ("1,nan", ["--weights 1,nan", "finite"]),
        ("a,b", ["--weights 'a,b'", "comma-separated list of numbers"]),
    ],
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_bad_weights_give_one_line(folders, command, weights, words, capsys, tmp_path):
    texts = ["orbit"] if command == "predict" else ["--output_dir", tmp_path]
    code, out, err = run(capsys, command, folders["gru"], folders["transformer"], *texts, "--weights", weights)
    assert code == 2 and not out
    assert_one_error_line(err, command, words)


@pytest.fixture
def data_files(tmp_path):
    rows = [("space", "the probe reached orbit"), ("autos", "my car engine overheats"), ("space", "orbit of the moon"),
            ("autos", "brakes and engine of the car")] * 5  # fmt: skip
    paths = []
    for name in ("train.csv", "test.csv"):
        path = tmp_path / name
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows([("label", "text"), *rows])
        paths.append(path)
    return paths


def test_identical_folders_evaluate_as_the_single_folder(folders, data_files, capsys, tmp_path):
    train_file, test_file = data_files
    data = ["--train_file", train_file, "--test_file", test_file]
    code, out, err = run(capsys, "evaluate", folders["gru"], *data, "--output_dir", tmp_path / "one")
    assert code == 0, err
    single = json.loads(out.strip().splitlines()[-1])
    members = [folders["gru"], folders["gru_copy"]]
    code, out, err = run(capsys, "evaluate", *members, *data, "--output_dir", tmp_path / "two")
    assert code == 0, err
    together = json.loads(out.strip().splitlines()[-1])
    assert together.keys() == single.keys() and together["examples"] == single["examples"] == 20
    for key in ("accuracy", "macro_f1", "loss"):
        assert together[key] == pytest.approx(single[key], abs=1e-6), key
    assert json.loads((tmp_path / "two" / "eval_test_results.json").read_text()) == together
    assert (tmp_path / "two" / "confusion_matrix_test.png").read_bytes()[:4] == b"\x89PNG"


def test_several_folders_need_an_output_dir_for_evaluate(folders, data_files, capsys):
    code, _, err = run(capsys, "evaluate", folders["gru"], folders["transformer"], "--train_file", data_files[0])
    assert code == 2
    assert_one_error_line(err, "evaluate", ["error: --output_dir", "several MODEL_DIRs"])
    assert not (folders["gru"] / "eval_test_results.json").exists()
