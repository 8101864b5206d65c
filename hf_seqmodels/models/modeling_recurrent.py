"""RNN, LSTM and GRU text classifiers as transformers models.

The three differ only in the torch recurrent module (and the LSTM's extra cell state, which torch
keeps to itself), so one encoder reads `config.cell` to pick it:

    input_ids (B, T) -> embedding (B, T, E) -> [recurrent layer, both directions] x L -> (B, T, D*H)
      -> pooling over the real tokens (max / mean / last / mean_max) -> (B, P) -> dropout -> linear

The heads are shared with the Transformer (`modeling_common.py`): `SeqModelsForSequenceClassification`
over the pooled output, and `SeqModelsForMaskedLM` over every token's state.

Exactness and speed. A sequence's result must not depend on the padding after it. The forward
direction never sees what follows, so it is exact on a padded batch as it is. The backward direction
would read the padding first; `pack_padded_sequence` fixes that but makes a CPU step about 3x slower.
Instead each sequence is reversed within its own length (one gather), read by a plain forward-running
module, and reversed back: exact, and every direction still runs as one fused cuDNN / oneDNN call.
A left-padded row is read the same way, its real tokens first (`ReadingOrder`); each layer gives its
states back at the input's columns, so `hidden_states` are the tensors the layers read.
"""

from typing import NamedTuple

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import can_return_tuple

from .configuration_recurrent import GRUConfig, LSTMConfig, RecurrentConfig, RNNConfig
from .modeling_common import (
    SeqModelsForMaskedLM,
    SeqModelsForSequenceClassification,
    SeqModelsPreTrainedModel,
    check_token_ids,
    pool_over_tokens,
)

TORCH_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def is_tracing() -> bool:
    """Whether this forward is being recorded as a graph (`torch.compile`, `torch.export`, the TorchScript
    tracer, either ONNX exporter) rather than run."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class ReadingOrder(NamedTuple):
    """Where each direction reads its steps from, as row indices into the flattened (B*T, C) states.

    A recurrence must read each row's real tokens first: the forward direction in order, the backward one
    reversed; the padding comes after them, where no real token's state can depend on it. `forward` is
    None when every row is right-padded already (read as it is). Each `*_restore` puts the states read in
    that order back at their own columns, so every layer takes and gives states aligned with the input.
    """

    forward: torch.Tensor | None
    forward_restore: torch.Tensor | None
    backward: torch.Tensor
    backward_restore: torch.Tensor

    @classmethod
    def of(cls, mask: torch.Tensor, right_padded: bool) -> "ReadingOrder":
        """mask: (B, T) bool. `right_padded` promises that each row's real tokens come first."""
        batch, length = mask.shape
        positions = torch.arange(length, device=mask.device).unsqueeze(0)  # (1, T)
        lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
        # Reversing the first `lengths[b]` steps of the real-tokens-first order, padding left in place:
        # its own inverse.
        reversed_positions = lengths - 1 - positions
        reverse = torch.where(reversed_positions >= 0, reversed_positions, positions).expand(batch, length)
        if right_padded:
            order = restore = None
            backward = backward_restore = reverse
        else:
            # Real tokens first, each group in column order: the keys are distinct, so no stable sort is needed.
            order = torch.where(mask, positions, positions + length).argsort(dim=1)  # (B, T): columns read
            restore = order.argsort(dim=1)
            backward, backward_restore = order.gather(1, reverse), reverse.gather(1, restore)
        row_starts = length * torch.arange(batch, device=mask.device).unsqueeze(1)  # (B, 1)
        flat = [None if index is None else (index + row_starts).view(-1) for index in (order, restore, backward, backward_restore)]
        return cls(*flat)


