"""Speed benchmark: the four architectures against what a user would otherwise write, side by side.

For each architecture at its default size, on batches of real 20 Newsgroups posts, one process run
measures:

- training throughput: one step is forward + backward + AdamW step; samples/s and tokens/s, where
  tokens are real tokens (padding is computed but not counted);
- inference throughput: eval mode under `torch.inference_mode`;
- achieved FLOP/s of the training step, as a fraction of this machine's measured fp32 matmul ceiling;

and the same for the baselines of the same size:

- the textbook PyTorch model: `nn.RNN` / `nn.LSTM` / `nn.GRU` over `pack_padded_sequence`, and
  `nn.TransformerEncoder` with its default dropout (0.1, attention dropout included);
- transformers' `BertForSequenceClassification` with the Transformer's dimensions (BERT's defaults
  otherwise, dropouts included);
- for reference (full run only), the same `nn.RNN` / `nn.LSTM` / `nn.GRU` run unpacked: fast but not
  exact, since its backward direction reads the padding first.

How the batches are made. The training posts are tokenized with the project tokenizer (TF-IDF
vocabulary, truncated at the Transformer's `max_position_embeddings`), put in the order Trainer's
`group_by_length` gives an epoch (`get_length_grouped_indices`: random mega-batches of 50 batches,
each sorted by length), cut into batches, and `num_batches` of them are picked at evenly spaced
quantiles of their padded length, so that a few batches stand for the whole epoch. Every model, ours
and the baselines, gets exactly these batches, right-padded as `DataCollatorWithPadding` pads them.

How the timing is done. All contenders of one architecture are built and warmed up, then timed in
turns, repeat by repeat (ours, textbook, BERT, ours, ...), so that a machine that gets busier or
quieter during the run shifts them alike; each number is the median over the repeats of one pass
over all batches, and ratios are taken between these medians. The process CPU time of every pass is
recorded too: CPU time / (wall time x threads) well below 1 means other work shared the cores.

How FLOPs are counted: see `recurrent_forward_flops` and `transformer_forward_flops`. Only the
matrix products are counted (a multiply-add is 2 FLOPs), because they are what the matmul ceiling
measures; element-wise work (gates, softmax, layer norm, dropout), embedding look-ups and the
optimizer step are left out, so the fraction of the ceiling errs low. Training is counted as 3x the
forward pass (forward, gradient with respect to the inputs, gradient with respect to the weights).
Padding positions that a model computes are counted; positions it skips are not (the packed
textbook RNN computes real tokens only).
"""

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import transformers
from torch import nn
from tqdm.auto import tqdm
from transformers import BertConfig, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.trainer_pt_utils import get_length_grouped_indices

from . import machine
from .data import load_newsgroups
from .models import ARCHITECTURES
from .models.modeling_transformer import sinusoidal_table
from .tokenization import train_tokenizer

NUM_LABELS = 20
TRAINING_FLOPS_PER_FORWARD = 3  # forward + gradient w.r.t. inputs + gradient w.r.t. weights
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
TORCH_MODULE_NAMES = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}

OURS = "hf_seqmodels"
TEXTBOOK = "textbook PyTorch"
UNPACKED = "unpacked PyTorch (not exact)"
BERT = "transformers BERT"


@dataclass
class BenchmarkSettings:
    """What to run. The defaults are the full run; `quick()` gives the two-minute version."""

    architectures: tuple = tuple(ARCHITECTURES)
    batch_size: int = 64
    num_batches: int = 8
    repeats: int = 5
    baselines: bool = True
    unpacked_reference: bool = True
    scaling: bool = False  # also time our models at these sizes (how the fraction of the ceiling grows)
    scaling_hidden_sizes: tuple = (64, 128, 256, 512)
    scaling_batch_sizes: tuple = (16, 32, 64, 128)
    compile: bool = False
    device: str = "auto"
    amp: str = "none"  # "none", "bf16" or "fp16" (fp16 on CUDA only)
    threads: int | None = None  # None: one per idle core (see `machine.idle_core_threads`)
    vocab_size: int = 30000
    max_texts: int | None = None  # tokenize only this many training posts for the length distribution
    seed: int = 0
    matmul_size: int = 2048

    @classmethod
    def quick(cls, **overrides):
        quick = {"batch_size": 32, "num_batches": 2, "repeats": 3, "unpacked_reference": False, "max_texts": 4000}
        return cls(**(quick | overrides))


