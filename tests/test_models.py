"""The four architectures behave as transformers models: shapes, losses, exactness under padding,
save / reload, gradients. Every test runs for RNN, LSTM, GRU and Transformer."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

import hf_seqmodels
from helpers import VOCAB_SIZE, tiny_classifier, tiny_config

RECURRENT_VARIANTS = [
    dict(pooling=pooling, bidirectional=bidirectional)
    for pooling in ("max", "mean", "last", "mean_max")
    for bidirectional in (True, False)
]
TRANSFORMER_VARIANTS = [
    dict(pooling=pooling, position_embedding_type=positions, attn_implementation=attention)
    for pooling in ("cls", "mean", "max", "mean_max")
    for positions in ("sinusoidal", "learned")
    for attention in ("sdpa", "eager")
]


def variants(architecture):
    return TRANSFORMER_VARIANTS if architecture == "transformer" else RECURRENT_VARIANTS


def random_ids(generator, length):
    return torch.randint(2, VOCAB_SIZE, (length,), generator=generator)


def pad_batch(sequences, length=None):
    """Right-pad with id 0, as `DataCollatorWithPadding` does with our tokenizers."""
    length = length or max(len(s) for s in sequences)
    input_ids = torch.zeros(len(sequences), length, dtype=torch.long)
    attention_mask = torch.zeros(len(sequences), length, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
        attention_mask[row, : len(sequence)] = 1
    return input_ids, attention_mask


def test_encoder_outputs_shapes(architecture):
    config = tiny_config(architecture)
    encoder = hf_seqmodels.ARCHITECTURES[architecture].model_class(config).eval()
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    outputs = encoder(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    assert isinstance(outputs, BaseModelOutputWithPooling)
    width = config.hidden_size * (2 if getattr(config, "bidirectional", False) else 1)
    assert outputs.last_hidden_state.shape == (2, 7, width)
    assert outputs.pooler_output.shape[0] == 2
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert encoder(input_ids, attention_mask=attention_mask).hidden_states is None
    as_tuple = encoder(input_ids, attention_mask=attention_mask, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], outputs.last_hidden_state)


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification", "regression"])
def test_loss_follows_problem_type(architecture, problem_type):
    num_labels = 1 if problem_type == "regression" else 4
    model = tiny_classifier(architecture, num_labels=num_labels, problem_type=problem_type)
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5), torch.arange(3, 12)])
    if problem_type == "single_label_classification":
        labels = torch.tensor([0, 3, 1])
        expected = torch.nn.functional.cross_entropy
    elif problem_type == "multi_label_classification":
        labels = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]])
        expected = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        labels = torch.tensor([0.5, -1.0, 2.0])
        expected = lambda logits, target: torch.nn.functional.mse_loss(logits.squeeze(-1), target)  # noqa: E731
    outputs = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert isinstance(outputs, SequenceClassifierOutput)
    assert outputs.logits.shape == (3, num_labels)
    torch.testing.assert_close(outputs.loss, expected(outputs.logits, labels))


def test_problem_type_is_inferred_like_transformers(architecture):
    model = tiny_classifier(architecture, num_labels=3)
    input_ids, attention_mask = pad_batch([torch.arange(2, 9)])
    model(input_ids, attention_mask=attention_mask, labels=torch.tensor([2]))
    assert model.config.problem_type == "single_label_classification"


def test_result_does_not_depend_on_padding_or_batch(architecture):
    generator = torch.Generator().manual_seed(1)
    sequences = [random_ids(generator, length) for length in (7, 1, 13, 4)]
    for variant in variants(architecture):
        model = tiny_classifier(architecture, **variant)
        alone = torch.cat([model(s.unsqueeze(0)).logits for s in sequences])
        for length in (None, 25):  # padded to the longest, and with much more padding
            input_ids, attention_mask = pad_batch(sequences, length)
            batched = model(input_ids, attention_mask=attention_mask).logits
            torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0, msg=f"{architecture} {variant}")
        # other rows in the batch change nothing either
        others = [random_ids(generator, 20) for _ in range(3)]
        input_ids, attention_mask = pad_batch(others + sequences)
        mixed = model(input_ids, attention_mask=attention_mask).logits[len(others) :]
        torch.testing.assert_close(mixed, alone, atol=1e-5, rtol=0, msg=f"{architecture} {variant}")


def test_left_padding_gives_the_same_result(architecture):
    generator = torch.Generator().manual_seed(2)
    sequences = [random_ids(generator, length) for length in (9, 3)]
    model = tiny_classifier(architecture)
    input_ids, attention_mask = pad_batch(sequences)
    right = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    left_ids, left_mask = input_ids.clone(), attention_mask.clone()
    left_ids[1] = torch.cat([torch.zeros(6, dtype=torch.long), sequences[1]])
    left_mask[1] = torch.tensor([0] * 6 + [1] * 3)
    left = model(left_ids, attention_mask=left_mask, output_hidden_states=True)
    torch.testing.assert_close(left.logits, right.logits, atol=1e-5, rtol=0)


def test_all_padding_rows_and_empty_input_give_finite_predictions(architecture):
    for variant in variants(architecture):
        model = tiny_classifier(architecture, **variant)
        input_ids, attention_mask = pad_batch([torch.arange(2, 6), torch.tensor([], dtype=torch.long)], 6)
        logits = model(input_ids, attention_mask=attention_mask).logits
        assert torch.isfinite(logits).all(), variant
        empty = model(torch.zeros(2, 0, dtype=torch.long)).logits  # what a pipeline sends for ""
        assert empty.shape == (2, 2) and torch.isfinite(empty).all(), variant


def test_every_parameter_gets_a_gradient(architecture):
    """DDP without `find_unused_parameters` needs every parameter in the graph of every step."""
    for variant in variants(architecture):
        variant = {k: v for k, v in variant.items() if k != "attn_implementation"}
        model = tiny_classifier(architecture, **variant).train()
        input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
        model(input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 1])).loss.backward()
        missing = [name for name, parameter in model.named_parameters() if parameter.grad is None]
        assert not missing, f"{variant}: no gradient for {missing}"


def test_save_and_reload_with_auto_classes(architecture, tmp_path):
    model = tiny_classifier(architecture, num_labels=3, id2label={0: "a", 1: "b", 2: "c"})
    model.save_pretrained(tmp_path)
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])

    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    assert reloaded.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert torch.equal(reloaded(input_ids, attention_mask=attention_mask).logits, model(input_ids, attention_mask=attention_mask).logits)

    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert type(encoder) is hf_seqmodels.ARCHITECTURES[architecture].model_class
    expected = model.model(input_ids, attention_mask=attention_mask).pooler_output
    assert torch.equal(encoder(input_ids, attention_mask=attention_mask).pooler_output, expected)

    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is hf_seqmodels.ARCHITECTURES[architecture].config_class
    assert set(config.auto_map) == {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification"}


def test_model_types_are_unique_and_prefixed():
    model_types = [architecture.config_class.model_type for architecture in hf_seqmodels.ARCHITECTURES.values()]
    assert len(set(model_types)) == 4
    assert all(model_type.startswith("seqmodels_") for model_type in model_types)


INVALID_CONFIGS = [
    ("rnn", "nonlinearity", "sigmoid"),
    ("gru", "pooling", "attention"),
    ("lstm", "hidden_size", 0),
    ("lstm", "num_hidden_layers", -1),
    ("gru", "embedding_dropout", 1.5),
    ("rnn", "pad_token_id", 40),
    ("transformer", "pooling", "last"),
    ("transformer", "position_embedding_type", "rotary"),
    ("transformer", "hidden_act", "swish"),
    ("transformer", "attention_dropout", -0.1),
    ("transformer", "vocab_size", 0),
]


@pytest.mark.parametrize("architecture, field, value", INVALID_CONFIGS)
def test_invalid_config_values_name_the_field(architecture, field, value):
    with pytest.raises(ValueError, match=field) as error:
        tiny_config(architecture, **{field: value})
    assert repr(value) in str(error.value)


def test_heads_must_divide_hidden_size():
    with pytest.raises(ValueError, match=r"hidden_size \(30\).*num_attention_heads \(4\)"):
        hf_seqmodels.TransformerConfig(hidden_size=30, num_attention_heads=4)


def test_transformer_rejects_inputs_longer_than_its_positions():
    model = tiny_classifier("transformer")
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(torch.ones(1, 65, dtype=torch.long))


@pytest.mark.parametrize("bad_id", [VOCAB_SIZE, -1])
def test_token_ids_outside_the_vocabulary_name_the_id_and_the_valid_range(architecture, bad_id):
    """A text tokenized with another tokenizer: torch alone would say "index out of range in self"."""
    model = tiny_classifier(architecture)
    input_ids = torch.tensor([[2, 3, bad_id, 4]])
    with pytest.raises(ValueError, match=rf"token id {bad_id}\b.*vocab_size is {VOCAB_SIZE} \(valid ids: 0 to {VOCAB_SIZE - 1}\)"):
        model(input_ids)
    model(input_ids.clamp(0, VOCAB_SIZE - 1))  # the same batch with valid ids runs
