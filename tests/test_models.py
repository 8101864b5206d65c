"""The four architectures behave as transformers models: shapes, losses, exactness under padding,
save / reload, gradients. Every test runs for RNN, LSTM, GRU and Transformer."""

import ast
import json
import re

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PreTrainedConfig
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

import hf_seqmodels
from helpers import VOCAB_SIZE, tiny_classifier, tiny_config
from hf_seqmodels.models import own_config_fields
from hf_seqmodels.models.modeling_recurrent import RecurrentModel, RecurrentPreTrainedModel
from hf_seqmodels.models.modeling_transformer import TransformerPreTrainedModel

RECURRENT_VARIANTS = [
    dict(pooling=pooling, bidirectional=bidirectional)
    for pooling in ("max", "mean", "last", "mean_max")
    for bidirectional in (True, False)
]
TRANSFORMER_VARIANTS = [
    dict(pooling=pooling, position_embedding_type=positions, attn_implementation=attention)
    for pooling in ("cls", "mean", "max", "mean_max")
    for positions in ("sinusoidal", "learned", "alibi")
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
    encoder = hf_seqmodels.ARCHITECTURES[architecture].encoder_class(config).eval()
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    outputs = encoder(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    assert isinstance(outputs, BaseModelOutputWithPooling)
    width = config.hidden_size * (2 if getattr(config, "bidirectional", False) else 1)
    assert outputs.last_hidden_state.shape == (2, 7, width)
    assert outputs.pooler_output.shape[0] == 2
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    # The Transformer's hidden states are those its layers read: its own [CLS] first, then the 7 tokens.
    assert outputs.hidden_states[-1].shape == (2, 7 + (architecture == "transformer"), width)
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
    # Every layer's states of the real tokens too, each at its own column: row 1's at 6..8 instead of 0..2
    # (one further right in the Transformer's, which hold its [CLS] first).
    assert len(left.hidden_states) == len(right.hidden_states) == model.config.num_hidden_layers + 1
    cls = 1 if architecture == "transformer" else 0
    for layer, (left_states, right_states) in enumerate(zip(left.hidden_states, right.hidden_states)):
        torch.testing.assert_close(left_states[0], right_states[0], atol=1e-5, rtol=0, msg=f"layer {layer}")
        left_real, right_real = left_states[1, cls + 6 :], right_states[1, cls : cls + 3]
        torch.testing.assert_close(left_real, right_real, atol=1e-5, rtol=0, msg=f"layer {layer}")


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
    assert type(encoder) is hf_seqmodels.ARCHITECTURES[architecture].encoder_class
    expected = model.model(input_ids, attention_mask=attention_mask).pooler_output
    assert torch.equal(encoder(input_ids, attention_mask=attention_mask).pooler_output, expected)

    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is hf_seqmodels.ARCHITECTURES[architecture].config_class
    assert set(config.auto_map) == {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification", "AutoModelForMaskedLM"}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_sinusoidal_positions_are_rebuilt_on_reload(attention, tmp_path):
    """The sinusoidal table is not saved (a non-persistent buffer): `from_pretrained` must rebuild it, not
    leave the uninitialised memory it allocates."""
    model = tiny_classifier("transformer", position_embedding_type="sinusoidal", attn_implementation=attention)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, attn_implementation=attention).eval()
    assert torch.equal(reloaded.model.embeddings.position_table, model.model.embeddings.position_table)
    input_ids, attention_mask = pad_batch([torch.arange(2, 40), torch.arange(2, 5)])
    expected = model(input_ids, attention_mask=attention_mask).logits
    assert torch.equal(reloaded(input_ids, attention_mask=attention_mask).logits, expected)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_alibi_attention_reads_word_order_without_position_embeddings(attention):
    """ALiBi has no position embeddings: order reaches the model only through the attention bias, which
    both kernels must apply. Two words swapped give other token states; the same words in the same
    order give the same states whatever padding follows."""
    model = tiny_classifier(
        "transformer", position_embedding_type="alibi", attn_implementation=attention
    )
    assert not any("position" in name for name, _ in model.named_parameters())
    states = model.model(torch.tensor([[5, 9, 12, 7]])).last_hidden_state
    swapped = model.model(torch.tensor([[9, 5, 12, 7]])).last_hidden_state
    assert not torch.allclose(states[0, 0], swapped[0, 1], atol=1e-4)
    padded = model.model(torch.tensor([[5, 9, 12, 7, 0, 0]]), attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]]))
    torch.testing.assert_close(padded.last_hidden_state[:, :4], states)


