"""The model card (`README.md`) a trained folder carries to the Hub: YAML metadata that the Hub reads
(task, data set, a `model-index` of validation and test results) and a page on how the model was made
and how to load it, with and without this package installed."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import ModelCard, ModelCardData

from ..models import ARCHITECTURES, own_config_fields
from ..utils import comma_list
from .card_metadata import card_metadata, hub_datasets, newsgroups_details

if TYPE_CHECKING:
    from .arguments import DataArguments

# The first transformers release that loads the folder's modeling code (`trust_remote_code=True`) and
# trains it correctly; setup.py's install_requires says the same.
MIN_TRANSFORMERS = "5.5.4"


def build_model_card(summary, model, tokenizer, raw, model_args, data_args, training_args) -> ModelCard:
    """README.md for the folder and the Hub: metadata (task, data, results) and how the model was made."""
    architecture = summary["architecture"]
    model_name = training_args.hub_model_id or Path(training_args.output_dir).name
    dataset_title = _dataset_title(data_args)
    card_data = card_metadata(summary, model_name, data_args, raw, training_args.license)
    repo = training_args.hub_model_id or "path/to/this/folder"
    config = model.config
    label_names = raw["train"].features["label"].names
    results = _results_rows(summary, raw)
    history = _history_rows(summary["history"])
    settings = _training_settings(architecture, tokenizer, model_args, training_args)
    body = f"""
# {model_name}

A {ARCHITECTURES[architecture].description} text classifier ({summary['num_parameters']:,} parameters)
{_start_description(summary.get("start"), summary.get("embeddings"))} on {dataset_title} to tell
{len(label_names)} classes apart, with `hf_seqmodels` on the Hugging Face `Trainer`.{_reinitialized_description(summary.get("start"))}
It reads words, not sub-words: its tokenizer keeps the {_word_count(tokenizer):,} words chosen as a TF-IDF vectorizer chooses them, on
{"the training split" if summary.get("start") is None else "the training text of the model it started from"},
plus {", ".join(f"`{token}`" for token in tokenizer.all_special_tokens)}.

## Results

| split | examples | accuracy | macro-F1 | loss |
| --- | --- | --- | --- | --- |
{results}

The weights are those of the epoch with the best validation {training_args.metric_for_best_model}.
Per-class precision, recall and F1 on the test split are in `classification_report_test.json`,
the confusion matrix in `confusion_matrix_test.png`.

## Training

- Data: {_data_description(data_args, raw)}
- Model: `{type(config).__name__}` {json.dumps(_own_config(config))}
- Embeddings: {_embeddings_description(summary.get("embeddings"), summary.get("start"), model)}{_distillation_description(summary.get("distillation"))}
- Trained {summary['epochs']:g} epochs ({summary['global_step']} steps) in {summary['train_runtime']:.0f} s,
  {summary['train_samples_per_second']:.1f} training and {summary['inference_samples_per_second']:.1f}
  inference examples per second.

| epoch | training loss | validation loss | validation accuracy | validation macro-F1 | seconds |
| --- | --- | --- | --- | --- | --- |
{history}

Settings:

```json
{json.dumps(settings, indent=2)}
```

{_how_to_use(repo, tokenizer, config)}

Labels: {", ".join(f"`{name}`" for name in label_names)}.
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def _results_rows(summary: dict, raw) -> str:
    """The results table's rows: examples, accuracy, macro-F1 and loss of validation and test."""
    return "\n".join(
        f"| {split} | {len(raw[split]):,} | {summary[split]['accuracy']:.4f} | {summary[split]['macro_f1']:.4f} "
        f"| {summary[split]['loss']:.4f} |"
        for split in ("validation", "test")
    )


def _history_rows(history: list[dict]) -> str:
    """One row per evaluation during training: its epoch, losses, validation scores and the seconds so far."""
    return "\n".join(
        f"| {entry['epoch']:g} | {entry['train_loss'] if entry['train_loss'] is not None else float('nan'):.4f} "
        f"| {entry['eval_loss']:.4f} | {entry['eval_accuracy']:.4f} | {entry['eval_macro_f1']:.4f} "
        f"| {entry['elapsed_seconds'] or 0:.0f} |"
        for entry in history
    )


def _training_settings(architecture: str, tokenizer, model_args, training_args) -> dict:
    """The settings the card lists: what a reader needs to train the same model again."""
    return {
        "architecture": architecture,
        "config_overrides": model_args.config_overrides,
        "vocab_size": len(tokenizer),
        "max_length": tokenizer.model_max_length,
        "min_df": model_args.min_df,
        "embeddings": model_args.embeddings,
        "learning_rate": training_args.learning_rate,
        "optimizer": getattr(training_args.optim, "value", training_args.optim),
        "weight_decay": training_args.weight_decay,
        "lr_scheduler_type": getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type),
        "warmup_steps": training_args.warmup_steps,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "num_train_epochs": training_args.num_train_epochs,
        "early_stopping_patience": training_args.early_stopping_patience,
        "metric_for_best_model": training_args.metric_for_best_model,
        "seed": training_args.seed,
    }