# ---------------------------------------------------------------------------------------------------
# FLOP counting


def recurrent_forward_flops(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    steps: int,
    rows: int,
    num_labels: int,
    pooled_size: int,
) -> int:
    """Matmul FLOPs of one forward pass of a recurrent classifier.

    Per layer, per direction, per computed step of one row, a cell with g gates (RNN 1, GRU 3, LSTM 4)
    computes g*H pre-activations from the layer input (I wide) and the previous state (H wide):

        MACs = g * H * (I + H),   I = input_size (the embedding) for layer 1, D * H above it

    with D = 2 directions if bidirectional. `steps` is the number of (row, step) pairs the recurrence
    runs: B * T for a padded batch run as it is, the sum of the lengths for a packed one. The
    classifier adds pooled_size * num_labels MACs per row. FLOPs = 2 * MACs.
    """
    directions = 2 if bidirectional else 1
    macs = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * hidden_size
        macs += directions * steps * GATES[cell] * hidden_size * (layer_input + hidden_size)
    macs += rows * pooled_size * num_labels
    return 2 * macs


def transformer_forward_flops(
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    sequence_lengths,
    num_labels: int,
    pooler: bool = False,
) -> int:
    """Matmul FLOPs of one forward pass of a Transformer encoder classifier.

    Per layer, for a sequence of S computed positions (padding included, our model's own [CLS] too),
    hidden size H and feed-forward width F:

        projections  S * (3H*H [query, key, value] + H*H [output] + 2*H*F [feed-forward])  MACs
        attention    S*S*H [scores q.k] + S*S*H [weighted sum of v]                        MACs

    that is S * (4H^2 + 2HF) + 2 * S^2 * H MACs per layer and sequence, summed over the sequences
    (`sequence_lengths`: one S per row). Per row the classifier adds H * num_labels MACs, and BERT's
    pooler (`pooler=True`) H * H more. FLOPs = 2 * MACs.
    """
    hidden, inner = hidden_size, intermediate_size
    macs = 0
    for length in sequence_lengths:
        macs += num_layers * (length * (4 * hidden * hidden + 2 * hidden * inner) + 2 * length * length * hidden)
        macs += hidden * num_labels + (hidden * hidden if pooler else 0)
    return 2 * macs


def recurrent_batch_flops(config, batch: dict, packed: bool = False) -> int:
    """Forward FLOPs of a recurrent classifier with `config` on `batch` (padded, or packed: real tokens only)."""
    rows, columns = batch["input_ids"].shape
    steps = int(batch["attention_mask"].sum()) if packed else rows * columns
    return recurrent_forward_flops(
        config.cell,
        config.embedding_size,
        config.hidden_size,
        config.num_hidden_layers,
        config.bidirectional,
        steps,
        rows,
        config.num_labels,
        config.pooled_size,
    )


def transformer_batch_flops(config, batch: dict, extra_positions: int = 0, pooler: bool = False) -> int:
    """Forward FLOPs of a Transformer classifier with `config` on `batch`; `extra_positions`: our [CLS]."""
    rows, columns = batch["input_ids"].shape
    return transformer_forward_flops(
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        [columns + extra_positions] * rows,
        config.num_labels,
        pooler=pooler,
    )


# ---------------------------------------------------------------------------------------------------
# The baselines: what a user would write without this package


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
        logits = self.classifier(self.dropout(pooled))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


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
        logits = self.classifier(self.dropout(pooled))
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


