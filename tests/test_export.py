"""`hf-seqmodels export`: ONNX folders that predict as the PyTorch folder does, with and without torch."""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap

import datasets
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

import hf_seqmodels  # noqa: E402
from hf_seqmodels import cli  # noqa: E402
from hf_seqmodels.serving.export import export  # noqa: E402
from hf_seqmodels.serving.prediction import predict  # noqa: E402
from hf_seqmodels.serving.onnx_inference import ExportedClassifier  # noqa: E402
from hf_seqmodels.errors import UsageError  # noqa: E402

from helpers import ARCHITECTURES, VOCAB_SIZE, tiny_classifier  # noqa: E402

LABELS = {0: "apples", 1: "bikes", 2: "chess"}
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()
# Mixed lengths (padded together), an empty text, a text of unknown words, one past model_max_length.
TEXTS = [
    "alpha beta gamma delta epsilon",
    "beta beta",
    "",
    "unknown words only",
    " ".join(WORDS * 3),
    "zeta eta theta iota kappa lambda mu",
]
MAX_LENGTH = 32  # the tokenizer's model_max_length; the tiny Transformer has 64 positions


def save_folder(path, architecture, **overrides):
    """A trained-looking folder: tiny perturbed weights, named labels, a tokenizer saved beside them."""
    labels = dict(num_labels=3, id2label=LABELS, label2id={name: index for index, name in LABELS.items()})
    model = tiny_classifier(architecture, **labels, **overrides)
    tokenizer = hf_seqmodels.train_tokenizer([" ".join(WORDS)] * 2, vocab_size=VOCAB_SIZE, min_df=1, model_max_length=MAX_LENGTH)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return tokenizer, model


@pytest.fixture(scope="module", params=ARCHITECTURES)
def folders(request, tmp_path_factory):
    """(architecture, PyTorch folder, its fp32 export, tokenizer, model), exported once per architecture."""
    root = tmp_path_factory.mktemp(request.param)
    tokenizer, model = save_folder(root / "model", request.param)
    export(str(root / "model"), str(root / "onnx"))
    return request.param, root / "model", root / "onnx", tokenizer, model


def test_exported_folder_holds_what_a_user_ships(folders):
    _, _, exported, _, _ = folders
    assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "predict.py"} <= set(os.listdir(exported))
    assert not any(name.endswith(".safetensors") for name in os.listdir(exported))