def read_rows(states: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """states (B, T, C), index (B*T,) into the flattened rows -> (B, T, C).

    Whole rows of the flattened states move, rather than one element at a time as with `gather`: forward +
    backward take 3 ms instead of 7 at 64 x 233 x 128 on CPU (1-2% of a step).
    """
    batch, length, channels = states.shape
    return states.reshape(batch * length, channels).index_select(0, index).view(batch, length, channels)


def flatten_cell_parameters(cell: nn.Module) -> None:
    """Keeps cuDNN's weights in one block after DDP replication (a no-op on CPU). A cell wrapped by another
    library (peft's LoRA on the recurrent weights puts a `ParamWrapper` in its place) has no such method and
    its weights are not torch's flat block any more, so there is nothing to flatten."""
    flatten = getattr(cell, "flatten_parameters", None)
    if isinstance(cell, nn.RNNBase) and flatten is not None:
        flatten()


class RecurrentLayer(GradientCheckpointingLayer):
    """One recurrent layer; with `bidirectional`, two independent forward-running modules."""

    def __init__(self, config: RecurrentConfig, input_size: int):
        super().__init__()
        cell_kwargs = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        make_cell = TORCH_CELLS[config.cell]
        self.forward_cell = make_cell(input_size, config.hidden_size, batch_first=True, **cell_kwargs)
        self.backward_cell = (
            make_cell(input_size, config.hidden_size, batch_first=True, **cell_kwargs) if config.bidirectional else None
        )

    def forward(self, inputs: torch.Tensor, reading: ReadingOrder) -> torch.Tensor:
        # (B, T, C) -> (B, T, D*H), both aligned with the input's columns.
        flatten_cell_parameters(self.forward_cell)
        if reading.forward is None:
            outputs = self.forward_cell(inputs)[0]
        else:
            outputs = read_rows(self.forward_cell(read_rows(inputs, reading.forward))[0], reading.forward_restore)
        if self.backward_cell is None:
            return outputs
        flatten_cell_parameters(self.backward_cell)
        backward = self.backward_cell(read_rows(inputs, reading.backward))[0]
        return torch.cat([outputs, read_rows(backward, reading.backward_restore)], dim=-1)


class RecurrentPreTrainedModel(SeqModelsPreTrainedModel):
    config_class = RecurrentConfig

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.RNNBase):
            # The library default covers nn.LSTM only. Orthogonal recurrent weights keep the state's scale
            # over hundreds of steps; a forget-gate bias of 1 lets an LSTM remember from the start. A plain
            # tanh RNN has no gates to forget with: at gain 1 it starts on the edge of chaos and its states
            # mix whole contexts; at 0.5 they follow the recent words (measured on 20 Newsgroups, seed
            # protocol: validation 0.59 instead of 0.31 after one epoch, test 0.734 instead of 0.676).
            hidden = module.hidden_size
            recurrent_gain = 0.5 if isinstance(module, nn.RNN) else 1.0
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param, gain=recurrent_gain)
                elif name.startswith("bias"):
                    init.zeros_(param)
                    # Slicing loses the "already loaded" flag, so check it here (as transformers does).
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        if not getattr(param, "_is_hf_initialized", False):
                            init.ones_(param[hidden : 2 * hidden])
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):  # in the masked-LM head
            init.ones_(module.weight)
            init.zeros_(module.bias)


