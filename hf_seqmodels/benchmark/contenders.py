"""Contenders: a model, its optimizer, how to count its FLOPs, and its timings.

For each architecture at its default size: ours, and (unless the settings leave them out) the
baselines of the same size from `baselines.py`. Every model is built right after the same seed, so
that all start from the same random state.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from ..models import ARCHITECTURES
from .baselines import TextbookRecurrentClassifier, TextbookTransformerClassifier, bert_of_same_size
from .flops import TRAINING_FLOPS_PER_FORWARD, recurrent_batch_flops, transformer_batch_flops
from .settings import BenchmarkSettings

NUM_LABELS = 20  # 20 Newsgroups

# The implementations, as the report's `implementation` column names them.
OURS = "hf_seqmodels"
TEXTBOOK = "textbook PyTorch"
UNPACKED = "unpacked PyTorch (not exact)"
BERT = "transformers BERT"
KERAS = "Keras 3 (torch backend)"


@dataclass
class Contender:
    """One model in the benchmark, ready to be timed, and what its timing found."""

    architecture: str
    implementation: str
    description: str
    model: nn.Module
    forward_flops: Callable[[dict], int]
    optimizer: torch.optim.Optimizer | None = None
    runner: Callable | None = None  # what the timing calls: the model, or the compiled model
    compiled: bool = False
    compile_error: str | None = None
    error: str | None = None  # why it could not run at all (then it has no timings)
    train_times: list = field(default_factory=list)  # (wall, cpu) seconds per pass
    infer_times: list = field(default_factory=list)

    def training_flops(self, batch: dict) -> int:
        """Matmul FLOPs of one training step on `batch`: 3x the forward pass."""
        return TRAINING_FLOPS_PER_FORWARD * self.forward_flops(batch)


class Recipe(NamedTuple):
    """How to make one contender; the model is built only when the contender is, after the seed is set."""

    implementation: str
    description: str
    build_model: Callable[[], nn.Module]
    forward_flops: Callable[[dict], int]

    def contender(self, architecture: str) -> Contender:
        return Contender(architecture, self.implementation, self.description, self.build_model(), self.forward_flops)


def default_config(architecture: str, vocab_size: int, **overrides):
    """The architecture's config at its default size (the shipped model's), for 20 Newsgroups' labels."""
    return ARCHITECTURES[architecture].config_class(**({"vocab_size": vocab_size, "num_labels": NUM_LABELS} | overrides))


def describe_size(config) -> str:
    """The size in a few words, as the report's `model` column shows it: "1 x biGRU 128->128"."""
    if config.model_type == "seqmodels_transformer":
        return (
            f"{config.num_hidden_layers} layers x {config.hidden_size}, {config.num_attention_heads} heads, "
            f"ffn {config.intermediate_size}"
        )
    directions = "bi" if config.bidirectional else ""
    return f"{config.num_hidden_layers} x {directions}{config.cell.upper()} {config.embedding_size}->{config.hidden_size}"


def our_recipe(architecture: str, config) -> Recipe:
    classifier_class = ARCHITECTURES[architecture].classifier_class
    if architecture == "transformer":
        flops = partial(transformer_batch_flops, config, extra_positions=1)  # + our [CLS]
    else:
        flops = partial(recurrent_batch_flops, config)
    return Recipe(OURS, f"{classifier_class.__name__} ({describe_size(config)})", partial(classifier_class, config), flops)


def baseline_recipes(architecture: str, config, unpacked_reference: bool) -> list[Recipe]:
    if architecture == "transformer":
        return [
            Recipe(
                TEXTBOOK,
                "nn.TransformerEncoder, dropout 0.1",
                partial(TextbookTransformerClassifier, config),
                partial(transformer_batch_flops, config),
            ),
            Recipe(
                BERT,
                "BertForSequenceClassification, same dims",
                partial(bert_of_same_size, config),
                partial(transformer_batch_flops, config, pooler=True),
            ),
        ]
    module = f"nn.{config.cell.upper()}"
    recipes = [
        Recipe(
            TEXTBOOK,
            f"{module} + pack_padded_sequence",
            partial(TextbookRecurrentClassifier, config, packed=True),
            partial(recurrent_batch_flops, config, packed=True),
        )
    ]
    if unpacked_reference:
        recipes.append(
            Recipe(
                UNPACKED,
                f"{module} on the padded batch",
                partial(TextbookRecurrentClassifier, config, packed=False),
                partial(recurrent_batch_flops, config),
            )
        )
    return recipes


def keras_recipe(architecture: str, config, seed: int) -> Recipe:
    """The Keras 3 peer (`keras_peers.py`); Keras draws its weights from its own seed."""
    from .keras_peers import build_keras_classifier, keras_description  # keras is an optional extra

    if architecture == "transformer":
        flops = partial(transformer_batch_flops, config)
    else:
        flops = partial(recurrent_batch_flops, config)  # Keras steps over the padding, masked
    return Recipe(KERAS, keras_description(architecture, config), partial(build_keras_classifier, architecture, config, seed), flops)


def our_contender(architecture: str, config) -> Contender:
    return our_recipe(architecture, config).contender(architecture)


def build_contenders(architecture: str, vocab_size: int, settings: BenchmarkSettings, device) -> list[Contender]:
    """Ours and the baselines of one architecture, each seeded alike, on `device`, with its optimizer."""
    config = default_config(architecture, vocab_size)
    recipes = [our_recipe(architecture, config)]
    if settings.baselines:
        recipes += baseline_recipes(architecture, config, settings.unpacked_reference)
    if settings.keras:
        recipes.append(keras_recipe(architecture, config, settings.seed))
    contenders = []
    for recipe in recipes:
        torch.manual_seed(settings.seed)
        contender = recipe.contender(architecture)
        contenders.append(make_ready(contender, device, compile=settings.compile and recipe.implementation == OURS))
    return contenders


def make_ready(contender: Contender, device, compile: bool = False) -> Contender:
    """Move the model to `device` and give it its optimizer and the callable the timing runs."""
    contender.model.to(device)
    # The optimizer Trainer uses by default (fused AdamW), the same for every contender.
    # Trainable parameters only: a Keras model also holds its dropout layers' seeds as parameters.
    trainable = [parameter for parameter in contender.model.parameters() if parameter.requires_grad]
    contender.optimizer = torch.optim.AdamW(trainable, lr=1e-3, fused=True)
    contender.runner, contender.compiled = (torch.compile(contender.model), True) if compile else (contender.model, False)
    return contender
