"""Keras 3 peers: what a reader of the Keras notebook this project started from would write instead.

Each architecture's default size in Keras layers on Keras's torch backend, where a Keras model is a
`torch.nn.Module`: `KerasClassifier` gives it the forward the timing calls (`loss`, `logits`), so that
it is trained by the same fused AdamW step and timed by the same passes as every other contender.
What is measured is Keras's layers (their forward and backward), not Keras's `fit` loop.

Masking is Keras's own: `Embedding(mask_zero=True)` masks the padding (id 0, the tokenizer's [PAD]),
the recurrent layers and `MultiHeadAttention` read the mask, `GlobalAveragePooling1D` averages over the
real tokens. `GlobalMaxPooling1D` ignores masks (the backward direction's padded steps would enter the
max), hence `MaskedGlobalMaxPooling1D` below. With a mask, Keras runs `SimpleRNN` / `LSTM` / `GRU` as its
generic step-by-step loop on every device: its torch backend's fused (cuDNN) path refuses masks.

Keras is an optional extra (`pip install hf_seqmodels[bench]`), imported only when the Keras rows are
asked for, with `KERAS_BACKEND=torch` set first.
"""

import importlib.util
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

from ..errors import UsageError

KERAS_CELLS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def check_keras_installed() -> None:
    """One line naming the extra, before any minute of benchmarking is spent."""
    if importlib.util.find_spec("keras") is None:
        raise UsageError("--keras needs `pip install hf_seqmodels[bench]` (Keras 3, run on its torch backend)")


def import_keras():
    """keras, on the torch backend: the backend is fixed when keras is first imported."""
    check_keras_installed()
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    if keras.backend.backend() != "torch":
        loaded = "keras was already imported" if "keras" in sys.modules else "KERAS_BACKEND"
        raise UsageError(f"--keras needs Keras's torch backend, got {keras.backend.backend()!r} ({loaded})")
    return keras


class KerasClassifier(nn.Module):
    """A Keras model (token ids -> logits) called as the benchmark calls a transformers classifier."""

    def __init__(self, keras_model):
        super().__init__()
        self.keras_model = keras_model

    def forward(self, input_ids, attention_mask=None, labels=None):
        # The mask comes from the ids (mask_zero): the batches are padded with id 0.
        logits = self.keras_model(input_ids, training=self.training)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def keras_description(architecture: str, config) -> str:
    """The row's `model` column: the layers, and where they differ from ours."""
    if architecture == "transformer":
        return (
            f"Embedding + learned positions, {config.num_hidden_layers} pre-norm blocks of MultiHeadAttention "
            f"({config.num_attention_heads} heads) + Dense FFN {config.intermediate_size}, mean+max pooling; "
            "no [CLS] token, no sqrt(d) embedding scale"
        )
    # Keras's GRU (reset_after=True) keeps two bias vectors as torch does; its LSTM and SimpleRNN keep one.
    bias = "" if architecture == "gru" else "one bias vector where torch has two; "
    return (
        f"Embedding(mask_zero) + {config.num_hidden_layers} x Bidirectional({KERAS_CELLS[architecture]}({config.hidden_size})), "
        f"mean+max pooling; {bias}masked, so Keras's Python step loop (its fused kernels take no mask)"
    )


def build_keras_classifier(architecture: str, config, seed: int) -> KerasClassifier:
    """The Keras peer of `architecture` at `config`'s sizes, its weights drawn from `seed`."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    build = build_keras_transformer if architecture == "transformer" else build_keras_recurrent
    return KerasClassifier(build(keras, architecture, config))


def build_keras_recurrent(keras, architecture: str, config):
    layers = keras.layers
    token_ids = keras.Input(shape=(None,), dtype="int64")
    states = layers.Embedding(config.vocab_size, config.embedding_size, mask_zero=True)(token_ids)
    cell = getattr(layers, KERAS_CELLS[architecture])
    for index in range(config.num_hidden_layers):
        if index > 0:
            states = layers.Dropout(config.hidden_dropout)(states)
        recurrent = cell(config.hidden_size, return_sequences=True)
        states = layers.Bidirectional(recurrent)(states) if config.bidirectional else recurrent(states)
    return classifier_head(keras, token_ids, states, config.classifier_dropout, config.num_labels)


def build_keras_transformer(keras, architecture: str, config):
    layers = keras.layers
    token_ids = keras.Input(shape=(None,), dtype="int64")
    states = layers.Embedding(config.vocab_size, config.hidden_size, mask_zero=True)(token_ids)
    states = learned_positions(keras, config.max_position_embeddings, config.hidden_size)(states)
    states = layers.LayerNormalization(epsilon=config.layer_norm_eps)(states)
    for _ in range(config.num_hidden_layers):
        normed = layers.LayerNormalization(epsilon=config.layer_norm_eps)(states)
        attention = layers.MultiHeadAttention(config.num_attention_heads, config.hidden_size // config.num_attention_heads)
        states = layers.Add()([states, attention(normed, normed)])
        normed = layers.LayerNormalization(epsilon=config.layer_norm_eps)(states)
        feed_forward = layers.Dense(config.intermediate_size, activation=config.hidden_act)(normed)
        states = layers.Add()([states, layers.Dense(config.hidden_size)(feed_forward)])
    states = layers.LayerNormalization(epsilon=config.layer_norm_eps)(states)
    return classifier_head(keras, token_ids, states, config.classifier_dropout, config.num_labels)


def classifier_head(keras, token_ids, states, dropout: float, num_labels: int):
    """Mean and max over the real tokens, concatenated, dropout, a linear layer: our `mean_max` head."""
    layers = keras.layers
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(states), masked_max_pooling(keras)(states)])
    logits = layers.Dense(num_labels)(layers.Dropout(dropout)(pooled))
    return keras.Model(token_ids, logits)


def masked_max_pooling(keras):
    """A max over the real tokens only (Keras's GlobalMaxPooling1D takes the max over padding too)."""

    class MaskedGlobalMaxPooling1D(keras.layers.Layer):
        def call(self, states, mask=None):
            if mask is not None:
                states = keras.ops.where(keras.ops.expand_dims(mask, -1), states, torch.finfo(torch.float32).min)
            return keras.ops.max(states, axis=1)

        def compute_mask(self, states, mask=None):
            return None

    return MaskedGlobalMaxPooling1D()


def learned_positions(keras, max_positions: int, width: int):
    """Adds a learned position embedding to the token embeddings and keeps their mask (Keras has no such layer;
    keras_hub's PositionEmbedding would be another dependency)."""

    class LearnedPositions(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True
            self.table = keras.layers.Embedding(max_positions, width)

        def call(self, tokens):
            positions = keras.ops.arange(keras.ops.shape(tokens)[1])
            return tokens + keras.ops.expand_dims(self.table(positions), 0)

    return LearnedPositions()
