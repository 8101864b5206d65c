"""`hf-seqmodels evaluate | predict | train` as a user meets them: output, files, and one-line errors."""

import csv
import io
import json

import datasets
import pytest
from transformers import pipeline

from helpers import TEXTS as HELPER_TEXTS
from helpers import VOCAB_SIZE, assert_one_error_line, tiny_model
from hf_seqmodels import cli, train_tokenizer
from hf_seqmodels.serving.prediction import predict
from hf_seqmodels.training import DataArguments, ModelArguments, SeqModelsTrainingArguments, load_data, train

GROUPS = ["comp.graphics", "rec.autos", "sci.space"]
TEXTS = ["The shuttle reached a stable orbit", "New brakes for my car", "Rendering 3D images is slow"]


@pytest.fixture(scope="module")
def model_dir(newsgroups_home, tmp_path_factory):
    """A tiny GRU trained on three groups; returns (folder, training summary)."""
    folder = tmp_path_factory.mktemp("cli") / "gru"
    summary = train(
        ModelArguments(
            architecture="gru", config_overrides="embedding_size=16,hidden_size=16", vocab_size=800, max_length=32
        ),
        DataArguments(categories=",".join(GROUPS), max_train_samples=90, max_eval_samples=30, max_test_samples=30),
        SeqModelsTrainingArguments(output_dir=str(folder), num_train_epochs=1, disable_tqdm=True),
    )
    return folder, summary


def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_texts_from_arguments_match_the_pipeline(model_dir, capsys):
    folder, _ = model_dir
    code, out, _ = run(capsys, "predict", folder, *TEXTS)
    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    expected = pipeline("text-classification", model=str(folder))(TEXTS)
    assert [line[0] for line in lines] == [answer["label"] for answer in expected]
    assert [float(line[1]) for line in lines] == pytest.approx([a["score"] for a in expected], abs=1e-4)
    assert [line[2] for line in lines] == TEXTS
    assert {line[0] for line in lines} <= set(GROUPS)


def test_predict_json_lines_from_stdin(model_dir, capsys, monkeypatch):
    folder, _ = model_dir
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(TEXTS) + "\n"))
    code, out, _ = run(capsys, "predict", folder, "--json")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [answer["text"] for answer in answers] == TEXTS
    assert all(answer["label"] in GROUPS and 0 < answer["score"] <= 1 for answer in answers)


def test_predict_from_file_keeps_order_across_batches(model_dir, capsys, tmp_path):
    folder, _ = model_dir
    path = tmp_path / "texts.txt"
    texts = [f"{text} number {i}" for i in range(5) for text in TEXTS]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "predict", folder, "--file", path, "--json", "--batch_size", 4)
    assert code == 0
    one_batch = predict(str(folder), texts, batch_size=64)
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["text"] for a in answers] == texts
    assert [a["label"] for a in answers] == [a["label"] for a in one_batch]