# ---------------------------------------------------------------------------------------------------
# Contenders: a model, its optimizer, how to count its FLOPs, and its timings


@dataclass
class Contender:
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


def default_config(architecture: str, vocab_size: int, **overrides):
    return ARCHITECTURES[architecture].config_class(**({"vocab_size": vocab_size, "num_labels": NUM_LABELS} | overrides))


def describe_size(config) -> str:
    if config.model_type == "seqmodels_transformer":
        return (
            f"{config.num_hidden_layers} layers x {config.hidden_size}, {config.num_attention_heads} heads, "
            f"ffn {config.intermediate_size}"
        )
    directions = "bi" if config.bidirectional else ""
    return f"{config.num_hidden_layers} x {directions}{config.cell.upper()} {config.embedding_size}->{config.hidden_size}"


def our_contender(architecture: str, config) -> Contender:
    model = ARCHITECTURES[architecture].classifier_class(config)
    if architecture == "transformer":
        flops = lambda batch: transformer_batch_flops(config, batch, extra_positions=1)  # noqa: E731 (+ our [CLS])
    else:
        flops = lambda batch: recurrent_batch_flops(config, batch)  # noqa: E731
    return Contender(architecture, OURS, f"{type(model).__name__} ({describe_size(config)})", model, flops)


def build_contenders(architecture: str, vocab_size: int, settings: BenchmarkSettings, device) -> list[Contender]:
    """Ours and the baselines of one architecture, each seeded alike, on `device`, with its optimizer."""
    config = default_config(architecture, vocab_size)
    builders = [lambda: our_contender(architecture, config)]
    if settings.baselines and architecture == "transformer":
        builders += [
            lambda: Contender(
                architecture,
                TEXTBOOK,
                "nn.TransformerEncoder, dropout 0.1",
                TextbookTransformerClassifier(config),
                lambda batch: transformer_batch_flops(config, batch),
            ),
            lambda: Contender(
                architecture,
                BERT,
                "BertForSequenceClassification, same dims",
                bert_of_same_size(config),
                lambda batch: transformer_batch_flops(config, batch, pooler=True),
            ),
        ]
    elif settings.baselines:
        module = TORCH_MODULE_NAMES[config.cell]
        builders.append(
            lambda: Contender(
                architecture,
                TEXTBOOK,
                f"{module} + pack_padded_sequence",
                TextbookRecurrentClassifier(config, packed=True),
                lambda batch: recurrent_batch_flops(config, batch, packed=True),
            )
        )
        if settings.unpacked_reference:
            builders.append(
                lambda: Contender(
                    architecture,
                    UNPACKED,
                    f"{module} on the padded batch",
                    TextbookRecurrentClassifier(config, packed=False),
                    lambda batch: recurrent_batch_flops(config, batch),
                )
            )
    contenders = []
    for build in builders:
        torch.manual_seed(settings.seed)
        contender = build()
        contenders.append(make_ready(contender, device, compile=settings.compile and contender.implementation == OURS))
    return contenders


def make_ready(contender: Contender, device, compile: bool = False) -> Contender:
    """Move the model to `device` and give it its optimizer and the callable the timing runs."""
    contender.model.to(device)
    # The optimizer Trainer uses by default (fused AdamW), the same for every contender.
    contender.optimizer = torch.optim.AdamW(contender.model.parameters(), lr=1e-3, fused=True)
    contender.runner, contender.compiled = (torch.compile(contender.model), True) if compile else (contender.model, False)
    return contender


# ---------------------------------------------------------------------------------------------------
# Batches with 20 Newsgroups' length distribution


