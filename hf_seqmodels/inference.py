"""A saved model at work: `evaluate_folder()` scores it on a split of any data set `train` reads, and
`predict()` labels texts; they serve `hf-seqmodels evaluate` / `predict`. Both load through the Auto
classes, from safetensors only, and name a broken or foreign folder in one line."""

import json
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer
from transformers import TrainingArguments as HfTrainingArguments

from .metrics import compute_metrics
from .training import (
    DataArguments,
    UsageError,
    check_vocabulary,
    load_data,
    loading_errors,
    split_metrics,
    tokenize,
    write_evaluation,
)
from .validation import clean_text


def load_classifier(model_dir: str):
    """(tokenizer, model in eval mode) from a saved folder or Hub repo, through the Auto classes.

    Weights are read from safetensors only (`use_safetensors=True`): a `pytorch_model.bin` is a pickle,
    and a folder someone else wrote must not be able to run code when it is loaded.
    """
    with loading_errors("MODEL_DIR", model_dir):
        config = AutoConfig.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        check_vocabulary(tokenizer, config, model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, config=config, use_safetensors=True)
    return tokenizer, model.eval()


def evaluate_folder(
    model_dir: str, data_args: DataArguments, split: str = "test", output_dir: str | None = None, batch_size: int = 128
) -> dict:
    """Accuracy, macro-F1 and loss of a saved model on one split; writes its report and confusion matrix."""
    check_batch_size(batch_size)
    tokenizer, model = load_classifier(model_dir)
    output_dir = Path(output_dir or model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = predict_split(tokenizer, model, load_data(data_args)[split], split, output_dir, batch_size)
    label_names = [model.config.id2label[index] for index in range(model.config.num_labels)]
    write_evaluation(output_dir, split, output.predictions, output.label_ids, label_names)
    metrics = {"split": split, "examples": len(output.label_ids), **split_metrics(output.metrics, split)}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def predict_split(tokenizer, model, dataset: datasets.Dataset, split: str, output_dir: Path, batch_size: int):
    """Trainer.predict over one split, its labels renumbered to the model's: logits, label ids, `{split}_*` metrics."""
    dataset = align_labels(dataset, model.config.id2label)
    tokenized = tokenize(datasets.DatasetDict({split: dataset}), tokenizer, tokenizer.model_max_length)[split]
    args = HfTrainingArguments(
        output_dir=str(output_dir),
        per_device_eval_batch_size=batch_size,
        report_to=[],
        save_strategy="no",
        dataloader_pin_memory=torch.accelerator.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    return trainer.predict(tokenized, metric_key_prefix=split)


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise UsageError(f"--batch_size must be ≥ 1, got {batch_size}")


def align_labels(dataset: datasets.Dataset, id2label: dict) -> datasets.Dataset:
    """Renumber the data's labels to the model's ids, matching them by name."""
    names = dataset.features["label"].names
    model_names = [id2label[index] for index in range(len(id2label))]
    if names == model_names:
        return dataset
    if unknown := sorted(set(names) - set(model_names)):
        raise UsageError(f"labels {unknown} of the data are not among the model's labels {model_names}")
    to_model = {index: model_names.index(name) for index, name in enumerate(names)}
    features = dataset.features.copy()
    features["label"] = datasets.ClassLabel(names=model_names)
    return dataset.map(
        lambda batch: {"label": [to_model[label] for label in batch["label"]]},
        batched=True,
        features=features,
        desc="Matching labels to the model's",
    )


def predict(model_dir: str, texts: list[str], batch_size: int = 64) -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability.

    Texts are truncated to the tokenizer's `model_max_length`, so a document of any size costs one
    tokenizer pass; lone surrogates are replaced with U+FFFD (`validation.clean_text`).
    """
    check_texts(texts)
    check_batch_size(batch_size)
    tokenizer, model = load_classifier(model_dir)
    return label_answers(texts, class_probabilities(tokenizer, model, texts, batch_size), model.config.id2label)


def check_texts(texts: list[str]) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise UsageError(f"texts[{index}] is {type(text).__name__} {text!r}, not a string")


def class_probabilities(tokenizer, model, texts: list[str], batch_size: int) -> torch.Tensor:
    """(len(texts), num_labels) softmax probabilities, `batch_size` texts at a time."""
    batches = range(0, len(texts), batch_size)
    probabilities = [torch.empty(0, model.config.num_labels)]
    for start in tqdm(batches, desc="Predicting", unit="batch", disable=len(batches) < 2):
        chunk = texts[start : start + batch_size]
        inputs = tokenizer([clean_text(text) for text in chunk], truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode():
            probabilities.append(model(**inputs).logits.float().softmax(dim=-1))
    return torch.cat(probabilities)


def label_answers(texts: list[str], probabilities: torch.Tensor, id2label: dict) -> list[dict]:
    """`{"label", "score", "text"}` for each text: the most probable class and its probability."""
    scores, indices = probabilities.max(dim=-1)
    return [
        {"label": id2label[int(index)], "score": float(score), "text": text}
        for text, score, index in zip(texts, scores, indices)
    ]
