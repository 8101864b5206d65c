"""The model card (`README.md`) a trained folder carries to the Hub: YAML metadata that the Hub reads
(task, data set, a `model-index` of validation and test results) and a page on how the model was made
and how to load it, with and without this package installed."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..models import ARCHITECTURES, own_config_fields
from ..utils import comma_list

if TYPE_CHECKING:
    from .arguments import DataArguments

# A Hub copy of the corpus `fetch_20newsgroups` downloads, named in the card's metadata so the Hub links it.
NEWSGROUPS_HUB_ID = "SetFit/20_newsgroups"


def build_model_card(summary, model, tokenizer, raw, model_args, data_args, training_args) -> ModelCard:
    """README.md for the folder and the Hub: metadata (task, data, results) and how the model was made."""
    architecture = summary["architecture"]
    model_name = training_args.hub_model_id or Path(training_args.output_dir).name
    dataset_title = _dataset_title(data_args)
    card_data = _card_metadata(summary, model_name, data_args)
    repo = training_args.hub_model_id or "path/to/this/folder"
    config = model.config
    label_names = raw["train"].features["label"].names
    results = "\n".join(
        f"| {split} | {len(raw[split]):,} | {summary[split]['accuracy']:.4f} | {summary[split]['macro_f1']:.4f} "
        f"| {summary[split]['loss']:.4f} |"
        for split in ("validation", "test")
    )
    history = "\n".join(
        f"| {entry['epoch']:g} | {entry['train_loss'] if entry['train_loss'] is not None else float('nan'):.4f} "
        f"| {entry['eval_loss']:.4f} | {entry['eval_accuracy']:.4f} | {entry['eval_macro_f1']:.4f} "
        f"| {entry['elapsed_seconds'] or 0:.0f} |"
        for entry in summary["history"]
    )
    settings = {
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
    body = f"""
# {model_name}

A {ARCHITECTURES[architecture].description} text classifier ({summary['num_parameters']:,} parameters)
trained from scratch on {dataset_title} to tell {len(label_names)} classes apart, with
`hf_seqmodels` on the Hugging Face `Trainer`. It reads words, not sub-words: its
tokenizer keeps the {len(tokenizer) - 2:,} words a TF-IDF vectorizer chose on the training split.

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
- Embeddings: {_embeddings_description(summary.get("embeddings"))}
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

## How to use

Without installing anything beyond `transformers` (the modeling code is in this repository):

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
```

Labels: {", ".join(f"`{name}`" for name in label_names)}.
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def _card_metadata(summary: dict, model_name: str, data_args: "DataArguments") -> ModelCardData:
    """The card's YAML header: task, library, data set and a `model-index` of validation and test results."""
    dataset_id = NEWSGROUPS_HUB_ID if data_args.is_newsgroups else (data_args.dataset_name or "local files")
    eval_results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=dataset_id,
            dataset_name=_dataset_title(data_args),
            dataset_split=split,
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=round(summary[split][metric], 4),
            metric_args=args,
        )
        for split in ("validation", "test")
        for metric, metric_type, metric_name, args in (
            ("accuracy", "accuracy", "Accuracy", None),
            ("macro_f1", "f1", "Macro F1", {"average": "macro"}),
        )
    ]
    return ModelCardData(
        language="en" if data_args.is_newsgroups else None,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["text-classification", "hf-seqmodels", summary["architecture"]],
        datasets=[data_args.dataset_name or NEWSGROUPS_HUB_ID] if not data_args.train_file else None,
        metrics=["accuracy", "f1"],
        model_name=model_name,
        eval_results=eval_results,
    )


def _dataset_title(data_args: "DataArguments") -> str:
    if not data_args.is_newsgroups:
        return data_args.source
    removed = comma_list(data_args.remove)
    return f"20 Newsgroups ({data_args.protocol} split" + (f", {'/'.join(removed)} removed)" if removed else ")")


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


def _embeddings_description(embeddings: dict | None) -> str:
    if embeddings is None:
        return "learned from scratch (random start)."
    return (
        f"started from the word vectors of `{Path(embeddings['path']).name}`, which held "
        f"{embeddings['found_count']:,} of the vocabulary's {embeddings['word_count']:,} words "
        f"({embeddings['found_fraction']:.1%}); the others started at random. All were trained further."
    )


def _own_config(config) -> dict:
    return {name: getattr(config, name) for name in own_config_fields(type(config))}



def _text_layout_description(summary) -> str:
    if summary["text_layout"] == "line_by_line":
        return f"one post each, cut to {summary['max_length']} tokens (`--line_by_line`)."
    return (
        f"the posts concatenated and cut into blocks of {summary['max_length']} tokens, as run_mlm.py groups "
        f"texts ({summary['train_examples']:,} blocks of training text)."
    )


def build_pretraining_card(summary, model, tokenizer, raw, model_args, data_args, training_args) -> ModelCard:
    """README.md for a masked-LM folder: what it was pretrained on, its loss, and how to fine-tune it."""
    architecture = summary["architecture"]
    model_name = training_args.hub_model_id or Path(training_args.output_dir).name
    repo = training_args.hub_model_id or "path/to/this/folder"
    config = model.config
    history = "\n".join(
        f"| {entry['epoch']:g} | {entry['train_loss'] if entry['train_loss'] is not None else float('nan'):.4f} "
        f"| {entry['eval_loss']:.4f} | {entry['elapsed_seconds'] or 0:.0f} |"
        for entry in summary["history"]
    )
    scored = config.mlm_vocab_size or config.vocab_size
    card_data = ModelCardData(
        language="en" if data_args.is_newsgroups else None,
        library_name="transformers",
        pipeline_tag="fill-mask",
        tags=["fill-mask", "hf-seqmodels", architecture],
        datasets=[data_args.dataset_name or NEWSGROUPS_HUB_ID] if not data_args.train_file else None,
        model_name=model_name,
    )
    body = f"""
# {model_name}

A {ARCHITECTURES[architecture].description} masked language model ({summary['num_parameters']:,} parameters)
pretrained from scratch with `hf_seqmodels` on the Hugging Face `Trainer`, to be fine-tuned into a text
classifier. It reads words, not sub-words: its tokenizer keeps the {len(tokenizer) - 3:,} words a TF-IDF
vectorizer chose on the training text, plus `[PAD]`, `[UNK]` and `[MASK]`.

## Pretraining

- Text: {_data_description(data_args, raw)} Labels and the test split are not read.
- Examples: {_text_layout_description(summary)}
- Objective: {summary['mlm_probability']:.0%} of the tokens masked (BERT's 80 / 10 / 10 replacement), the
  {scored:,} most common words predicted through the input embedding matrix.
- Model: `{type(config).__name__}` {json.dumps(_own_config(config))}
- Embeddings: {_embeddings_description(summary.get("embeddings"))}
- {summary['epochs']:g} epochs ({summary['global_step']} steps) in {summary['train_runtime']:.0f} s; masked-LM
  loss on validation {summary['validation']['loss']:.4f} (perplexity {summary['validation']['perplexity']:.1f}).

| epoch | training loss | validation loss | seconds |
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
