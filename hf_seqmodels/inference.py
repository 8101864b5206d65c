"""A saved model at work: `evaluate_folder()` scores it on a split of any data set `train` reads, and
`predict()` labels texts; they serve `hf-seqmodels evaluate` / `predict`. Both load through the Auto
classes, from safetensors only, and name a broken or foreign folder in one line."""

import json
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, EvalPrediction, Trainer
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
    _check_batch_size(batch_size)
    if Path(model_dir, "model.onnx").is_file():
        return evaluate_exported(model_dir, data_args, split, output_dir, batch_size)
    tokenizer, model = load_classifier(model_dir)
    dataset = align_labels(load_data(data_args)[split], model.config.id2label)
    tokenized = tokenize(datasets.DatasetDict({split: dataset}), tokenizer, tokenizer.model_max_length)[split]
    output_dir = Path(output_dir or model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
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
    output = trainer.predict(tokenized, metric_key_prefix=split)
    label_names = [model.config.id2label[index] for index in range(model.config.num_labels)]
    write_evaluation(output_dir, split, output.predictions, output.label_ids, label_names)
    metrics = {"split": split, "examples": len(tokenized), **split_metrics(output.metrics, split)}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _check_batch_size(batch_size: int) -> None:
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
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise UsageError(f"texts[{index}] is {type(text).__name__} {text!r}, not a string")
    _check_batch_size(batch_size)
    if Path(model_dir, "model.onnx").is_file():
        return predict_exported(model_dir, texts, batch_size)
    tokenizer, model = load_classifier(model_dir)
    results = []
    batches = range(0, len(texts), batch_size)
    for start in tqdm(batches, desc="Predicting", unit="batch", disable=len(batches) < 2):
        chunk = texts[start : start + batch_size]
        inputs = tokenizer([clean_text(text) for text in chunk], truncation=True, padding=True, return_tensors="pt")
        with torch.inference_mode():
            probabilities = model(**inputs).logits.float().softmax(dim=-1)
        scores, indices = probabilities.max(dim=-1)
        results += [
            {"label": model.config.id2label[int(index)], "score": float(score), "text": text}
            for text, score, index in zip(chunk, scores, indices)
        ]
    return results


# --------------------------------------------------------------------------- folders written by `export`


def onnx_inference_module(model_dir: str):
    """`hf_seqmodels.onnx_inference`, imported only for exported folders: onnxruntime is an optional extra."""
    try:
        from . import onnx_inference
    except ImportError as error:
        raise UsageError(f"MODEL_DIR {model_dir!r} holds model.onnx; running it needs `pip install hf_seqmodels[onnx]` ({error})") from None
    return onnx_inference


def predict_exported(model_dir: str, texts: list[str], batch_size: int = 64) -> list[dict]:
    """`predict` for a folder written by `hf-seqmodels export`: the same results, through ONNX Runtime."""
    runner = onnx_inference_module(model_dir)
    try:
        return runner.ExportedClassifier(model_dir).predict(texts, batch_size)
    except runner.ExportedModelError as error:
        raise UsageError(f"MODEL_DIR {error}") from None


def evaluate_exported(model_dir: str, data_args: DataArguments, split: str, output_dir: str | None, batch_size: int) -> dict:
    """`evaluate_folder` for an exported folder: the same metrics and files, logits from ONNX Runtime."""
    runner = onnx_inference_module(model_dir)
    try:
        classifier = runner.ExportedClassifier(model_dir)
        dataset = align_labels(load_data(data_args)[split], classifier.id2label)
        texts = dataset["text"]
        starts = range(0, len(texts), batch_size)
        logits = [classifier.logits(texts[start : start + batch_size], batch_size) for start in tqdm(starts, desc="Evaluating", unit="batch")]
    except runner.ExportedModelError as error:
        raise UsageError(f"MODEL_DIR {error}") from None
    logits = np.concatenate(logits) if logits else np.zeros((0, len(classifier.id2label)), dtype=np.float32)
    labels = np.asarray(dataset["label"])
    # Mean cross-entropy per example, as Trainer reports the loss of the PyTorch folder.
    log_probabilities = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
    loss = float(-log_probabilities[np.arange(len(labels)), labels].mean()) if len(labels) else float("nan")
    output_dir = Path(output_dir or model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    label_names = [classifier.id2label[index] for index in range(len(classifier.id2label))]
    write_evaluation(output_dir, split, logits, labels, label_names)
    scores = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    metrics = {"split": split, "examples": len(labels), "loss": loss, **scores}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
