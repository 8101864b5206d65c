"""The model card's metadata for the Hub: the data each result came from (protocol, removals, groups, files and
split), the base model, and the `model-index` of validation and test results."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import EvalResult, ModelCardData

from ..utils import comma_list

if TYPE_CHECKING:
    from .arguments import DataArguments

# The name the card's metadata gives 20 Newsgroups as scikit-learn's `fetch_20newsgroups` serves it (the
# "bydate" release, 18,846 posts). No Hub copy is named: none holds the splits, removals and groups a run read.
NEWSGROUPS_DATASET_TYPE = "20newsgroups"
def card_metadata(summary: dict, model_name: str, data_args: "DataArguments", raw, license: str | None) -> ModelCardData:
    """The card's YAML header: task, library, base model, license, data set and a `model-index` of validation
    and test results, each naming the data of the split that produced it."""
    eval_results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            **split_dataset(data_args, raw, split),
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
        license=license,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["text-classification", "hf-seqmodels", summary["architecture"]],
        base_model=hub_base_model(summary.get("start")),
        datasets=hub_datasets(data_args),
        metrics=["accuracy", "f1"],
        model_name=model_name,
        eval_results=eval_results,
    )


def hub_datasets(data_args: "DataArguments") -> list[str] | None:
    """The Hub data set the model was trained on, for the Hub to link; None for 20 Newsgroups and local files."""
    return [data_args.dataset_name] if data_args.dataset_name and not os.path.isdir(data_args.dataset_name) else None


def hub_base_model(start: dict | None) -> str | None:
    """The Hub id fine-tuned from; None from scratch or from a local folder (as transformers' model cards,
    whose `base_model` must be a Hub id)."""
    if start is None or os.path.isdir(start["model_name_or_path"]):
        return None
    return start["model_name_or_path"]


def split_dataset(data_args: "DataArguments", raw, split: str) -> dict:
    """`EvalResult`'s dataset fields for one scored split: the data set, configuration and split the examples
    came from, and in `dataset_args` how they were drawn (carved from train, sampled, groups kept)."""
    dataset = raw[split]
    args = {"examples": len(dataset)}
    limit = {"validation": data_args.max_eval_samples, "test": data_args.max_test_samples}[split]
    if limit is not None:
        args["max_samples"] = limit
    args |= split_source_args(data_args, dataset, split)
    if "max_samples" in args or "held_out_fraction" in args or (data_args.is_newsgroups and data_args.protocol == "seed"):
        args["split_seed"] = data_args.split_seed  # the examples were drawn at random with it
    if data_args.is_newsgroups:
        return dict(
            dataset_type=NEWSGROUPS_DATASET_TYPE,
            dataset_name=f"20 Newsgroups ({newsgroups_details(data_args)})",
            dataset_config=data_args.protocol,
            dataset_split=split,
            dataset_args=args,
        )
    source_split = args.get("held_out_from", split)
    if data_args.dataset_name:
        return dict(
            dataset_type=data_args.dataset_name,
            dataset_name=data_args.dataset_name,
            dataset_config=data_args.dataset_config_name,
            dataset_split=source_split,
            dataset_args=args,
        )
    path = {"train": data_args.train_file, "validation": data_args.validation_file, "test": data_args.test_file}[source_split]
    return dict(
        dataset_type=Path(path).suffix.lstrip(".").lower(),
        dataset_name=Path(path).name,
        dataset_split=source_split,
        dataset_args=args,
    )


def split_source_args(data_args: "DataArguments", dataset, split: str) -> dict:
    """Where a scored split's examples were read from, beyond the data set's name."""
    if data_args.is_newsgroups:
        source_subset = {("bydate", "test"): "test", ("bydate", "validation"): "train"}.get((data_args.protocol, split), "all")
        args = {
            "loader": "sklearn.datasets.fetch_20newsgroups",
            "subset": source_subset,
            "remove": comma_list(data_args.remove),
            "categories": comma_list(data_args.categories) or "all",
        }
        if source_subset == "train":  # bydate's validation: held out from scikit-learn's training subset
            args["held_out_fraction"] = data_args.validation_size
        return args
    # The split the examples were read from: one carved from the training data keeps datasets' split "train".
    source_split = str(dataset.split) if dataset.split is not None else split
    if source_split == split:
        return {}
    size = {"validation": data_args.validation_size, "test": data_args.test_size}[split]
    return {"held_out_from": source_split, "held_out_fraction": size}


def newsgroups_details(data_args: "DataArguments") -> str:
    removed = comma_list(data_args.remove)
    groups = comma_list(data_args.categories)
    return ", ".join(
        [f"{data_args.protocol} split"]
        + ([f"{'/'.join(removed)} removed"] if removed else [])
        + ([f"{len(groups)} of the 20 groups"] if groups else [])
    )