def test_a_config_json_naming_the_model_type_loads_its_own_config_class(architecture, tmp_path):
    """`model_type` is what saved folders name (`seqmodels_gru`, ...): each must keep loading as its own class."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": f"seqmodels_{architecture}", "vocab_size": VOCAB_SIZE}))
    assert type(AutoConfig.from_pretrained(tmp_path)) is hf_seqmodels.ARCHITECTURES[architecture].config_class


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


# Every field as the package wrote config.json before the defaults became the shipped models (then 128 wide,
# max or mean pooling, dropout 0.25 / 0.1); `vocab_size` is always the tokenizer's, here the tests' tiny one.
OLD_CONFIG_JSON = {
    "recurrent": {
        "bidirectional": True,
        "classifier_dropout": 0.25,
        "embedding_dropout": 0.25,
        "embedding_size": 128,
        "hidden_dropout": 0.25,
        "hidden_size": 128,
        "initializer_range": 0.1,
        "num_hidden_layers": 1,
        "pad_token_id": 0,
        "pooling": "max",
        "vocab_size": VOCAB_SIZE,
    },
    "transformer": {
        "attention_dropout": 0.0,
        "classifier_dropout": 0.1,
        "embedding_dropout": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout": 0.1,
        "hidden_size": 128,
        "initializer_range": 0.02,
        "intermediate_size": 256,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 512,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "pooling": "mean",
        "position_embedding_type": "learned",
        "vocab_size": VOCAB_SIZE,
    },
}


# Fields added since; a folder saved before has none of them, and their defaults keep its model unchanged.
FIELDS_ADDED_SINCE = {"tie_word_embeddings", "mlm_vocab_size"}  # used by the masked-LM head only


def test_folders_saved_with_the_old_defaults_load_and_predict_as_before(architecture, tmp_path):
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    old_fields = OLD_CONFIG_JSON["transformer" if architecture == "transformer" else "recurrent"]
    old_fields = old_fields | ({"nonlinearity": "tanh"} if architecture == "rnn" else {})
    assert set(old_fields) | FIELDS_ADDED_SINCE == set(own_config_fields(config_class))  # the literal is complete
    model = tiny_classifier(architecture, **old_fields)
    model.save_pretrained(tmp_path)
    # config.json as the package wrote it then: every field it had, not only those that differed from the defaults
    written = json.loads((tmp_path / "config.json").read_text())
    written = {key: value for key, value in written.items() if key not in old_fields.keys() | FIELDS_ADDED_SINCE}
    written |= old_fields
    (tmp_path / "config.json").write_text(json.dumps(written))

    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert {field: getattr(reloaded.config, field) for field in old_fields} == old_fields
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    expected = model(input_ids, attention_mask=attention_mask).logits
    assert torch.equal(reloaded(input_ids, attention_mask=attention_mask).logits, expected)


def test_saved_config_stores_every_field_so_new_defaults_cannot_change_old_folders(architecture, tmp_path):
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    config_class().save_pretrained(tmp_path)  # the defaults: the fields a diff-only config.json would leave out
    written = json.loads((tmp_path / "config.json").read_text())
    assert set(own_config_fields(config_class)) <= set(written)


def test_documented_defaults_are_the_defaults(architecture):
    """Each `name (`type`, *optional*, defaults to X):` line of the config docstrings says the real default."""
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    docstrings = "".join(cls.__doc__ or "" for cls in config_class.__mro__ if issubclass(cls, PreTrainedConfig))
    documented = dict(re.findall(r"(\w+) \(`[^`]+`, \*optional\*, defaults to (.+?)\):", docstrings))
    fields = own_config_fields(config_class)
    assert set(fields) <= set(documented), f"undocumented: {set(fields) - set(documented)}"
    defaults = config_class()
    for field in fields:
        assert ast.literal_eval(documented[field].strip("`")) == getattr(defaults, field), field


def test_hidden_states_end_with_last_hidden_state(architecture):
    """As in transformers: the last entry of `hidden_states` is `last_hidden_state` (padding masked alike;
    the Transformer's without its [CLS] position)."""
    generator = torch.Generator().manual_seed(3)
    input_ids, attention_mask = pad_batch([random_ids(generator, 9), random_ids(generator, 3)])
    left_ids, left_mask = input_ids.flip(1), attention_mask.flip(1)  # row 1 left-padded too
    for variant in variants(architecture):
        encoder = tiny_classifier(architecture, **variant).model
        for ids, mask in ((input_ids, attention_mask), (left_ids, left_mask)):
            outputs = encoder(ids, attention_mask=mask, output_hidden_states=True)
            last = outputs.hidden_states[-1][:, 1:] if architecture == "transformer" else outputs.hidden_states[-1]
            assert torch.equal(last, outputs.last_hidden_state), variant


@pytest.mark.parametrize("base_class", [RecurrentModel, RecurrentPreTrainedModel, TransformerPreTrainedModel])
def test_shared_base_classes_refuse_to_save_with_a_clear_error(base_class, tmp_path):
    """A base class has no class of its own in `auto_map`: its folder would not load with `trust_remote_code`."""
    architecture = "transformer" if base_class is TransformerPreTrainedModel else "gru"
    with pytest.raises(TypeError, match=rf"{base_class.__name__} is a shared base class and cannot be saved"):
        base_class(tiny_config(architecture)).save_pretrained(tmp_path)
    assert not (tmp_path / "config.json").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_training_step_never_waits_for_the_gpu(architecture):
    """No forward or backward reads a value back to the host: the GPU stays ahead of Python."""
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    batch = {"input_ids": input_ids.cuda(), "attention_mask": attention_mask.cuda(), "labels": torch.tensor([0, 1]).cuda()}
    for variant in variants(architecture):
        model = tiny_classifier(architecture, **variant).cuda().train()
        model(**batch).loss.backward()  # the first step initialises the CUDA libraries (which may synchronize)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            model(**batch).loss.backward()
            left = {"input_ids": batch["input_ids"].flip(1), "attention_mask": batch["attention_mask"].flip(1)}
            model(**left, labels=batch["labels"]).loss.backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")


def test_recurrent_models_export_and_compile_as_one_graph_right_for_any_padding(architecture):
    """`torch.export` and `torch.compile(fullgraph=True)` record one graph for every later batch: it must hold
    the reordering a left-padded batch needs, not the branch the example batch happened to take."""
    model = tiny_classifier(architecture)
    right_ids, right_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])  # right-padded, as traced
    left_ids, left_mask = right_ids.clone(), right_mask.clone()
    left_ids[1], left_mask[1] = right_ids[1].roll(4), right_mask[1].roll(4)  # the short row left-padded
    with torch.no_grad():
        expected = {side: model(ids, attention_mask=mask).logits for side, ids, mask in (("right", right_ids, right_mask), ("left", left_ids, left_mask))}
        torch.testing.assert_close(expected["left"], expected["right"], atol=1e-5, rtol=0)
        program = torch.export.export(model, (), {"input_ids": right_ids, "attention_mask": right_mask}, strict=False)
        compiled = torch.compile(model, fullgraph=True, backend="eager")  # a graph break would raise
        # Dynamo traces torch's recurrent modules only when asked to (they are "experimental" there).
        with torch._dynamo.config.patch(allow_rnn=True):
            for run in (program.module(), compiled):
                for side, ids, mask in (("left", left_ids, left_mask), ("right", right_ids, right_mask)):
                    torch.testing.assert_close(run(input_ids=ids, attention_mask=mask).logits, expected[side], atol=1e-5, rtol=0)


