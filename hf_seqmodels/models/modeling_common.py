"""Pieces shared by the recurrent and the Transformer models: masked pooling, the classification head
and its loss, the masked-language-model head, and the `save_pretrained` that makes a saved folder
self-contained.

Copied next to saved weights together with the modeling files (it is imported relatively), so it
imports only torch and transformers.
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput
from transformers.utils import can_return_tuple


def check_token_ids(input_ids: torch.Tensor, vocab_size: int) -> None:
    """A clear error for ids the embedding table has no row for (torch's own says "index out of range in self").

    On CPU a one-line `ValueError` names the id and the valid range. On an accelerator, reading the answer
    back would make every forward wait for the device, so an asynchronous assertion checks there instead: a
    bad id then fails the next call that synchronizes, with this message as a device-side assertion.
    Skipped while compiling: a compiled graph cannot branch on a value read back from a tensor.
    """
    if torch.compiler.is_compiling() or input_ids.numel() == 0:
        return
    if input_ids.device.type != "cpu":
        in_range = ((input_ids >= 0) & (input_ids < vocab_size)).all()
        torch._assert_async(in_range, f"input_ids has token ids outside this model's vocabulary (0 to {vocab_size - 1})")
        return
    low, high = torch.aminmax(input_ids)
    if low < 0 or high >= vocab_size:
        bad = int(low) if low < 0 else int(high)
        raise ValueError(
            f"input_ids contains token id {bad}, but this model's vocab_size is {vocab_size} (valid ids: 0 to "
            f"{vocab_size - 1}); was the text tokenized with another tokenizer than the one saved with the model?"
        )


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real positions. states: (B, T, H), mask: (B, T) bool -> (B, H); all-padding rows give 0."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over the real positions. states: (B, T, H), mask: (B, T) bool -> (B, H); all-padding rows give 0."""
    if states.shape[1] == 0:
        return states.new_zeros(states.shape[0], states.shape[2])
    filled = states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min)
    pooled = filled.max(dim=1).values
    return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))