class RecurrentModel(RecurrentPreTrainedModel):
    """Encoder: embeddings, stacked recurrent layers, pooling. Returns `BaseModelOutputWithPooling`."""

    def __init__(self, config: RecurrentConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        directions = 2 if config.bidirectional else 1
        input_sizes = [config.embedding_size] + [directions * config.hidden_size] * (config.num_hidden_layers - 1)
        self.layers = nn.ModuleList(RecurrentLayer(config, size) for size in input_sizes)
        self.hidden_dropout = nn.Dropout(config.hidden_dropout)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        output_hidden_states = output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        if output_attentions if output_attentions is not None else self.config.output_attentions:
            raise ValueError(
                f"{type(self).__name__} has no attention weights to return (a recurrent model has no attention): "
                f"output_attentions must be False; output_hidden_states=True gives every layer's states."
            )
        if input_ids is not None:
            check_token_ids(input_ids, self.config.vocab_size)
        batch, width = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        if attention_mask is None:
            # Without ids there is no padding token to find: every position is real, as in BERT.
            pad_token_id = self.config.pad_token_id
            attention_mask = input_ids != pad_token_id if input_ids is not None and pad_token_id is not None else None
        if attention_mask is None:
            attention_mask = torch.ones(batch, width, dtype=torch.bool, device=(input_ids if input_ids is not None else inputs_embeds).device)
        mask = attention_mask.bool()
        if width == 0:
            # An empty text (a pipeline sends shape (B, 0)) becomes one padding step: its prediction then
            # comes from the bias alone, as for any all-padding row. The token states are cut back to width 0.
            if input_ids is not None:
                input_ids = input_ids.new_full((batch, 1), self.config.pad_token_id or 0)
            else:
                inputs_embeds = inputs_embeds.new_zeros(batch, 1, inputs_embeds.shape[-1])
            mask = mask.new_zeros(batch, 1)

        # The recurrence needs each row's real tokens first; a left-padded batch (some tokenizers pad on
        # the left) is read in that order and its states put back at their columns (see `ReadingOrder`).
        # Whether a batch is right-padded already is asked on CPU only: on an accelerator the answer would
        # have to be read back, making every forward wait for the device. A recorded graph (ONNX, torch.export,
        # torch.compile) keeps one branch of this `if` for every later batch, so it always takes the
        # reordering, which is right for any padding: it costs two (B, T, C) gathers per layer, and only there.
        lengths = mask.sum(dim=1)  # (B,)
        positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
        right_padded = mask.device.type == "cpu" and not is_tracing() and torch.equal(mask, positions < lengths.unsqueeze(1))
        reading = ReadingOrder.of(mask, right_padded)

        states = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        states = self.embedding_dropout(states)  # (B, T, E)
        # Each entry is the very tensor the next layer reads (so `retain_grad()` on it gets a gradient).
        all_states = [states]
        for index, layer in enumerate(self.layers):
            if index > 0:
                states = self.hidden_dropout(states)
            states = layer(states, reading)  # (B, T, D*H)
            all_states.append(states)
        masked = states.masked_fill(~mask.unsqueeze(-1), 0.0)  # the steps run over padding are not outputs
        # Max and mean pooling skip padding themselves, so they read the unmasked states: masking inside
        # the training graph (a (B, T, D*H) multiply and its backward) cost 1-2% of a CPU training step.
        # "last" reads position 0 of an all-padding row, which must be zero, so it reads the masked ones.
        pooled = self.pool(masked if self.config.pooling == "last" else states, mask, lengths, reading)  # (B, P)
        all_states[-1] = masked  # hidden_states ends with last_hidden_state, as in transformers
        if width == 0:
            masked, all_states = masked[:, :0], [s[:, :0] for s in all_states]
        return BaseModelOutputWithPooling(
            last_hidden_state=masked,
            pooler_output=pooled,
            hidden_states=tuple(all_states) if output_hidden_states else None,
        )

    def pool(self, states: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, reading: ReadingOrder) -> torch.Tensor:
        if self.config.pooling != "last":
            return pool_over_tokens(states, mask, self.config.pooling)
        # "last": the forward direction's state at the last real token; the backward direction has read
        # the whole sequence at the first real token.
        batch, length, channels = states.shape
        last_step = (lengths - 1).clamp(min=0)  # zero-based; an all-padding row reads a (masked, zero) state
        first_step = torch.zeros_like(last_step)
        if reading.forward is not None:  # the columns those steps were read from
            columns = reading.forward.view(batch, length) - length * torch.arange(batch, device=states.device).unsqueeze(1)
            last_step, first_step = columns.gather(1, last_step.unsqueeze(1)).squeeze(1), columns[:, 0]
        rows = torch.arange(batch, device=states.device)
        last = states[rows, last_step]  # (B, D*H)
        if not self.config.bidirectional:
            return last
        hidden = self.config.hidden_size
        return torch.cat([last[:, :hidden], states[rows, first_step, hidden:]], dim=-1)


# The masked-LM head scores the vocabulary with the input embedding matrix.
TIED_WEIGHTS = {"lm_head.decoder.weight": "model.embeddings.weight"}


class RNNModel(RecurrentModel):
    config_class = RNNConfig
    architecture_prefix = "RNN"


class RNNForSequenceClassification(SeqModelsForSequenceClassification, RecurrentPreTrainedModel):
    config_class = RNNConfig
    architecture_prefix = "RNN"
    base_model_class = RNNModel


class RNNForMaskedLM(SeqModelsForMaskedLM, RecurrentPreTrainedModel):
    config_class = RNNConfig
    architecture_prefix = "RNN"
    base_model_class = RNNModel
    _tied_weights_keys = TIED_WEIGHTS


class LSTMModel(RecurrentModel):
    config_class = LSTMConfig
    architecture_prefix = "LSTM"


class LSTMForSequenceClassification(SeqModelsForSequenceClassification, RecurrentPreTrainedModel):
    config_class = LSTMConfig
    architecture_prefix = "LSTM"
    base_model_class = LSTMModel


class LSTMForMaskedLM(SeqModelsForMaskedLM, RecurrentPreTrainedModel):
    config_class = LSTMConfig
    architecture_prefix = "LSTM"
    base_model_class = LSTMModel
    _tied_weights_keys = TIED_WEIGHTS


class GRUModel(RecurrentModel):
    config_class = GRUConfig
    architecture_prefix = "GRU"


class GRUForSequenceClassification(SeqModelsForSequenceClassification, RecurrentPreTrainedModel):
    config_class = GRUConfig
    architecture_prefix = "GRU"
    base_model_class = GRUModel


class GRUForMaskedLM(SeqModelsForMaskedLM, RecurrentPreTrainedModel):
    config_class = GRUConfig
    architecture_prefix = "GRU"
    base_model_class = GRUModel
    _tied_weights_keys = TIED_WEIGHTS


__all__ = [
    "RNNModel",
    "RNNForSequenceClassification",
    "RNNForMaskedLM",
    "LSTMModel",
    "LSTMForSequenceClassification",
    "LSTMForMaskedLM",
    "GRUModel",
    "GRUForSequenceClassification",
    "GRUForMaskedLM",
]