def test_lora_on_the_recurrent_weights_trains():
    """peft's LoRA on the recurrent matrices wraps each cell (`target_parameters`): the cell is then no torch
    RNN module, and a training step must still run, train the adapters and leave the base weights alone."""
    peft = pytest.importorskip("peft")
    model = tiny_classifier("gru").train()
    base_weights = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    targets = ["forward_cell.weight_hh_l0", "backward_cell.weight_hh_l0", "forward_cell.weight_ih_l0"]
    lora = peft.get_peft_model(model, peft.LoraConfig(r=2, target_parameters=targets, modules_to_save=["classifier"]))
    assert type(lora.base_model.model.model.layers[0].forward_cell).__name__ == "ParamWrapper"
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    labels = torch.tensor([0, 1])
    before = lora(input_ids=input_ids, attention_mask=attention_mask).logits.detach()
    optimizer = torch.optim.SGD([p for p in lora.parameters() if p.requires_grad], lr=1.0)
    lora(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    adapter_grads = [p.grad for name, p in lora.named_parameters() if "lora_B" in name]
    assert len(adapter_grads) == 3 * model.config.num_hidden_layers and all(g.abs().sum() > 0 for g in adapter_grads)
    optimizer.step()
    lora.eval()
    with torch.no_grad():
        # Only the adapters' change: the classifier (also trained) is the original one here.
        lora.base_model.model.classifier.original_module.load_state_dict(lora.base_model.model.classifier.modules_to_save.default.state_dict())
    after = lora(input_ids=input_ids, attention_mask=attention_mask).logits.detach()
    assert not torch.allclose(after, before, atol=1e-4)
    unchanged = {name: p for name, p in lora.base_model.model.named_parameters() if "lora_" not in name and "classifier" not in name}
    assert unchanged and all(torch.equal(p, base_weights[name.replace(".base_layer", "")]) for name, p in unchanged.items())


def test_gradient_checkpointing_gives_the_same_gradients(architecture):
    """`gradient_checkpointing_enable()` (as `TrainingArguments(gradient_checkpointing=True)` calls it) recomputes
    the layers in the backward pass: each layer must be checkpointed and the gradients must not change."""
    model = tiny_classifier(architecture).train()
    assert model.supports_gradient_checkpointing
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    left = {"input_ids": input_ids.flip(1), "attention_mask": attention_mask.flip(1)}
    batch = {"input_ids": torch.cat([input_ids, left["input_ids"]]), "attention_mask": torch.cat([attention_mask, left["attention_mask"]])}
    gradients, calls = {}, []
    # The layer's first sub-module runs once per step, and once more in the backward pass when checkpointed.
    next(model.model.layers[0].children()).register_forward_hook(lambda *_: calls.append(checkpointing))
    for checkpointing in (False, True):
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            assert all(layer.gradient_checkpointing for layer in model.model.layers)
        model.zero_grad()
        torch.manual_seed(0)  # the same dropout masks (the recomputation replays the layer's own)
        model(**batch, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
        gradients[checkpointing] = {name: p.grad.clone() for name, p in model.named_parameters()}
    assert calls == [False, True, True]
    for name, expected in gradients[False].items():
        torch.testing.assert_close(gradients[True][name], expected, atol=1e-6, rtol=1e-5, msg=name)


def test_inputs_embeds_give_what_input_ids_give(architecture):
    """As in BERT: the embedding rows instead of the ids (exactly one of the two); without a mask, every
    position of `inputs_embeds` is real."""
    model = tiny_classifier(architecture)
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    embeds = model.get_input_embeddings()(input_ids)
    with torch.no_grad():
        expected = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
        got = model(inputs_embeds=embeds, attention_mask=attention_mask, output_hidden_states=True)
        torch.testing.assert_close(got.logits, expected.logits, atol=1e-6, rtol=0)
        for got_states, expected_states in zip(got.hidden_states, expected.hidden_states):
            torch.testing.assert_close(got_states, expected_states, atol=1e-6, rtol=0)
        unpadded = model(input_ids[:1]).logits  # row 0 has no padding
        torch.testing.assert_close(model(inputs_embeds=embeds[:1]).logits, unpadded, atol=1e-6, rtol=0)
        for encoder in (model, model.model):
            with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
                encoder(input_ids, inputs_embeds=embeds)
            with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
                encoder(attention_mask=attention_mask)


@pytest.mark.parametrize("positions", ["learned", "alibi"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_transformer_returns_its_attention_weights(attention, positions):
    """One (B, heads, 1+T, 1+T) tensor of probabilities per layer ([CLS] first), padding given none; asking
    for them changes nothing else (SDPA computes none, so the eager kernel runs for that call)."""
    model = tiny_classifier("transformer", attn_implementation=attention, position_embedding_type=positions)
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    with torch.no_grad():
        plain = model(input_ids, attention_mask=attention_mask)
        outputs = model(input_ids, attention_mask=attention_mask, output_attentions=True)
    assert plain.attentions is None
    torch.testing.assert_close(outputs.logits, plain.logits, atol=1e-5, rtol=0)
    heads, layers = model.config.num_attention_heads, model.config.num_hidden_layers
    assert len(outputs.attentions) == layers
    for weights in outputs.attentions:
        assert weights.shape == (2, heads, 8, 8)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, heads, 8))
        assert torch.all(weights[1, :, :, 4:] == 0)  # row 1's padding (after [CLS] and 3 tokens) is never attended
    if attention == "eager":  # transformers refuses the config default with another kernel
        model.config.output_attentions = True
        assert len(model(input_ids, attention_mask=attention_mask).attentions) == layers


def test_recurrent_models_say_they_have_no_attentions(architecture):
    if architecture == "transformer":
        pytest.skip("the Transformer has attention weights")
    model = tiny_classifier(architecture)
    for encoder in (model, model.model):
        with pytest.raises(ValueError, match="has no attention weights .* output_attentions must be False"):
            encoder(torch.tensor([[2, 3, 4]]), output_attentions=True)


def test_hidden_states_are_the_tensors_the_layers_read(architecture):
    """`retain_grad()` on a returned hidden state gets the gradient of the loss (not a copy made after the
    forward), for right- and left-padded rows alike. The recurrent models' last one is `last_hidden_state`,
    zero over padding, which their heads do not read: poolings skip padding themselves and read the layer's
    output before that masking (a multiply less in every training step)."""
    model = tiny_classifier(architecture, pooling="mean").train()
    input_ids, attention_mask = pad_batch([torch.arange(2, 9), torch.arange(2, 5)])
    attention_mask[1] = attention_mask[1].flip(0)  # row 1 left-padded
    input_ids = input_ids * attention_mask
    outputs = model(input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 1]), output_hidden_states=True)
    for states in outputs.hidden_states:
        states.retain_grad()
    outputs.loss.backward()
    read = outputs.hidden_states if architecture == "transformer" else outputs.hidden_states[:-1]
    for layer, states in enumerate(read):
        assert states.grad is not None and states.grad.abs().sum() > 0, f"layer {layer}"
