"""The four architectures, registered with transformers' Auto classes when this package is imported.

After `import hf_seqmodels`, `AutoConfig`, `AutoModel` and `AutoModelForSequenceClassification` know
every `model_type` here, so saved folders load without `trust_remote_code`. `register_for_auto_class`
makes `save_pretrained` copy the modeling files beside the weights, so the same folder also loads
with `trust_remote_code=True` where this package is not installed.
"""

import dataclasses

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PreTrainedConfig

from .configuration_recurrent import GRUConfig, LSTMConfig, RecurrentConfig, RNNConfig
from .configuration_transformer import TransformerConfig
from .modeling_recurrent import (
    GRUForSequenceClassification,
    GRUModel,
    LSTMForSequenceClassification,
    LSTMModel,
    RNNForSequenceClassification,
    RNNModel,
)
from .modeling_transformer import TransformerForSequenceClassification, TransformerModel

# architecture name -> (config, encoder, classifier)
ARCHITECTURES = {
    "rnn": (RNNConfig, RNNModel, RNNForSequenceClassification),
    "lstm": (LSTMConfig, LSTMModel, LSTMForSequenceClassification),
    "gru": (GRUConfig, GRUModel, GRUForSequenceClassification),
    "transformer": (TransformerConfig, TransformerModel, TransformerForSequenceClassification),
}

for config_class, model_class, classifier_class in ARCHITECTURES.values():
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    AutoModelForSequenceClassification.register(config_class, classifier_class, exist_ok=True)
    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")
    classifier_class.register_for_auto_class("AutoModelForSequenceClassification")


def own_config_fields(config_class) -> list[str]:
    """The architecture's own config fields, without those every transformers config has (labels, dtype, ...)."""
    common = {f.name for f in dataclasses.fields(PreTrainedConfig)}
    return [f.name for f in dataclasses.fields(config_class) if f.name not in common]


__all__ = [
    "ARCHITECTURES",
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
    "own_config_fields",
]
