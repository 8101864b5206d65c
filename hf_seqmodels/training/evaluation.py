"""`evaluate_folder()`: a saved model scored on one split of any data set `train` reads, with the same
report and confusion matrix `train` writes for its test split (`hf-seqmodels evaluate`); `evaluate_ensemble()`
the same for several folders as one (`hf-seqmodels evaluate DIR1 DIR2 ...`, the library's
`serving.ensemble`)."""

import json
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, EvalPrediction
from transformers import TrainingArguments as HfTrainingArguments

from ..errors import UsageError
from ..metrics import compute_metrics
from ..options import check_batch_size
from ..serving.ensemble import check_weights, label_names, load_members, mean_probabilities
from ..serving.loading import is_exported, load_classifier, onnx_runtime
from .arguments import DataArguments
from .building import load_data, tokenize
from .outputs import softmax_probabilities, split_metrics, write_evaluation
from .trainer import SeqModelsTrainer


def evaluate_folder(
    model_dir: str, data_args: DataArguments, split: str = "test", output_dir: str | None = None, batch_size: int = 128
) -> dict:
    """Accuracy, macro-F1 and loss of a saved model on one split; writes its report and confusion matrix."""
    check_batch_size(batch_size)
    if is_exported(model_dir):
        return evaluate_exported(model_dir, data_args, split, output_dir, batch_size)
    tokenizer, model = load_classifier(model_dir)
    output_dir = Path(output_dir or model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = predict_split(tokenizer, model, load_data(data_args)[split], split, output_dir, batch_size)
    write_evaluation(output_dir, split, output.predictions, output.label_ids, label_names(model))
    metrics = {"split": split, "examples": len(output.label_ids), **split_metrics(output.metrics, split)}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def predict_split(tokenizer, model, dataset: datasets.Dataset, split: str, output_dir: Path, batch_size: int):
    """Trainer.predict over one split (shortest texts first, outputs in the split's order), its labels
    renumbered to the model's: logits, label ids, `{split}_*` metrics."""
    dataset = align_labels(dataset, model.config.id2label)
    tokenized = tokenize(datasets.DatasetDict({split: dataset}), tokenizer)[split]
    args = HfTrainingArguments(
        output_dir=str(output_dir),
        per_device_eval_batch_size=batch_size,
        report_to=[],
        save_strategy="no",
        dataloader_pin_memory=torch.accelerator.is_available(),
    )
    trainer = SeqModelsTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    return trainer.predict(tokenized, metric_key_prefix=split)


def evaluate_exported(model_dir: str, data_args: DataArguments, split: str, output_dir: str | None, batch_size: int) -> dict:
    """`evaluate_folder` for a folder written by `hf-seqmodels export`: the same metrics and files, logits
    from ONNX Runtime."""
    with onnx_runtime(model_dir) as runtime:
        classifier = runtime.ExportedClassifier(model_dir)
        dataset = align_labels(load_data(data_args)[split], classifier.id2label)
        texts = dataset["text"]
        starts = range(0, len(texts), batch_size)
        logits = [classifier.logits(texts[start : start + batch_size], batch_size) for start in tqdm(starts, desc="Evaluating", unit="batch")]
    logits = np.concatenate(logits) if logits else np.zeros((0, len(classifier.id2label)), dtype=np.float32)
    labels = np.asarray(dataset["label"])
    # Mean cross-entropy per example, as Trainer reports the loss of the PyTorch folder.
    log_probabilities = logits - np.logaddexp.reduce(logits.astype(np.float64), axis=-1, keepdims=True)
    loss = float(-log_probabilities[np.arange(len(labels)), labels].mean()) if len(labels) else float("nan")
    output_dir = Path(output_dir or model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    names = [classifier.id2label[index] for index in range(len(classifier.id2label))]
    write_evaluation(output_dir, split, logits, labels, names)
    scores = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    metrics = {"split": split, "examples": len(labels), "loss": loss, **scores}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


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


# --------------------------------------------------------------------------- several folders as one


def split_probabilities(members: list[tuple], dataset: datasets.Dataset, split: str, output_dir, batch_size: int):
    """Every member's probabilities on one split, as `evaluate` computes them, and the seconds each took.

    The seconds are Trainer's own `{split}_runtime` (the model's forward passes, tokenizing excluded), the
    measure behind every model row's inference speed in `compare`.
    """
    probabilities, seconds, label_ids = [], [], None
    for tokenizer, model in members:
        output = predict_split(tokenizer, model, dataset, split, Path(output_dir), batch_size)
        probabilities.append(softmax_probabilities(output.predictions))
        seconds.append(output.metrics[f"{split}_runtime"])
        label_ids = output.label_ids
    return probabilities, seconds, label_ids


def ensemble_metrics(probabilities: np.ndarray, label_ids) -> dict:
    """Loss (cross-entropy of the mean probabilities), accuracy and macro-F1, scored as every model is."""
    label_ids = np.asarray(label_ids)
    # Probabilities as "logits": argmax is all compute_metrics reads, so the scoring is the models' own.
    scores = compute_metrics(EvalPrediction(predictions=probabilities, label_ids=label_ids))
    true_class = probabilities[np.arange(len(label_ids)), label_ids]
    loss = float(-np.log(np.clip(true_class, 1e-12, None)).mean()) if len(label_ids) else float("nan")
    return {"loss": loss, **scores}


def evaluate_ensemble(
    model_dirs: list[str],
    data_args: DataArguments,
    split: str = "test",
    output_dir: str | None = None,
    batch_size: int = 128,
    weights: list[float] | None = None,
) -> dict:
    """`evaluate_folder()` over several folders; writes the ensemble's report to `output_dir`."""
    weights = check_weights(weights, len(model_dirs))
    check_batch_size(batch_size)
    if output_dir is None:  # each folder's own report stays its own
        raise UsageError("--output_dir: needed with several MODEL_DIRs (where the ensemble's report goes)")
    members = load_members(model_dirs)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    dataset = load_data(data_args)[split]
    probabilities, _, label_ids = split_probabilities(members, dataset, split, output_dir, batch_size)
    mean = mean_probabilities(probabilities, weights)
    write_evaluation(output_dir, split, mean, label_ids, label_names(members[0][1]))
    metrics = {"split": split, "examples": len(label_ids), **ensemble_metrics(mean, label_ids)}
    (output_dir / f"eval_{split}_results.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