def pool_over_tokens(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """The poolings both encoders offer over their real tokens: "max", "mean" or "mean_max" (both, concatenated).

    states: (B, T, H), mask: (B, T) bool -> (B, H), or (B, 2H) for "mean_max".
    """
    if pooling == "max":
        return masked_max(states, mask)
    if pooling == "mean":
        return masked_mean(states, mask)
    if pooling == "mean_max":
        return torch.cat([masked_mean(states, mask), masked_max(states, mask)], dim=-1)
    raise ValueError(f"pooling must be one of ['max', 'mean', 'mean_max'] here, got {pooling!r}.")


def sequence_classification_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss `problem_type` asks for, decided as transformers' own classifiers decide it."""
    num_labels = config.num_labels
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        predictions = logits.squeeze(-1) if num_labels == 1 else logits
        return nn.functional.mse_loss(predictions, labels.to(logits.dtype).view_as(predictions))
    if config.problem_type == "single_label_classification":
        return nn.functional.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


# The Auto classes a saved folder answers to, and the name each architecture's class for it ends with.
AUTO_CLASS_SUFFIXES = {
    "AutoModel": "Model",
    "AutoModelForSequenceClassification": "ForSequenceClassification",
    "AutoModelForMaskedLM": "ForMaskedLM",
}


class SeqModelsPreTrainedModel(PreTrainedModel):
    """Base of every model here: what transformers needs to save, load and train them."""

    main_input_name = "input_ids"
    base_model_prefix = "model"
    # Every layer is a `GradientCheckpointingLayer`: `gradient_checkpointing_enable()` recomputes each
    # layer's activations in the backward pass instead of keeping them.
    supports_gradient_checkpointing = True
    # Our forward takes no loss kwargs: without this, Trainer would pass `num_items_in_batch` and scale
    # the reported loss by the gradient-accumulation steps.
    accepts_loss_kwargs = False

    # Set by each architecture, e.g. "GRU": names its classes in `auto_map` (GRUConfig, GRUModel, ...).
    architecture_prefix: str = ""

    def save_pretrained(self, save_directory, *args, **kwargs):
        self.config.auto_map = self.remote_code_auto_map()
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def remote_code_auto_map(cls) -> dict[str, str]:
        """Every Auto class a saved folder loads through with `trust_remote_code`, where this package is not
        installed: `register_for_auto_class` would write only the class being saved."""
        names = {auto: f"{cls.architecture_prefix}{suffix}" for auto, suffix in AUTO_CLASS_SUFFIXES.items()}
        # The shared bases (RecurrentModel, the *PreTrainedModel classes) have no class of their own to load
        # back as; a subclass of an architecture's class loads back as that class.
        saved_as = next((base for base in cls.__mro__ if base.__name__ in names.values()), None)
        if not cls.architecture_prefix or saved_as is None:
            raise TypeError(
                f"{cls.__name__} is a shared base class and cannot be saved; save one of the architectures' "
                f"classes instead (e.g. GRUModel, GRUForSequenceClassification)."
            )
        model_module = saved_as.__module__.split(".")[-1]
        config_module = cls.config_class.__module__.split(".")[-1]
        return {"AutoConfig": f"{config_module}.{cls.config_class.__name__}"} | {
            auto: f"{model_module}.{name}" for auto, name in names.items()
        }


class SeqModelsForSequenceClassification:
    """Encoder + dropout + linear layer over its pooled output, for every architecture; returns
    `SequenceClassifierOutput`. Mixed in before the architecture's pretrained-model class, as transformers'
    `GenericForSequenceClassification` is: `class GRUForSequenceClassification(SeqModelsForSequenceClassification,
    RecurrentPreTrainedModel)`, with `base_model_class = GRUModel`.
    """

    base_model_class: type  # the architecture's encoder, kept under `base_model_prefix` ("model")

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = self.base_model_class(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (B, num_labels)
        loss = sequence_classification_loss(self.config, logits, labels) if labels is not None else None
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class MaskedLMHead(nn.Module):
    """BERT's prediction head: each token's state -> embedding width, GELU, LayerNorm -> one score per
    vocabulary entry through the input embedding matrix (tied by the model) plus a bias of its own.

    With `scored_vocab_size` N, only the first N rows of the (tied) decoder score: a slice of the same
    weights, so the saved folder and the tying are unchanged while the output layer costs N / vocab_size.
    None scores every row the decoder has (after `resize_token_embeddings` too).

    states: (..., hidden) -> (..., scored_vocab_size or the decoder's rows)
    """

    def __init__(
        self, hidden_size: int, embedding_size: int, vocab_size: int, layer_norm_eps: float, scored_vocab_size=None
    ):
        super().__init__()
        self.dense = nn.Linear(hidden_size, embedding_size)
        self.norm = nn.LayerNorm(embedding_size, eps=layer_norm_eps)
        self.decoder = nn.Linear(embedding_size, vocab_size)
        self.scored_vocab_size = scored_vocab_size

    @property
    def scored(self) -> int:
        return self.scored_vocab_size or self.decoder.weight.shape[0]

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        hidden = self.norm(nn.functional.gelu(self.dense(states)))
        scored = self.scored
        return nn.functional.linear(hidden, self.decoder.weight[:scored], self.decoder.bias[:scored])


class SeqModelsForMaskedLM:
    """Encoder + `MaskedLMHead` over every token's state, for every architecture; returns `MaskedLMOutput`.
    Mixed in like `SeqModelsForSequenceClassification`; the encoder sits under the same attribute (`model`),
    so a pretrained folder loads into `AutoModelForSequenceClassification` with only the head new.

    `logits` is (B, T, vocab_size), as in BERT. With `config.mlm_vocab_size` M, the head scores the first M
    words only (the tokenizer numbers words by document frequency): the others get the dtype's lowest
    value, so that softmax gives them probability 0 and `pipeline("fill-mask", targets=...)` answers 0 for
    a word the head never scores; labels at or above M are left out of the loss.

    `target_logits_only=True` (with `labels`) scores only the positions to predict (`labels != -100`,
    below M): `logits` is then (N, M) for those N positions in row-major order. The output layer is the bulk
    of a pretraining step at a large vocabulary (`scripts/mlm_output_cost.py`), and at 15 % masking this
    runs it on about a seventh of the tokens; `pretrain()` asks for it through its collator.

    The loss follows transformers' `num_items_in_batch` contract (as `ForMaskedLMLoss`): given the count of
    labels to predict over the whole accumulated batch, across processes, it is the sum of this batch's
    cross-entropies divided by that count, so that gradient accumulation and several processes train as one
    large batch does. Trainer counts every label that is not -100: targets at or above M should be -100
    already (`pretraining.MaskedLMCollator` makes them so), or the count includes words that are not scored.
    Without the count, the loss is the mean over the scored positions.
    """

    base_model_class: type  # the architecture's encoder
    # Each architecture also sets `_tied_weights_keys = {"lm_head.decoder.weight": <its input embedding>}`.
    # Trainer passes `num_items_in_batch` to forward (and then does not divide the loss by the accumulation steps).
    accepts_loss_kwargs = True

    def __init__(self, config):
        super().__init__(config)
        self.model = self.base_model_class(config)
        # The recurrent configs have no layer norm of their own to take an epsilon from: torch's default.
        layer_norm_eps = getattr(config, "layer_norm_eps", 1e-5)
        embedding_size = self.model.get_input_embeddings().embedding_dim
        self.lm_head = MaskedLMHead(
            config.token_states_size, embedding_size, config.vocab_size, layer_norm_eps, config.mlm_vocab_size
        )
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    def resize_token_embeddings(self, *args, **kwargs):
        """transformers resizes the tied decoder and its bias with the embeddings; `mlm_vocab_size` is kept
        while the new vocabulary is larger, and dropped (every word scored) when it is not."""
        embeddings = super().resize_token_embeddings(*args, **kwargs)
        if self.config.mlm_vocab_size is not None and self.config.mlm_vocab_size >= self.config.vocab_size:
            self.config.mlm_vocab_size = None
        self.lm_head.scored_vocab_size = self.config.mlm_vocab_size
        return embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        output_attentions: bool | None = None,
        target_logits_only: bool = False,  # no "label" in the name: Trainer takes those for label columns
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        states = outputs.last_hidden_state  # (B, T, W)
        scored = self.lm_head.scored
        if labels is None:
            logits = self.whole_vocabulary(self.lm_head(states))  # (B, T, V)
            return MaskedLMOutput(logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        predict = (labels != -100) & (labels < scored)  # (B, T)
        if target_logits_only:
            # Selecting by a mask reads the count N back from the device: the one synchronization of a step.
            logits = self.lm_head(states[predict])  # (N, M)
            predicted_logits = logits
        else:
            logits = self.lm_head(states)  # (B, T, M)
            predicted_logits = logits[predict]
            logits = self.whole_vocabulary(logits)
        loss = nn.functional.cross_entropy(predicted_logits, labels[predict], reduction="sum")
        if num_items_in_batch is None:
            num_items_in_batch = predict.sum()  # the mean over this batch's scored positions
        # A sum over nothing divided by 1 is 0 (not NaN) when nothing is masked.
        loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device).clamp(min=1)
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def whole_vocabulary(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., M) scores of the first M words -> (..., vocab_size), the words not scored at the dtype's lowest
        value (probability 0 after softmax; finite, so that sums and log-softmax stay free of inf - inf)."""
        missing = self.lm_head.decoder.weight.shape[0] - logits.shape[-1]
        if missing <= 0:
            return logits
        lowest = logits.new_full((*logits.shape[:-1], missing), torch.finfo(logits.dtype).min)
        return torch.cat([logits, lowest], dim=-1)
