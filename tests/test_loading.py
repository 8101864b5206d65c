"""`hf_seqmodels.serving.loading`: any classifier folder a user holds loads and answers as transformers' own
`pipeline` does: this package's, any transformers sequence classifier (a tiny BERT made here, offline), and
an exported ONNX folder behind the same interface."""

import numpy as np
import pytest
import torch
from helpers import TEXTS, pipeline_probabilities, save_tiny_folder
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from hf_seqmodels import predict
from hf_seqmodels.errors import UsageError
from hf_seqmodels.serving.loading import load_classifier, open_classifier

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "probe", "reached", "orbit", "car", "engine", "moon", "of"]
LABELS = {0: "space", 1: "autos", 2: "other"}
QUERIES = ["the probe reached orbit", "the car engine", "orbit of the moon and of mars", ""]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A BertForSequenceClassification folder with its WordPiece tokenizer, as the Hub holds thousands of."""
    folder = tmp_path_factory.mktemp("bert")
    tokenizer = BertTokenizer(vocab={word: index for index, word in enumerate(WORDS)}, model_max_length=16)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        id2label=LABELS,
        label2id={label: index for index, label in LABELS.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # fresh weights answer nearly alike for every text; these tell texts apart
        for parameter in model.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_any_transformers_classifier_folder_predicts_as_its_pipeline_does(bert_folder):
    tokenizer, model = load_classifier(str(bert_folder))
    assert type(model).__name__ == "BertForSequenceClassification" and not model.training
    expected = pipeline_probabilities(bert_folder, QUERIES, list(LABELS.values()), device="cpu")
    answers = predict(str(bert_folder), QUERIES, device="cpu")
    assert [answer["label"] for answer in answers] == [LABELS[int(row.argmax())] for row in expected]
    assert np.allclose([answer["score"] for answer in answers], expected.max(axis=-1), atol=1e-6)
    assert np.ptp(expected.max(axis=-1)) > 0.01  # the texts are told apart: the check can fail


def test_open_classifier_gives_the_logits_of_a_transformers_folder(bert_folder):
    classifier = open_classifier(str(bert_folder))
    tokenizer, model = load_classifier(str(bert_folder))
    with torch.inference_mode():
        expected = model(**tokenizer(QUERIES, padding=True, truncation=True, return_tensors="pt")).logits.numpy()
    assert classifier.id2label == LABELS
    logits = classifier.logits(QUERIES, batch_size=3)  # two batches, read as one
    assert np.allclose(logits, expected, atol=1e-5)
    probabilities = torch.from_numpy(logits).softmax(dim=-1).numpy()
    assert np.allclose(probabilities, pipeline_probabilities(bert_folder, QUERIES, list(LABELS.values()), "cpu"), atol=1e-6)


def test_open_classifier_reads_an_exported_folder_as_its_pytorch_folder(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from hf_seqmodels.serving.export import export

    folder = save_tiny_folder(tmp_path / "gru", "gru", TEXTS, ["a", "b"])
    exported = export(str(folder), str(tmp_path / "onnx"))
    pytorch, onnx = open_classifier(str(folder)), open_classifier(str(exported))
    assert onnx.id2label == pytorch.id2label
    assert np.allclose(onnx.logits(TEXTS, batch_size=4), pytorch.logits(TEXTS, batch_size=4), atol=1e-4)


def test_a_folder_that_is_not_a_classifier_is_named_in_one_line(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UsageError, match=rf"MODEL_DIR '{tmp_path}'") as error:
        open_classifier(str(tmp_path))
    assert "\n" not in str(error.value)
