"""The four architectures, registered with transformers' Auto classes when this package is imported.

After `import hf_seqmodels`, `AutoConfig`, `AutoModel` and `AutoModelForSequenceClassification` know
every `model_type` here, so saved folders load without `trust_remote_code`. `register_for_auto_class`
makes `save_pretrained` copy the modeling files beside the weights, so the same folder also loads
with `trust_remote_code=True` where this package is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

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
]