@dataclass
class Posts:
    """Tokenized training posts: what the batches are cut from."""

    input_ids: list
    labels: list
    vocab_size: int
    max_length: int

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def tokenized_posts(vocab_size: int, max_length: int, max_texts: int | None = None) -> Posts:
    """20 Newsgroups training posts through the project tokenizer, truncated at `max_length`."""
    train = load_newsgroups()["train"]
    if max_texts is not None:
        train = train.select(range(min(max_texts, len(train))))
    texts, labels = list(train["text"]), list(train["label"])
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, model_max_length=max_length)
    encoded = tokenizer(texts, truncation=True)["input_ids"]
    # A post without tokens cannot be packed (the textbook model would fail); with headers kept,
    # 20 Newsgroups has none, so nothing is lost.
    kept = [index for index, ids in enumerate(encoded) if ids]
    return Posts([encoded[i] for i in kept], [labels[i] for i in kept], len(tokenizer), max_length)


def length_grouped_batches(posts: Posts, batch_size: int, num_batches: int, seed: int, device) -> tuple[list[dict], dict]:
    """`num_batches` batches of one `group_by_length` epoch, at evenly spaced quantiles of padded length.

    Returns the batches (right-padded, with labels) and a description of them for the report.
    """
    lengths = posts.lengths
    generator = torch.Generator().manual_seed(seed)
    order = get_length_grouped_indices(lengths, batch_size, generator=generator)
    epoch = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    epoch = [rows for rows in epoch if len(rows) == batch_size]
    epoch.sort(key=lambda rows: max(lengths[i] for i in rows))
    count = min(num_batches, len(epoch))
    picked = [epoch[int((k + 0.5) * len(epoch) / count)] for k in range(count)]

    batches = []
    for rows in picked:
        width = max(lengths[i] for i in rows)
        input_ids = torch.zeros(len(rows), width, dtype=torch.long)  # the tokenizer's [PAD] is id 0
        attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
        for row, index in enumerate(rows):
            input_ids[row, : lengths[index]] = torch.tensor(posts.input_ids[index])
            attention_mask[row, : lengths[index]] = 1
        labels = torch.tensor([posts.labels[i] for i in rows])
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        batches.append({key: value.to(device) for key, value in batch.items()})

    real = sum(int(batch["attention_mask"].sum()) for batch in batches)
    padded = sum(batch["input_ids"].numel() for batch in batches)
    epoch_real = sum(lengths[i] for rows in epoch for i in rows)
    epoch_padded = sum(max(lengths[i] for i in rows) * len(rows) for rows in epoch)
    description = {
        "source": "20 Newsgroups training posts (bydate train minus validation), project tokenizer",
        "posts": len(lengths),
        "vocab_size": posts.vocab_size,
        "max_length": posts.max_length,
        "mean_post_length": sum(lengths) / len(lengths),
        "truncated_fraction": sum(length == posts.max_length for length in lengths) / len(lengths),
        "grouping": "Trainer's group_by_length epoch order; batches at evenly spaced quantiles of padded length",
        "batch_size": batch_size,
        "num_batches": len(batches),
        "batch_lengths": [int(batch["input_ids"].shape[1]) for batch in batches],
        "samples": sum(len(batch["labels"]) for batch in batches),
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_fraction": 1 - real / padded,
        "epoch_padding_fraction": 1 - epoch_real / epoch_padded,
        "same_batches_for_all_models": True,
    }
    return batches, description


