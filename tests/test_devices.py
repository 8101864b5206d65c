"""Where models run: `predict --device` (by default the accelerator `Trainer` picks for `evaluate`, else the
CPU), a device this machine lacks refused in one line, and an exported folder kept on the CPU. On a machine
without an accelerator `auto` is the CPU and the test that needs an accelerator is skipped."""

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import TrainingArguments

import hf_seqmodels.serving.ensemble
import hf_seqmodels.serving.prediction
from helpers import ARCHITECTURES, TEXTS, assert_refused, pipeline_probabilities, run_command, save_tiny_folder
from hf_seqmodels.serving.prediction import class_probabilities, load_classifier, resolve_device

LABELS = ["autos", "space", "hockey", "religion"]
ACCELERATOR = torch.accelerator.current_accelerator(check_available=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("devices")
    return {architecture: save_tiny_folder(root / architecture, architecture, TEXTS, LABELS) for architecture in ARCHITECTURES}


run = run_command


def watch_devices(monkeypatch) -> list[torch.device]:
    """The device of every batch the loaded models read, single folder or ensemble."""
    seen = []

    def load_and_watch(model_dir):
        tokenizer, model = load_classifier(model_dir)
        model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].device), with_kwargs=True)
        return tokenizer, model

    monkeypatch.setattr(hf_seqmodels.serving.prediction, "load_classifier", load_and_watch)
    monkeypatch.setattr(hf_seqmodels.serving.ensemble, "load_classifier", load_and_watch)
    return seen


def test_auto_is_the_device_trainer_picks(tmp_path):
    trainers = TrainingArguments(output_dir=str(tmp_path), report_to=[]).device
    auto = resolve_device("auto")
    assert (auto.type, auto.index or 0) == (trainers.type, trainers.index or 0)
    if ACCELERATOR is None:
        assert auto == torch.device("cpu")


@pytest.mark.parametrize("members", [1, 2], ids=["one folder", "ensemble"])
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_predict_runs_on_the_device_given_and_answers_as_the_pipeline_there(device, members, folders, capsys, monkeypatch):
    expected = resolve_device(device)
    dirs = [folders["gru"], folders["transformer"]][:members]
    seen = watch_devices(monkeypatch)
    code, out, err = run(capsys, "predict", *dirs, *TEXTS[:6], "--device", device, "--json", "--batch_size", 4)
    assert code == 0, err
    assert seen and {(d.type, d.index or 0) for d in seen} == {(expected.type, expected.index or 0)}
    # The oracle: transformers' own pipeline on the same device (each member's probabilities, averaged).
    mean = np.mean([pipeline_probabilities(folder, TEXTS[:6], LABELS, device=expected) for folder in dirs], axis=0)
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["label"] for a in answers] == [LABELS[index] for index in mean.argmax(axis=1)]
    assert [a["score"] for a in answers] == pytest.approx(mean.max(axis=1), abs=1e-5)


@pytest.mark.parametrize("members", [1, 2], ids=["one folder", "ensemble"])
@pytest.mark.parametrize("device", ["gpu", "", "cuda:99", "meta", "npu:0"])
def test_a_device_that_is_not_here_is_refused_in_one_line(device, members, folders, capsys):
    # No text given: the device is refused before stdin is read (pytest's stdin raises when read).
    dirs = [folders["gru"], folders["lstm"]][:members]
    code, _, err = run(capsys, "predict", *dirs, "--device", device)
    assert_refused(code, err, "predict", [f"--device {device!r}", "valid here: auto, cpu"])


def test_an_exported_folder_runs_on_the_cpu_only(folders, tmp_path, capsys, monkeypatch):
    # An exported folder is recognised by its model.onnx; the device is refused before the file is read.
    exported = shutil.copytree(folders["gru"], tmp_path / "onnx")
    (exported / "model.onnx").write_bytes(b"not an ONNX model")
    if ACCELERATOR is None:  # as on a machine with a CUDA device
        real = resolve_device
        monkeypatch.setattr(hf_seqmodels.serving.prediction, "resolve_device", lambda name: torch.device("cuda") if name == "cuda" else real(name))
    accelerator = ACCELERATOR.type if ACCELERATOR is not None else "cuda"
    code, _, err = run(capsys, "predict", exported, "text", "--device", accelerator)
    assert_refused(code, err, "predict", [f"--device {accelerator!r}", str(exported), "ONNX", "--device cpu or auto"])
    for device in ("cpu", "auto"):  # the (damaged) ONNX file itself is what is refused now
        code, _, err = run(capsys, "predict", exported, "text", "--device", device)
        assert_refused(code, err, "predict", [str(exported), "model.onnx"])
        assert "--device" not in err


@pytest.mark.skipif(ACCELERATOR is None, reason="needs an accelerator (CUDA, MPS, ...)")
def test_the_accelerator_gives_the_cpus_answers(folders):
    # cuDNN runs the recurrent layers in TF32 by default (torch.backends.cudnn.rnn.fp32_precision), about 1e-3.
    for architecture, folder in folders.items():
        tokenizer, model = load_classifier(str(folder))
        on_cpu = class_probabilities(tokenizer, model, TEXTS, batch_size=8)
        on_accelerator = class_probabilities(tokenizer, model.to(resolve_device("auto")), TEXTS, batch_size=8)
        assert on_accelerator.device.type == "cpu"
        torch.testing.assert_close(on_accelerator, on_cpu, atol=2e-3, rtol=0, msg=architecture)