def test_logits_match_pytorch_on_a_padded_batch_with_an_empty_text(folders):
    _, _, exported, tokenizer, model = folders
    got = ExportedClassifier(exported).logits(TEXTS, batch_size=len(TEXTS))  # one batch: rows padded to the longest
    # Each text alone, unpadded, in PyTorch: the padded rows must not depend on their padding.
    for text, row in zip(TEXTS, got):
        inputs = tokenizer([text], truncation=True, return_tensors="pt")
        with torch.inference_mode():
            expected = model(**inputs).logits[0].numpy()
        np.testing.assert_allclose(row, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("batch", [[""], ["", ""], ["alpha"], TEXTS[:2] + TEXTS[:2] + TEXTS[3:5]])
def test_logits_match_pytorch_for_other_batch_sizes_and_all_empty_batches(folders, batch):
    # An all-empty batch tokenizes to width 0, which the recurrent graphs cannot run: the runner feeds one
    # padding step instead, and must still give what PyTorch gives on the (B, 0) batch.
    _, _, exported, tokenizer, model = folders
    inputs = tokenizer(batch, truncation=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = model(**inputs).logits.numpy()
    np.testing.assert_allclose(ExportedClassifier(exported).logits(batch), expected, atol=1e-4, rtol=0)


def test_predict_on_the_exported_folder_equals_predict_on_the_pytorch_folder(folders):
    _, folder, exported, _, _ = folders
    # Both on the CPU, where ONNX Runtime runs (on a GPU cuDNN's recurrences run in TF32, ~1e-3 off).
    expected, got = predict(str(folder), TEXTS, batch_size=4, device="cpu"), predict(str(exported), TEXTS, batch_size=4)
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    assert [r["text"] for r in got] == TEXTS
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-5)


def test_predict_py_runs_where_torch_and_transformers_cannot_be_imported(folders):
    _, folder, exported, _, _ = folders
    # The serving environment of the issue: onnxruntime, tokenizers and numpy only.
    blocker = textwrap.dedent(
        """
        import importlib.abc, runpy, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers", "hf_seqmodels", "datasets", "accelerate"):
                    raise ImportError(f"{name} is not installed here")
        sys.meta_path.insert(0, Block())
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, str(exported / "predict.py"), "--json", *TEXTS],
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in got] == [r["label"] for r in predict(str(folder), TEXTS, device="cpu")]
    assert [r["text"] for r in got] == TEXTS


def test_cli_export_then_predict_prints_what_the_pytorch_folder_prints(tmp_path, capsys):
    save_folder(tmp_path / "model", "gru")
    assert cli.main(["export", str(tmp_path / "model"), "--output_dir", str(tmp_path / "onnx"), "--opset", "14"]) == 0
    assert json.loads(capsys.readouterr().out)["output_dir"] == str(tmp_path / "onnx")
    printed = {}
    for name in ("model", "onnx"):
        assert cli.main(["predict", str(tmp_path / name), *TEXTS[:2], "--device", "cpu"]) == 0
        printed[name] = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(label, text) for label, _, text in printed["onnx"]] == [(label, text) for label, _, text in printed["model"]]
    assert [float(score) for _, score, _ in printed["onnx"]] == pytest.approx([float(s) for _, s, _ in printed["model"]], abs=2e-4)


def test_evaluate_on_the_exported_folder_equals_evaluate_on_the_pytorch_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")
    # evaluate's Trainer runs the PyTorch folder on the GPU where there is one; there cuDNN's recurrences run
    # in TF32 by default (~1e-3 off). Full float32 there, as ONNX Runtime computes on the CPU.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    rows = [(LABELS[index % 3], " ".join(WORDS[index % 7 : index % 7 + 1 + index % 5])) for index in range(30)]
    with open(tmp_path / "data.csv", "w", newline="") as f:
        csv.writer(f).writerows([("label", "text"), *rows])
    save_folder(tmp_path / "model", "lstm")
    (tmp_path / "model" / "data_args.json").write_text(json.dumps({"train_file": str(tmp_path / "data.csv"), "test_size": 0.5}))
    assert cli.main(["export", str(tmp_path / "model"), "--output_dir", str(tmp_path / "onnx")]) == 0
    capsys.readouterr()
    metrics = {}
    for name in ("model", "onnx"):
        assert cli.main(["evaluate", str(tmp_path / name), "--output_dir", str(tmp_path / f"eval-{name}")]) == 0
        metrics[name] = json.loads(capsys.readouterr().out)
        assert (tmp_path / f"eval-{name}" / "classification_report_test.json").is_file()
    assert metrics["onnx"]["examples"] == metrics["model"]["examples"] == 15
    for key in ("accuracy", "macro_f1", "loss"):
        assert metrics["onnx"][key] == pytest.approx(metrics["model"][key], abs=1e-4)


@pytest.mark.parametrize("architecture", ["gru", "lstm", "transformer"])
def test_int8_export_is_smaller_and_agrees_where_the_model_is_decided(architecture, tmp_path):
    # Sized as the shipped models are: the embedding (here 2000 x 64) holds most of the weights. int8 must
    # shrink the file to well under half, although the GRU / RNN ops themselves stay fp32.
    sizes = {"vocab_size": 2000}
    sizes |= {"embedding_size": 64, "hidden_size": 16, "num_hidden_layers": 1} if architecture != "transformer" else {"hidden_size": 64, "intermediate_size": 128}
    save_folder(tmp_path / "model", architecture, **sizes)
    fp32 = export(str(tmp_path / "model"), str(tmp_path / "fp32"))
    int8 = export(str(tmp_path / "model"), str(tmp_path / "int8"), quantize="int8")
    assert os.path.getsize(int8 / "model.onnx") < 0.4 * os.path.getsize(fp32 / "model.onnx")

    rng = np.random.default_rng(0)
    input_ids = rng.integers(1, 2000, size=(64, 20))
    attention_mask = (np.arange(20) < rng.integers(1, 21, size=(64, 1))).astype(np.int64)
    inputs = {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask}
    expected = ExportedClassifier(fp32).session.run(["logits"], inputs)[0]
    got = ExportedClassifier(int8).session.run(["logits"], inputs)[0]
    assert np.isfinite(got).all()
    assert np.abs(got - expected).max() < 0.1 * np.abs(expected).max()
    # Rows whose two best classes are far apart must keep their label.
    top2 = np.sort(expected, axis=-1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 0.2 * np.abs(expected).max()
    assert decided.sum() >= 5
    assert (got.argmax(-1)[decided] == expected.argmax(-1)[decided]).all()


def test_texts_longer_than_model_max_length_are_truncated_as_in_pytorch(folders):
    _, folder, exported, _, _ = folders
    long_texts = [" ".join(WORDS * 20), " ".join(reversed(WORDS * 20))]  # 380 tokens each, cut to 32
    expected = predict(str(folder), long_texts, device="cpu")
    assert [r["label"] for r in predict(str(exported), long_texts)] == [r["label"] for r in expected]


# --------------------------------------------------------------------------- mistakes


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code, err, *words):
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("opset", [13, 21])
def test_unsupported_opset_names_the_supported_range(opset, folders, tmp_path, capsys):
    _, folder, _, _, _ = folders
    code, err = run_cli(capsys, "export", str(folder), "--output_dir", str(tmp_path / "out"), "--opset", str(opset))
    assert_one_line_error(code, err, f"--opset {opset}", "14 to 20")
    assert not (tmp_path / "out").exists()


def test_a_folder_with_no_model_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(capsys, "export", str(tmp_path / "empty"), "--output_dir", str(tmp_path / "out"))
    assert_one_line_error(code, err, "empty", "config.json")
    assert not (tmp_path / "out").exists()


def test_a_non_empty_output_dir_is_refused_and_left_alone(folders, tmp_path, capsys):
    _, folder, _, _, _ = folders
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code, err = run_cli(capsys, "export", str(folder), "--output_dir", str(tmp_path / "out"))
    assert_one_line_error(code, err, "--output_dir", "not empty")
    assert os.listdir(tmp_path / "out") == ["notes.txt"]


def test_a_failed_export_leaves_nothing_behind(folders, tmp_path, monkeypatch):
    _, folder, _, _, _ = folders

    def broken(*args, **kwargs):
        raise RuntimeError("the exported model's logits differ from PyTorch's")

    monkeypatch.setattr("hf_seqmodels.serving.export.check_export", broken)
    with pytest.raises(RuntimeError, match="differ"):
        export(str(folder), str(tmp_path / "out"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda folder: (folder / "model.onnx").write_bytes(b"\x08\x07not a model"), ["model.onnx", "damaged"]),
        (lambda folder: (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes()[:500]), ["model.onnx"]),
        (lambda folder: (folder / "tokenizer.json").unlink(), ["tokenizer.json", "missing"]),
        (lambda folder: (folder / "config.json").write_text("{"), ["config.json", "JSON"]),
    ],
    ids=["not-onnx", "truncated", "no-tokenizer", "bad-config"],
)
def test_a_damaged_exported_folder_names_the_file(damage, words, folders, tmp_path, capsys):
    _, _, exported, _, _ = folders
    copy = shutil.copytree(exported, tmp_path / "copy")
    damage(copy)
    code, err = run_cli(capsys, "predict", str(copy), "some text")
    assert_one_line_error(code, err, *words)


def test_a_tokenizer_allowing_more_than_the_transformers_positions_is_refused_clearly(tmp_path):
    save_folder(tmp_path / "model", "transformer")
    exported = export(str(tmp_path / "model"), str(tmp_path / "onnx"))
    settings = json.loads((exported / "tokenizer_config.json").read_text())
    (exported / "tokenizer_config.json").write_text(json.dumps(settings | {"model_max_length": 1000}))
    with pytest.raises(UsageError, match="longer than max_position_embeddings=64"):
        predict(str(exported), [" ".join(WORDS * 5)])


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_onnx_runtime_matches_pytorch_on_left_and_right_padded_batches(folders, padding_side):
    """The graph must hold what every padding needs: a left-padded batch (as a tokenizer with
    `padding_side="left"` makes it) through ONNX Runtime's own session gives PyTorch's logits."""
    import onnxruntime

    _, _, exported, tokenizer, model = folders
    tokenizer.padding_side = padding_side
    inputs = tokenizer(TEXTS, truncation=True, padding=True, return_tensors="np")
    tokenizer.padding_side = "right"
    assert (inputs["attention_mask"][:, 0 if padding_side == "left" else -1] == 0).any()  # some row is padded
    session = onnxruntime.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {name: inputs[name].astype(np.int64) for name in ("input_ids", "attention_mask")})[0]
    with torch.inference_mode():
        expected = model(**{name: torch.from_numpy(inputs[name]) for name in ("input_ids", "attention_mask")}).logits
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)