# ---------------------------------------------------------------------------------------------------
# Measuring


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_matmul_gflops(device, size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """The fp32 matmul ceiling of a square matrix product (2 * n^3 FLOPs), median of `repeats`:
    (GFLOP per wall second, GFLOP per process CPU second)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    for _ in range(3):
        a @ b
    walls, cpus = [], []
    for _ in range(repeats):
        synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        a @ b
        synchronize(device)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    flop = 2 * size**3 / 1e9
    return flop / statistics.median(walls), flop / max(statistics.median(cpus), 1e-9)


def autocast(device, amp: str):
    if amp == "none":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[amp])


def train_pass(contender: Contender, batches: list[dict], device, amp: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one training step on every batch: forward, backward, optimizer step."""
    contender.model.train()
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        contender.optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = contender.runner(**batch).loss
        loss.backward()
        contender.optimizer.step()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def infer_pass(contender: Contender, batches: list[dict], device, amp: str) -> tuple[float, float]:
    """(wall, CPU) seconds of predicting every batch in eval mode."""
    contender.model.eval()
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode(), autocast(device, amp):
        for batch in batches:
            contender.runner(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def one_line(error: Exception) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"


def warm_up(contender: Contender, batches: list[dict], device, amp: str) -> None:
    """One step of each kind initialises the optimizer state and the allocator; a compiled model needs
    every batch shape once. A model that fails is reported, not timed: a compiled one falls back to
    eager, any other gets `error` set (e.g. nn.TransformerEncoder's inference fast path under CPU bf16
    autocast)."""
    try:
        if not contender.compiled:
            shortest = [min(batches, key=lambda batch: batch["input_ids"].shape[1])]
            train_pass(contender, shortest, device, amp)
            infer_pass(contender, shortest, device, amp)
            return
        train_pass(contender, batches, device, amp)
        infer_pass(contender, batches, device, amp)
    except Exception as error:  # noqa: BLE001 - whatever went wrong is reported in the table
        if not contender.compiled:
            contender.error = one_line(error)
            return
        contender.compile_error = one_line(error)
        contender.runner, contender.compiled = contender.model, False
        warm_up(contender, batches, device, amp)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_benchmark(settings: BenchmarkSettings, progress: bool = True) -> dict:
    """Run the benchmark; returns the report (what `--output` writes as JSON)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads or machine.idle_core_threads())
    try:
        return measure_everything(settings, progress)
    finally:
        torch.set_num_threads(threads)


def measure_everything(settings: BenchmarkSettings, progress: bool) -> dict:
    device = resolve_device(settings.device)
    if settings.amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' needs a CUDA device, got device={str(device)!r}; use amp='bf16' or 'none'.")
    started = time.time()
    load_at_start = machine.load_average()
    ceiling_start = measure_matmul_gflops(device, settings.matmul_size)

    # The Transformer's position table sets the longest input; every model sees the same batches.
    max_length = default_config("transformer", settings.vocab_size).max_position_embeddings
    posts = tokenized_posts(settings.vocab_size, max_length, settings.max_texts)
    batches, batch_description = length_grouped_batches(posts, settings.batch_size, settings.num_batches, settings.seed, device)

    measured = []
    with warnings.catch_warnings():
        # nn.TransformerEncoder's inference fast path announces its nested tensors on every call.
        warnings.filterwarnings("ignore", message=".*nested tensors is in prototype stage.*")
        for architecture in settings.architectures:
            contenders = build_contenders(architecture, posts.vocab_size, settings, device)
            bar = tqdm(total=2 * settings.repeats * len(contenders), desc=f"benchmark {architecture}", disable=not progress)
            for contender in contenders:
                warm_up(contender, batches, device, settings.amp)
            for run_pass, times in ((train_pass, "train_times"), (infer_pass, "infer_times")):
                for _ in range(settings.repeats):
                    for contender in contenders:  # in turns: a busier machine slows all of them alike
                        if contender.error is None:
                            getattr(contender, times).append(run_pass(contender, batches, device, settings.amp))
                        bar.update()
            bar.close()
            measured.extend(contenders)

    scaling = run_scaling(settings, posts, device, progress) if settings.scaling else None
    ceiling_end = measure_matmul_gflops(device, settings.matmul_size)
    # The higher of the two measurements: the fraction errs low rather than high.
    ceiling = max(ceiling_start[0], ceiling_end[0])
    cpu_ceiling = max(ceiling_start[1], ceiling_end[1])
    rows = [result_row(contender, batches, batch_description, ceiling, cpu_ceiling) for contender in measured]
    add_ratios(rows)
    if scaling is not None:
        for point in scaling:
            point["fraction_of_matmul_ceiling"] = point["train_gflops"] / ceiling
            point["fraction_of_matmul_ceiling_cpu_time"] = point.pop("train_gflop_per_cpu_second") / cpu_ceiling
    return {
        "date": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpu": machine.processor_name(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": machine.load_average(),
        },
        "settings": asdict(settings),
        "matmul_gflops": {
            "size": settings.matmul_size,
            "at_start": ceiling_start[0],
            "at_end": ceiling_end[0],
            "ceiling": ceiling,
            "per_cpu_second_at_start": ceiling_start[1],
            "per_cpu_second_at_end": ceiling_end[1],
            "ceiling_per_cpu_second": cpu_ceiling,
        },
        "batches": batch_description,
        "results": rows,
        "scaling": scaling,
    }


def result_row(contender: Contender, batches: list[dict], description: dict, ceiling: float, cpu_ceiling: float) -> dict:
    row = {
        "architecture": contender.architecture,
        "implementation": contender.implementation,
        "model": contender.description,
        "compiled": contender.compiled,
        "compile_error": contender.compile_error,
        "error": contender.error,
        "parameters": sum(p.numel() for p in contender.model.parameters()),
    }
    if contender.error is not None:
        return row | dict.fromkeys(MEASURED_COLUMNS)
    train = statistics.median(wall for wall, _ in contender.train_times)
    infer = statistics.median(wall for wall, _ in contender.infer_times)
    train_cpu = statistics.median(cpu for _, cpu in contender.train_times)
    flops = sum(contender.training_flops(batch) for batch in batches)
    gflop = flops / 1e9
    samples, tokens = description["samples"], description["real_tokens"]
    return row | {
        "train_samples_per_s": samples / train,
        "train_tokens_per_s": tokens / train,
        "infer_samples_per_s": samples / infer,
        "infer_tokens_per_s": tokens / infer,
        "train_gflop_per_pass": gflop,
        "train_gflops": gflop / train,
        "fraction_of_matmul_ceiling": gflop / train / ceiling,
        # The same fraction in GFLOP per CPU second, for the model and the matmul alike: it hardly
        # moves when other work takes turns on the cores, which wall-clock rates do.
        "fraction_of_matmul_ceiling_cpu_time": gflop / train_cpu / cpu_ceiling,
        # CPU time of the process over wall time and threads: near 1 when the threads had the cores to
        # themselves; low when other work shared them (or when a GPU did the work).
        "train_cpu_utilisation": train_cpu / (train * torch.get_num_threads()),
        "train_seconds_per_pass": [wall for wall, _ in contender.train_times],
        "infer_seconds_per_pass": [wall for wall, _ in contender.infer_times],
    }


# What a row holds only when its model ran.
MEASURED_COLUMNS = (
    "train_samples_per_s",
    "train_tokens_per_s",
    "infer_samples_per_s",
    "infer_tokens_per_s",
    "train_gflop_per_pass",
    "train_gflops",
    "fraction_of_matmul_ceiling",
    "fraction_of_matmul_ceiling_cpu_time",
    "train_cpu_utilisation",
    "train_seconds_per_pass",
    "infer_seconds_per_pass",
)


def add_ratios(rows: list[dict]) -> None:
    """Throughput of every row over the textbook model's and BERT's of its architecture (None where absent)."""
    for row in rows:
        for reference_name, key in ((TEXTBOOK, "vs_textbook"), (BERT, "vs_bert")):
            reference = next(
                (r for r in rows if r["architecture"] == row["architecture"] and r["implementation"] == reference_name),
                None,
            )
            for phase in ("train", "infer"):
                ours, theirs = row[f"{phase}_samples_per_s"], reference and reference[f"{phase}_samples_per_s"]
                row[f"{phase}_{key}"] = ours / theirs if ours and theirs else None


def run_scaling(settings: BenchmarkSettings, posts: Posts, device, progress: bool = True) -> list[dict]:
    """Achieved training GFLOP/s of our models as the hidden size and the batch size grow.

    One batch at the median padded length per point, median of `settings.repeats` steps after one
    warm-up step; hidden sizes at the default batch size, batch sizes at the default hidden size.
    The Transformer keeps 4 heads and a feed-forward layer twice the hidden size, as by default.
    """
    points = [(hidden, settings.batch_size) for hidden in settings.scaling_hidden_sizes]
    points += [(None, size) for size in settings.scaling_batch_sizes if size != settings.batch_size]
    jobs = [(architecture, hidden, batch_size) for architecture in settings.architectures for hidden, batch_size in points]
    results = []
    for architecture, hidden, batch_size in tqdm(jobs, desc="scaling", disable=not progress):
        overrides = {}
        if hidden is not None and architecture == "transformer":
            overrides = {"hidden_size": hidden, "intermediate_size": 2 * hidden}
        elif hidden is not None:
            overrides = {"hidden_size": hidden}
        config = default_config(architecture, posts.vocab_size, **overrides)
        batches, _ = length_grouped_batches(posts, batch_size, 1, settings.seed, device)
        torch.manual_seed(settings.seed)
        contender = make_ready(our_contender(architecture, config), device)
        train_pass(contender, batches, device, settings.amp)
        times = [train_pass(contender, batches, device, settings.amp) for _ in range(settings.repeats)]
        gflop = contender.training_flops(batches[0]) / 1e9
        results.append(
            {
                "architecture": architecture,
                "hidden_size": config.hidden_size,
                "batch_size": batch_size,
                "length": int(batches[0]["input_ids"].shape[1]),
                "train_gflops": gflop / statistics.median(wall for wall, _ in times),
                "train_gflop_per_cpu_second": gflop / statistics.median(cpu for _, cpu in times),
            }
        )
    return results


# ---------------------------------------------------------------------------------------------------
# Report


def format_ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def markdown_table(report: dict) -> str:
    """The results as a markdown table (the one README's Speed section shows)."""
    lines = [
        "| model | implementation | train samples/s | train tokens/s | infer samples/s | train GFLOP/s "
        "| of ceiling | of ceiling, CPU time | train vs textbook | train vs BERT | infer vs textbook | infer vs BERT |",
        "|" + " --- |" * 12,
    ]
    for row in report["results"]:
        implementation = f"{row['implementation']}: {row['model']}" + (" (compiled)" if row["compiled"] else "")
        if row["error"] is not None:
            lines.append(f"| {row['architecture']} | {implementation} | failed: {row['error']} |" + " |" * 9)
            continue
        lines.append(
            f"| {row['architecture']} | {implementation} | {row['train_samples_per_s']:.0f} "
            f"| {row['train_tokens_per_s']:,.0f} | {row['infer_samples_per_s']:.0f} | {row['train_gflops']:.1f} "
            f"| {row['fraction_of_matmul_ceiling']:.2f} | {row['fraction_of_matmul_ceiling_cpu_time']:.2f} "
            f"| {format_ratio(row['train_vs_textbook'])} "
            f"| {format_ratio(row['train_vs_bert'])} | {format_ratio(row['infer_vs_textbook'])} "
            f"| {format_ratio(row['infer_vs_bert'])} |"
        )
    return "\n".join(lines)


def scaling_table(report: dict) -> str:
    """Fraction of the matmul ceiling of our training step by hidden size and batch size."""
    lines = [
        "| model | hidden size | batch size | length | train GFLOP/s | of ceiling | of ceiling, CPU time |",
        "|" + " --- |" * 7,
    ]
    for point in report["scaling"]:
        lines.append(
            f"| {point['architecture']} | {point['hidden_size']} | {point['batch_size']} | {point['length']} "
            f"| {point['train_gflops']:.1f} | {point['fraction_of_matmul_ceiling']:.2f} "
            f"| {point['fraction_of_matmul_ceiling_cpu_time']:.2f} |"
        )
    return "\n".join(lines)


def summary(report: dict) -> str:
    """Where and how the numbers were taken, in a few lines above the table."""
    machine, batches, ceiling = report["machine"], report["batches"], report["matmul_gflops"]
    load = " / ".join("n/a" if value is None else f"{value[0]:.1f}" for value in (machine["load_average_at_start"], machine["load_average_at_end"]))
    utilisation = [row["train_cpu_utilisation"] for row in report["results"] if row["error"] is None] or [0.0]
    compile_errors = {row["model"]: row["compile_error"] for row in report["results"] if row["compile_error"]}
    lines = [
        f"{report['date']} · {machine['cpu']} · {machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads "
        f"({'given' if report['settings']['threads'] else 'one per idle core'}) · device {machine['device']} · torch {machine['torch']} "
        f"· transformers {machine['transformers']}",
        f"1-minute load average at start / end: {load}; CPU time / (wall time x threads) of the training "
        f"passes: {min(utilisation):.2f}–{max(utilisation):.2f} (1: the threads had their cores to themselves)",
        f"fp32 matmul {ceiling['size']}x{ceiling['size']}: {ceiling['at_start']:.0f} GFLOP/s at start, "
        f"{ceiling['at_end']:.0f} at end; ceiling = {ceiling['ceiling']:.0f} GFLOP/s "
        f"({ceiling['ceiling_per_cpu_second']:.0f} GFLOP per CPU second)",
        f"batches: {batches['num_batches']} x {batches['batch_size']} posts of lengths {batches['batch_lengths']} "
        f"({batches['padding_fraction']:.1%} padding), the same for every model; median of "
        f"{report['settings']['repeats']} repeats after warm-up, contenders timed in turns",
    ]
    lines += [f"torch.compile failed for {model}, timed eagerly: {error}" for model, error in compile_errors.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults, quick = BenchmarkSettings(), BenchmarkSettings.quick()
    parser.add_argument("--quick", action="store_true", help="fewer, smaller batches and repeats: under two minutes")
    parser.add_argument("--architectures", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES))
    parser.add_argument("--batch_size", type=int, help=f"posts per batch (default {defaults.batch_size}, quick {quick.batch_size})")
    parser.add_argument("--num_batches", type=int, help=f"batches per timed pass (default {defaults.num_batches}, quick {quick.num_batches})")
    parser.add_argument("--repeats", type=int, help=f"timed passes; the median is reported (default {defaults.repeats}, quick {quick.repeats})")
    parser.add_argument("--no_baselines", action="store_true", help="time our models only")
    parser.add_argument("--scaling", action="store_true", help="also sweep hidden and batch sizes of our models")
    parser.add_argument("--compile", action="store_true", help="run our models through torch.compile")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1', ...")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast dtype (fp16: CUDA only)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: one per idle core: torch's one per core, less the 1-minute load average)",
    )
    parser.add_argument("--output", default="benchmark_results.json", help="where the JSON report goes")


def settings_from_args(args: argparse.Namespace) -> BenchmarkSettings:
    overrides = {
        "architectures": tuple(args.architectures),
        "baselines": not args.no_baselines,
        "scaling": args.scaling,
        "compile": args.compile,
        "device": args.device,
        "amp": args.amp,
        "threads": args.threads,
    }
    for name in ("batch_size", "num_batches", "repeats"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return BenchmarkSettings.quick(**overrides) if args.quick else BenchmarkSettings(**overrides)


def write_report(report: dict, output) -> str:
    """Write the JSON report; return the printed text (summary, table, scaling table)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    parts = [summary(report), markdown_table(report)]
    if report["scaling"]:
        parts.append(scaling_table(report))
    return "\n\n".join(parts) + f"\n\nwrote {output}"


def run_from_args(args: argparse.Namespace) -> int:
    print(write_report(run_benchmark(settings_from_args(args)), args.output))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