def _how_to_use(repo: str, tokenizer, config) -> str:
    """The card's "How to use": with transformers alone (the folder's modeling code), and with this package."""
    return f"""## How to use

Without installing anything beyond `transformers>={MIN_TRANSFORMERS}` (the modeling code is in this repository):

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="{repo}", trust_remote_code=True)
# truncation=True: a longer text is cut to the {tokenizer.model_max_length} tokens the model was trained on
classifier("The new graphics card renders twice as fast", truncation=True)
```

With `pip install hf_seqmodels`, the classes are registered and no remote code runs:

```python
import hf_seqmodels  # registers {type(config).__name__} with the Auto classes
from transformers import AutoModelForSequenceClassification, AutoTokenizer

model = AutoModelForSequenceClassification.from_pretrained("{repo}")
tokenizer = AutoTokenizer.from_pretrained("{repo}")
```"""


def _dataset_title(data_args: "DataArguments") -> str:
    if not data_args.is_newsgroups:
        return data_args.source
    return f"20 Newsgroups ({newsgroups_details(data_args)})"


def _start_description(start: dict | None, embeddings: dict | None) -> str:
    """How the training began: from scratch, from word vectors, or fine-tuned from a saved model."""
    if start is not None:
        saved_as = " ".join(start["architectures"])
        kinds = {"ForMaskedLM": "masked language model", "ForSequenceClassification": "text classifier"}
        kind = next((kind for suffix, kind in kinds.items() if saved_as.endswith(suffix)), "model")
        return f"fine-tuned from the {kind} `{start['model_name_or_path']}`"
    if embeddings is not None:
        return f"trained from word vectors (`{Path(embeddings['path']).name}`, the embedding table's start)"
    return "trained from scratch"


def _reinitialized_description(start: dict | None) -> str:
    if start is None or not start.get("reinitialized_weights"):
        return ""
    names = ", ".join(f"`{name}`" for name in start["reinitialized_weights"])
    return f" Weights that did not come from `{start['model_name_or_path']}` and started afresh: {names}."


def _word_count(tokenizer) -> int:
    return len(tokenizer) - len(tokenizer.all_special_tokens)


def _data_description(data_args: "DataArguments", raw) -> str:
    sizes = ", ".join(f"{split} {len(raw[split]):,}" for split in raw)
    if not data_args.is_newsgroups:
        columns = f"text column `{data_args.text_column}`, label column `{data_args.label_column}`"
        return f"`{data_args.source}` ({columns}): {sizes}."
    protocol = {
        "bydate": "the standard bydate train / test split, validation carved from train (stratified, seed "
        f"{data_args.split_seed})",
        "seed": f"all 18,846 posts split 60/20/20 at random (stratified, seed {data_args.split_seed})",
    }[data_args.protocol]
    removed = ", ".join(comma_list(data_args.remove)) or "nothing"
    groups = data_args.categories or "all 20 groups"
    return f"20 Newsgroups via scikit-learn's `fetch_20newsgroups`, {protocol}; removed: {removed}; {groups}: {sizes}."


def _embeddings_description(embeddings: dict | None, start: dict | None = None, model=None) -> str:
    if start is not None:
        table = model.get_input_embeddings().weight
        name = next(name for name, weight in model.named_parameters() if weight is table)
        fresh = name in (start.get("reinitialized_weights") or [])
        origin = "started at random (resized)" if fresh else f"those of `{start['model_name_or_path']}`"
        return f"{origin}, trained further."
    if embeddings is None:
        return "learned from scratch (random start)."
    return (
        f"started from the word vectors of `{Path(embeddings['path']).name}`, which held "
        f"{embeddings['found_count']:,} of the vocabulary's {embeddings['word_count']:,} words "
        f"({embeddings['found_fraction']:.1%}); the others started at random. All were trained further."
    )


def _distillation_description(record: dict | None) -> str:
    """The teachers (each one's validation accuracy), the transfer set and the loss of a distilled model."""
    if record is None:
        return ""
    teachers = "; ".join(
        f"`{entry['teacher']}` (validation accuracy {entry['validation_accuracy']:.4f}, weight {entry['weight']:g})"
        for entry in record["teachers"]
    )
    transfer = record["transfer_set"]
    return (
        f"\n- Distilled from: {teachers}; their mean: validation accuracy {record['teacher_validation_accuracy']:.4f}."
        f"\n  Transfer set: {transfer['texts']:,} texts ({transfer['labelled']:,} labelled posts, {transfer['unlabelled']:,} "
        f"unlabelled texts, {transfer['augmented']:,} altered copies labelled by the teachers alone). Loss: "
        f"{record['alpha']:g} × cross-entropy on the gold labels + {1 - record['alpha']:g} × T² × KL(teachers ‖ student) "
        f"at T = {record['temperature']:g}{unlabelled_weight_clause(record)}."
    )


def unlabelled_weight_clause(record: dict) -> str:
    """How much the teachers' term weighs on texts without a gold label, where it is not 1 - alpha."""
    weight = record.get("unlabelled_weight", 1 - record["alpha"])  # not recorded before the option existed
    if weight == 1 - record["alpha"]:
        return ""
    return f", {weight:g} × T² × KL on the texts without a gold label"


