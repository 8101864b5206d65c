"""The four architectures, registered with transformers' Auto classes when this package is imported.

After `import hf_seqmodels`, `AutoConfig`, `AutoModel`, `AutoModelForSequenceClassification` and
`AutoModelForMaskedLM` know every `model_type` here, so saved folders load without `trust_remote_code`.
`register_for_auto_class` makes `save_pretrained` copy the modeling files beside the weights, so the
same folder also loads with `trust_remote_code=True` where this package is not installed.
"""

import dataclasses
from dataclasses import dataclass

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    PreTrainedConfig,
)

from .configuration_recurrent import GRUConfig, LSTMConfig, RecurrentConfig, RNNConfig
from .configuration_transformer import TransformerConfig
from .modeling_recurrent import (
    GRUForMaskedLM,
    GRUForSequenceClassification,
    GRUModel,
    LSTMForMaskedLM,
    LSTMForSequenceClassification,
    LSTMModel,
    RNNForMaskedLM,
    RNNForSequenceClassification,
    RNNModel,
)
from .modeling_transformer import TransformerForMaskedLM, TransformerForSequenceClassification, TransformerModel


@dataclass(frozen=True)
class Architecture:
    """One architecture's classes, under the short name the commands use (`--architecture gru`)."""

    name: str
    title: str  # how reports name it: "GRU"
    description: str  # how a model card names it: "Elman RNN" ("An Elman RNN text classifier ...")
    config_class: type
    encoder_class: type  # the encoder alone (AutoModel)
    classifier_class: type  # encoder + classification head (AutoModelForSequenceClassification)
    masked_lm_class: type  # encoder + masked-language-model head (AutoModelForMaskedLM), for pretraining


ARCHITECTURES = {
    architecture.name: architecture
    for architecture in (
        Architecture("rnn", "RNN", "Elman RNN", RNNConfig, RNNModel, RNNForSequenceClassification, RNNForMaskedLM),
        Architecture("lstm", "LSTM", "LSTM", LSTMConfig, LSTMModel, LSTMForSequenceClassification, LSTMForMaskedLM),
        Architecture("gru", "GRU", "GRU", GRUConfig, GRUModel, GRUForSequenceClassification, GRUForMaskedLM),
        Architecture(
            "transformer",
            "Transformer",
            "pre-norm Transformer encoder",
            TransformerConfig,
            TransformerModel,
            TransformerForSequenceClassification,
            TransformerForMaskedLM,
        ),
    )
}

for architecture in ARCHITECTURES.values():
    AutoConfig.register(architecture.config_class.model_type, architecture.config_class, exist_ok=True)
    AutoModel.register(architecture.config_class, architecture.encoder_class, exist_ok=True)
    AutoModelForSequenceClassification.register(architecture.config_class, architecture.classifier_class, exist_ok=True)
    architecture.config_class.register_for_auto_class()
    architecture.encoder_class.register_for_auto_class("AutoModel")
    architecture.classifier_class.register_for_auto_class("AutoModelForSequenceClassification")
    AutoModelForMaskedLM.register(architecture.config_class, architecture.masked_lm_class, exist_ok=True)
    architecture.masked_lm_class.register_for_auto_class("AutoModelForMaskedLM")


def own_config_fields(config_class) -> list[str]:
    """The architecture's own config fields, without those every transformers config has (labels, dtype, ...)."""
    common = {f.name for f in dataclasses.fields(PreTrainedConfig)}
    return [f.name for f in dataclasses.fields(config_class) if f.name not in common]


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "RecurrentConfig",
    "RNNConfig",
    "LSTMConfig",
    "GRUConfig",
    "TransformerConfig",
    "RNNModel",
    "LSTMModel",
    "GRUModel",
    "TransformerModel",
    "RNNForSequenceClassification",
    "LSTMForSequenceClassification",
    "GRUForSequenceClassification",
    "TransformerForSequenceClassification",
    "RNNForMaskedLM",
    "LSTMForMaskedLM",
    "GRUForMaskedLM",
    "TransformerForMaskedLM",
    "own_config_fields",
]
