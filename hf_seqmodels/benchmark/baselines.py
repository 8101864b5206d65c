"""The baselines: what a user would write without this package, at the size of our models.

- the textbook PyTorch model: `nn.RNN` / `nn.LSTM` / `nn.GRU` over `pack_padded_sequence`, and
  `nn.TransformerEncoder` with its default dropout (0.1, attention dropout included);
- transformers' `BertForSequenceClassification` with the Transformer's dimensions (BERT's defaults
  otherwise, dropouts included);
- for reference, the same `nn.RNN` / `nn.LSTM` / `nn.GRU` run unpacked: fast but not exact, since its
  backward direction reads the padding first.
"""

import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from ..models.modeling_transformer import sinusoidal_table


class TextbookRecurrentClassifier(nn.Module):
    """Embedding -> nn.RNN / nn.LSTM / nn.GRU -> max over the real tokens -> linear.

    The same sizes, dropouts and pooling as our recurrent classifier. `packed=True` is the textbook way
    to keep the backward direction from reading the padding first (`pack_padded_sequence`);
    `packed=False` runs the module on the padded batch: fast, but the backward direction is not exact.
    """

    def __init__(self, config, packed: bool = True):
        super().__init__()
        self.packed = packed
        kwargs = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.rnn = getattr(nn, config.cell.upper())(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            bidirectional=config.bidirectional,
            dropout=config.hidden_dropout if config.num_hidden_layers > 1 else 0.0,
            batch_first=True,
            **kwargs,
        )
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size * (2 if config.bidirectional else 1), config.num_labels)

    def forward(self, input_ids, attention_mask, labels=None):
        mask = attention_mask.bool()
        embedded = self.embedding_dropout(self.embeddings(input_ids))
        if self.packed:
            lengths = mask.sum(dim=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=input_ids.shape[1])
        else:
            outputs = self.rnn(embedded)[0]
        pooled = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        return classify(self.classifier(self.dropout(pooled)), labels)


class TextbookTransformerClassifier(nn.Module):
    """Embedding + positions -> nn.TransformerEncoder (default dropout 0.1) -> masked mean -> linear.

    The dimensions of our Transformer (hidden size, heads, feed-forward width, layers, activation,
    learned or sinusoidal positions).
    """

    def __init__(self, config):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        if config.position_embedding_type == "learned":
            self.positions = nn.Parameter(0.02 * torch.randn(config.max_position_embeddings, config.hidden_size))
        else:
            self.register_buffer("positions", sinusoidal_table(config.max_position_embeddings, config.hidden_size))
        self.dropout = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_attention_heads,
            dim_feedforward=config.intermediate_size,
            activation=config.hidden_act,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_hidden_layers)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, attention_mask, labels=None):
        mask = attention_mask.bool()
        states = self.dropout(self.embeddings(input_ids) + self.positions[: input_ids.shape[1]])
        states = self.encoder(states, src_key_padding_mask=~mask)
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return classify(self.classifier(self.dropout(pooled)), labels)


def classify(logits: torch.Tensor, labels: torch.Tensor | None) -> SequenceClassifierOutput:
    """The logits, and their cross-entropy loss when labels are given: what the timing's steps read."""
    loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits)


def bert_of_same_size(config) -> BertForSequenceClassification:
    """transformers' BERT classifier with the Transformer's dimensions and BERT's own defaults otherwise."""
    bert_config = BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_act=config.hidden_act,
        max_position_embeddings=config.max_position_embeddings,
        num_labels=config.num_labels,
    )
    return BertForSequenceClassification(bert_config)
