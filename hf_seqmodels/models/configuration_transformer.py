"""Configuration of the small pre-norm Transformer encoder classifier.

Copied next to saved weights, so it imports nothing from `hf_seqmodels`.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import check_choice, check_mlm_vocab_size, check_pad_token_id, check_range

TRANSFORMER_POOLINGS = ("cls", "mean", "max", "mean_max")
POSITION_EMBEDDING_TYPES = ("sinusoidal", "learned", "alibi")


@strict
class TransformerConfig(PreTrainedConfig):
    r"""
    Configuration of [`TransformerModel`] / [`TransformerForSequenceClassification`]. As in transformers, the
    defaults are the shipped model: the one `hf_seqmodels/configs/transformer.json` trains on 20 Newsgroups
    (a 60000-token vocabulary, 2 layers of width 128 with 4 heads, learned positions, mean and max pooling
    concatenated, no dropout but before the classifier).

    Args:
        vocab_size (`int`, *optional*, defaults to 60000):
            Number of token ids the embedding accepts; must match the tokenizer's vocabulary.
        hidden_size (`int`, *optional*, defaults to 128):
            Width of the token representations.
        num_hidden_layers (`int`, *optional*, defaults to 2):
            Number of encoder layers.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 256):
            Width of the feed-forward layer inside each encoder layer.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward layer: `"gelu"` or `"relu"`.
        max_position_embeddings (`int`, *optional*, defaults to 512):
            Longest input (in tokens, the model's own [CLS] not counted) the positions cover.
        position_embedding_type (`str`, *optional*, defaults to `"learned"`):
            `"learned"`, `"sinusoidal"` (fixed, rebuilt on load), or `"alibi"`: no position embeddings, each
            head's attention scores lowered in proportion to the distance between the two tokens (ALiBi,
            Press et al. 2022, both directions), so attention starts out local, as masked-LM pretraining
            needs. Token embeddings are scaled by `sqrt(hidden_size)` as in the original Transformer, and
            the sum with positions is layer-normalised.
        pooling (`str`, *optional*, defaults to `"mean_max"`):
            `"cls"` (a learned token the model puts in front of every input), `"mean"` or `"max"` over
            the real tokens, or `"mean_max"` (both, concatenated: the classifier reads `2 * hidden_size`).
        embedding_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the summed token and position embeddings.
        hidden_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on each sub-layer's output before the residual sum.
        attention_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities. Any value above 0 forces PyTorch's slow attention path.
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout before the classification layer.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the layer norms.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initializer.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether a masked-language-model head scores the vocabulary with the input embedding matrix itself.
        mlm_vocab_size (`int`, *optional*, defaults to `None`):
            A masked-language-model head scores only the ids below this (the tokenizer numbers words by
            document frequency, so: the most common words); rarer words are still masked but not predicted.
            The output layer over the whole vocabulary is most of a pretraining step's cost. `None`: all.
    """

    model_type = "seqmodels_transformer"

    vocab_size: int = 60000
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    position_embedding_type: str = "learned"
    pooling: str = "mean_max"
    embedding_dropout: float | int = 0.0
    hidden_dropout: float | int = 0.0
    attention_dropout: float | int = 0.0
    classifier_dropout: float | int = 0.1
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True
    mlm_vocab_size: int | None = None

    def __post_init__(self, **kwargs):
        name = type(self).__name__
        for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings"):
            check_range(name, field, getattr(self, field), 1)
        for field in ("embedding_dropout", "hidden_dropout", "attention_dropout", "classifier_dropout"):
            check_range(name, field, getattr(self, field), 0, 1)
        check_range(name, "layer_norm_eps", self.layer_norm_eps, 0, low_inclusive=False)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"{name}.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})."
            )
        check_choice(name, "hidden_act", self.hidden_act, ("gelu", "relu"))
        check_choice(name, "position_embedding_type", self.position_embedding_type, POSITION_EMBEDDING_TYPES)
        check_choice(name, "pooling", self.pooling, TRANSFORMER_POOLINGS)
        check_pad_token_id(name, self.pad_token_id, self.vocab_size)
        check_mlm_vocab_size(name, self.mlm_vocab_size, self.vocab_size)
        super().__post_init__(**kwargs)

    @property
    def token_states_size(self) -> int:
        """Width of each token's output state."""
        return self.hidden_size

    @property
    def pooled_size(self) -> int:
        return self.hidden_size * (2 if self.pooling == "mean_max" else 1)


__all__ = ["TransformerConfig"]
