"""Pieces shared by the recurrent and the Transformer classifiers: masked pooling, the classification
loss, and the `save_pretrained` that makes a saved folder self-contained.

Copied next to saved weights together with the modeling files (it is imported relatively), so it
imports only torch and transformers.
"""

import torch
from torch import nn
from transformers import PreTrainedModel


def check_token_ids(input_ids: torch.Tensor, vocab_size: int) -> None:
    """A clear error for ids the embedding table has no row for (torch's own says "index out of range in self").

    Skipped while compiling: the check reads a value back from the tensor, which a compiled graph cannot do.
    """
    if torch.compiler.is_compiling() or input_ids.numel() == 0:
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


class SeqModelsPreTrainedModel(PreTrainedModel):
    """Base of every model here: what transformers needs to save, load and train them."""

    main_input_name = "input_ids"
    base_model_prefix = "model"
    # Our forward takes no loss kwargs: without this, Trainer would pass `num_items_in_batch` and scale
    # the reported loss by the gradient-accumulation steps.
    accepts_loss_kwargs = False

    # Set by each concrete architecture, e.g. "GRU"; names the classes written into `auto_map`.
    architecture_prefix: str = ""

    def save_pretrained(self, save_directory, *args, **kwargs):
        # `register_for_auto_class` writes only the class being saved into `auto_map`; a folder must load
        # through all three Auto classes with `trust_remote_code` where this package is not installed.
        config_module = type(self.config).__module__.split(".")[-1]
        model_module = type(self).__module__.split(".")[-1]
        prefix = self.architecture_prefix
        self.config.auto_map = {
            "AutoConfig": f"{config_module}.{prefix}Config",
            "AutoModel": f"{model_module}.{prefix}Model",
            "AutoModelForSequenceClassification": f"{model_module}.{prefix}ForSequenceClassification",
        }
        return super().save_pretrained(save_directory, *args, **kwargs)
