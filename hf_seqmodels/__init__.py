"""hf_seqmodels: RNN, LSTM, GRU and a small Transformer text classifier as Hugging Face transformers models.

Importing the package registers the four architectures with `AutoConfig`, `AutoModel` and
`AutoModelForSequenceClassification`. `train(*parse_args([...]))` trains one of them the way
`hf-seqmodels train` does.
"""

from .models import (
    ARCHITECTURES,
    GRUConfig,
    GRUForSequenceClassification,
    GRUModel,
    LSTMConfig,
    LSTMForSequenceClassification,
    LSTMModel,
    RecurrentConfig,
    RNNConfig,
    RNNForSequenceClassification,
    RNNModel,
    TransformerConfig,
    TransformerForSequenceClassification,
    TransformerModel,
)
from .data import load_newsgroups, load_text_dataset
from .tokenization import train_tokenizer
from .training import DataArguments, ModelArguments, SeqModelsTrainingArguments, parse_args, train

__version__ = "0.1.0"

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
    "train_tokenizer",
    "load_newsgroups",
    "load_text_dataset",
    "ModelArguments",
    "DataArguments",
    "SeqModelsTrainingArguments",
    "parse_args",
    "train",
]
