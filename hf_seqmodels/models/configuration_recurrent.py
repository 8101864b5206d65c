"""Configurations of the recurrent classifiers: RNN, LSTM and GRU.

The three share every option (one `RecurrentConfig` base); the subclass only fixes the recurrent cell
and its own `model_type`. This file is copied next to saved weights, so it imports nothing from
`hf_seqmodels` (see `save_pretrained` in `modeling_common.py`).
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import check_choice, check_mlm_vocab_size, check_pad_token_id, check_range

RECURRENT_POOLINGS = ("max", "mean", "last", "mean_max")


@strict
class RecurrentConfig(PreTrainedConfig):
    r"""
    Options shared by [`RNNConfig`], [`LSTMConfig`] and [`GRUConfig`]. As in transformers, the defaults are
    the shipped model: the one `hf_seqmodels/configs/{rnn,lstm,gru}.json` trains on 20 Newsgroups (a
    60000-token vocabulary, 200-wide embeddings, one bidirectional layer of 96 per direction, mean and
    max pooling concatenated).

    Args:
        vocab_size (`int`, *optional*, defaults to 60000):
            Number of token ids the embedding accepts; must match the tokenizer's vocabulary.
        embedding_size (`int`, *optional*, defaults to 200):
            Width of the token embeddings fed to the first recurrent layer.
        hidden_size (`int`, *optional*, defaults to 96):
            Hidden state size of each recurrent layer and direction.
        num_hidden_layers (`int`, *optional*, defaults to 1):
            Number of stacked recurrent layers.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Whether each layer also reads the sequence backwards; the pooled output is then
            `2 * hidden_size` wide.
        pooling (`str`, *optional*, defaults to `"mean_max"`):
            How the per-token states become one vector: `"max"` or `"mean"` over the real tokens,
            `"last"` (the final state of each direction), or `"mean_max"` (both, concatenated).
            Pooling over time lets the gradient reach every position directly, which is what makes
            long posts learnable; `"last"` is the textbook choice and trains far worse on them.
        embedding_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the token embeddings.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout between stacked layers.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the classification layer.
        initializer_range (`float`, *optional*, defaults to 0.1):
            Standard deviation of the normal initializer of the embedding and linear layers.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token; its embedding row stays zero and it is never read as content.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether a masked-language-model head scores the vocabulary with the input embedding matrix itself.
        mlm_vocab_size (`int`, *optional*, defaults to `None`):
            A masked-language-model head scores only the ids below this (the tokenizer numbers words by
            document frequency, so: the most common words); rarer words are still masked but not predicted.
            The output layer over the whole vocabulary is most of a pretraining step's cost. `None`: all.
    """

    vocab_size: int = 60000
    embedding_size: int = 200
    hidden_size: int = 96
    num_hidden_layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean_max"
    embedding_dropout: float | int = 0.0
    hidden_dropout: float | int = 0.1
    classifier_dropout: float | int = 0.1
    initializer_range: float = 0.1
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
    mlm_vocab_size: int | None = None

    # The recurrent cell, fixed by each subclass: "rnn", "lstm" or "gru".
    cell = "gru"

    def __post_init__(self, **kwargs):
        name = type(self).__name__
        for field in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers"):
            check_range(name, field, getattr(self, field), 1)
        for field in ("embedding_dropout", "hidden_dropout", "classifier_dropout"):
            check_range(name, field, getattr(self, field), 0, 1)
        check_choice(name, "pooling", self.pooling, RECURRENT_POOLINGS)
        check_pad_token_id(name, self.pad_token_id, self.vocab_size)
        check_mlm_vocab_size(name, self.mlm_vocab_size, self.vocab_size)
        super().__post_init__(**kwargs)

    @property
    def token_states_size(self) -> int:
        """Width of each token's output state: both directions concatenated."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def pooled_size(self) -> int:
        return self.token_states_size * (2 if self.pooling == "mean_max" else 1)


@strict
class RNNConfig(RecurrentConfig):
    r"""
    Configuration of [`RNNModel`] / [`RNNForSequenceClassification`] (Elman RNN). All options of
    [`RecurrentConfig`], plus:

    Args:
        nonlinearity (`str`, *optional*, defaults to `"tanh"`):
            `"tanh"` or `"relu"`.
    """

    model_type = "seqmodels_rnn"
    cell = "rnn"
    nonlinearity: str = "tanh"

    def __post_init__(self, **kwargs):
        check_choice(type(self).__name__, "nonlinearity", self.nonlinearity, ("tanh", "relu"))
        super().__post_init__(**kwargs)


@strict
class LSTMConfig(RecurrentConfig):
    r"""Configuration of [`LSTMModel`] / [`LSTMForSequenceClassification`]; the options of [`RecurrentConfig`]."""

    model_type = "seqmodels_lstm"
    cell = "lstm"


@strict
class GRUConfig(RecurrentConfig):
    r"""Configuration of [`GRUModel`] / [`GRUForSequenceClassification`]; the options of [`RecurrentConfig`]."""

    model_type = "seqmodels_gru"
    cell = "gru"


__all__ = ["RecurrentConfig", "RNNConfig", "LSTMConfig", "GRUConfig"]