def test_evaluate_uses_the_training_data_by_default(model_dir, capsys, tmp_path):
    folder, summary = model_dir
    code, out, _ = run(capsys, "evaluate", folder, "--split", "validation", "--output_dir", tmp_path)
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    # data_args.json in the folder brings back the same validation slice the training run scored.
    assert metrics["examples"] == 30
    assert metrics["accuracy"] == pytest.approx(summary["validation"]["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(summary["validation"]["macro_f1"])
    assert (tmp_path / "confusion_matrix_validation.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "classification_report_validation.json").read_text())
    assert set(GROUPS) <= set(report)


def test_evaluate_data_options_override_the_saved_ones(model_dir, capsys, tmp_path):
    folder, _ = model_dir
    code, out, _ = run(capsys, "evaluate", folder, "--output_dir", tmp_path, "--max_test_samples", "12")
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1])["examples"] == 12


def test_evaluate_matches_labels_by_name(model_dir, capsys, tmp_path):
    # Two of the model's three groups: the data's label 0 (rec.autos) is the model's label 1.
    folder, _ = model_dir
    options = {"categories": "rec.autos,sci.space", "max_test_samples": 20}
    code, out, _ = run(capsys, "evaluate", folder, "--output_dir", tmp_path, *(
        item for name, value in options.items() for item in (f"--{name}", value)
    ))
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    test = load_data(DataArguments(**options))["test"]
    names = test.features["label"].names
    answers = predict(str(folder), test["text"])
    correct = [answer["label"] == names[label] for answer, label in zip(answers, test["label"])]
    assert metrics["examples"] == 20
    assert metrics["accuracy"] == pytest.approx(sum(correct) / len(correct))


@pytest.fixture
def csv_file(tmp_path, monkeypatch):
    # load_dataset caches Arrow files; keep them out of the user's ~/.cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    path = tmp_path / "tiny.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["category", "message"])
        writer.writerows([("ham", "see you at noon"), ("spam", "win a free prize now")] * 10)
    return path


@pytest.mark.parametrize(
    "argv,words",
    [
        (["train", "--architecture", "gru", "--config_overrides", "hidden=3"], ["hidden", "hidden_size", "valid keys"]),
        (["train", "--num_train_epochs", "1"], ["--architecture", "gru", "transformer"]),
        (["train", "missing.json"], ["missing.json", "no such file", "gru.json", "transformer.json"]),
        (["train", "--architecture", "gru", "--protocol", "bydate", "--bogus", "1"], ["--bogus"]),
        (  # transformers' own check, whose message spans lines
            ["train", "--architecture", "gru", "--eval_strategy", "no"],
            ["--load_best_model_at_end", "Evaluation strategy", "Save strategy"],
        ),
        (
            ["train", "--architecture", "gru", "--eval_strategy", "no", "--load_best_model_at_end", "false"],
            ["--early_stopping_patience 2", "--eval_strategy", "--early_stopping_patience 0"],
        ),
        (["train", "--model_name_or_path", "no/such/folder"], ["--model_name_or_path", "no/such/folder"]),
        (["evaluate", "no/such/folder"], ["MODEL_DIR", "no/such/folder"]),
    ],
)
def test_user_mistakes_give_one_line_and_exit_code_2(argv, words, capsys, tmp_path, monkeypatch, newsgroups_home):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert_one_error_line(err, argv[0], words)


@pytest.fixture(scope="module")
def masked_lm_dir(tmp_path_factory):
    """A tiny GRU masked language model with its tokenizer, saved as `hf-seqmodels pretrain` saves one."""
    folder = tmp_path_factory.mktemp("mlm") / "gru-mlm"
    tiny_model("gru", "masked_lm").save_pretrained(folder)
    train_tokenizer(HELPER_TEXTS, vocab_size=VOCAB_SIZE, model_max_length=64, min_df=1).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "command,options",
    [
        ("predict", ["some text"]),
        ("evaluate", ["--categories", ",".join(GROUPS), "--max_test_samples", "6"]),
        ("export", ["--output_dir", "onnx"]),
    ],
)
def test_a_masked_lm_folder_is_refused_where_a_classifier_is_needed(
    command, options, masked_lm_dir, capsys, tmp_path, monkeypatch, newsgroups_home
):
    # Loaded as a classifier, its head would be random: answers at random, exit 0, an ONNX file of it.
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, command, masked_lm_dir, *options)
    assert code == 2
    assert_one_error_line(err, command, [str(masked_lm_dir), "masked language model", "GRUForMaskedLM", "--model_name_or_path"])
    assert not (tmp_path / "onnx").exists()


def test_an_ensemble_with_a_masked_lm_folder_is_refused(model_dir, masked_lm_dir, capsys):
    folder, _ = model_dir
    code, _, err = run(capsys, "predict", folder, masked_lm_dir, "some text")
    assert code == 2
    assert_one_error_line(err, "predict", [str(masked_lm_dir), "masked language model"])


def test_overrides_that_resize_a_saved_model_are_refused_naming_the_option(model_dir, capsys, tmp_path, monkeypatch):
    # transformers would start every resized weight afresh, and the model would be "fine-tuned" from nothing.
    folder, _ = model_dir
    monkeypatch.chdir(tmp_path)
    code, _, err = run(
        capsys, "train", "--model_name_or_path", folder, "--config_overrides", "hidden_size=24",
        "--categories", ",".join(GROUPS), "--max_train_samples", 30, "--max_eval_samples", 9, "--max_test_samples", 9,
        "--output_dir", tmp_path / "out",
    )
    assert code == 2
    assert_one_error_line(
        err, "train", [str(folder), "hidden_size=24", "model.layers.0.forward_cell.weight_ih_l0", "--ignore_mismatched_sizes"]
    )


def test_bad_column_names_the_column_and_the_columns_there(csv_file, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(
        capsys, "train", "--architecture", "gru", "--train_file", csv_file, "--text_column", "text",
        "--label_column", "category",
    )
    assert code == 2
    assert_one_error_line(err, "train", ["'text'", "category", "message"])


def test_unknown_architecture_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--architecture", "cnn"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "cnn" in err and "gru" in err and "transformer" in err and "Traceback" not in err


def test_help_lists_the_commands(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    for command in ("train", "evaluate", "predict"):
        assert command in out