def _own_config(config) -> dict:
    return {name: getattr(config, name) for name in own_config_fields(type(config))}



def _text_layout_description(summary) -> str:
    if summary["text_layout"] == "line_by_line":
        return f"one post each, cut to {summary['max_length']} tokens (`--line_by_line`)."
    # A stream's blocks are made as it is read: their number is not known.
    count = "" if summary["train_examples"] is None else f" ({summary['train_examples']:,} blocks of training text)"
    return (
        f"the posts concatenated and cut into blocks of {summary['max_length']} tokens, as run_mlm.py groups "
        f"texts{count}."
    )


def _streamed_text_description(summary, data_args: "DataArguments") -> str:
    """What a streamed run read: the training stream (texts in one pass, texts read), and its validation texts."""
    record = summary["streaming"]
    validation = {
        "held out": f"the first {record['validation_texts']:,} texts of the stream, held out (training starts after them)",
        "file": f"{record['validation_texts']:,} texts of `{Path(data_args.validation_file or '').name}`",
        "split": f"{record['validation_texts']:,} texts of the validation split",
    }[record["validation"]]
    one_pass = "" if summary["train_texts"] is None else f"{summary['train_texts']:,} texts a pass, "
    read = "" if record["texts_read"] is None else f"{record['texts_read']:,} texts read, "
    return (
        f"{_dataset_title(data_args)}, streamed (`--streaming`: read as training ran, {one_pass}{read}"
        f"{record['examples_trained']:,} examples trained on, drawn from a shuffle buffer of "
        f"{record['shuffle_buffer_size']:,}); validation: {validation}."
    )


def _pretraining_length_description(summary) -> str:
    if summary.get("streaming"):
        return f"{summary['global_step']} steps"
    return f"{summary['epochs']:g} epochs ({summary['global_step']} steps)"


def build_pretraining_card(summary, model, tokenizer, raw, model_args, data_args, training_args) -> ModelCard:
    """README.md for a masked-LM folder: what it was pretrained on, its loss, and how to fine-tune it."""
    architecture = summary["architecture"]
    model_name = training_args.hub_model_id or Path(training_args.output_dir).name
    repo = training_args.hub_model_id or "path/to/this/folder"
    config = model.config
    # A stream has no epochs: its evaluations are by step.
    when = "step" if summary.get("streaming") else "epoch"
    history = "\n".join(
        f"| {entry[when]:g} | {entry['train_loss'] if entry['train_loss'] is not None else float('nan'):.4f} "
        f"| {entry['eval_loss']:.4f} | {entry['elapsed_seconds'] or 0:.0f} |"
        for entry in summary["history"]
    )
    text = _streamed_text_description(summary, data_args) if summary.get("streaming") else _data_description(data_args, raw)
    scored = config.mlm_vocab_size or config.vocab_size
    card_data = ModelCardData(
        language="en" if data_args.is_newsgroups else None,
        license=training_args.license,
        library_name="transformers",
        pipeline_tag="fill-mask",
        tags=["fill-mask", "hf-seqmodels", architecture],
        datasets=hub_datasets(data_args),
        model_name=model_name,
    )
    body = f"""
# {model_name}

A {ARCHITECTURES[architecture].description} masked language model ({summary['num_parameters']:,} parameters)
pretrained from scratch with `hf_seqmodels` on the Hugging Face `Trainer`, to be fine-tuned into a text
classifier. It reads words, not sub-words: its tokenizer keeps the {_word_count(tokenizer):,} words chosen, as
a TF-IDF vectorizer chooses them, on the training text, plus {", ".join(f"`{token}`" for token in tokenizer.all_special_tokens)}.

## Pretraining

- Text: {text} Labels and the test split are not read.
- Examples: {_text_layout_description(summary)}
- Objective: {summary['mlm_probability']:.0%} of the tokens masked (BERT's 80 / 10 / 10 replacement), the
  {scored:,} most common words predicted through the input embedding matrix.
- Model: `{type(config).__name__}` {json.dumps(_own_config(config))}
- Embeddings: {_embeddings_description(summary.get("embeddings"))}
- {_pretraining_length_description(summary)} in {summary['train_runtime']:.0f} s; masked-LM
  loss on validation {summary['validation']['loss']:.4f} (perplexity {summary['validation']['perplexity']:.1f}).

| {when} | training loss | validation loss | seconds |
| --- | --- | --- | --- |
{history}

## How to use

Fine-tune it into a classifier (the encoder is kept, the classification head starts fresh):

```bash
hf-seqmodels train {architecture}.json --model_name_or_path {repo}
```

```python
import hf_seqmodels  # registers {type(config).__name__} with the Auto classes
from transformers import AutoModelForSequenceClassification

model = AutoModelForSequenceClassification.from_pretrained("{repo}", num_labels=20)
```

Without this package, add `trust_remote_code=True` (the modeling code is in this folder).
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")
