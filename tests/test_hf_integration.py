"""The models inside the Hugging Face stack: AutoTokenizer, pipeline, Trainer, and remote-code loading
on a machine where this package is not installed."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    pipeline,
)

import hf_seqmodels
from helpers import TEXTS, WITHOUT_PACKAGE, tiny_classifier, tiny_config
from hf_seqmodels.models.modeling_common import AUTO_CLASS_SUFFIXES

LABEL_NAMES = ["autos", "space", "hockey", "religion"]
LABELS = [0, 1, 2, 3, 0, 1] * 4


@pytest.fixture(scope="module")
def tokenizer():
    return hf_seqmodels.train_tokenizer(TEXTS, vocab_size=30, model_max_length=12, min_df=1)


def save_classifier(architecture, tokenizer, folder):
    model = tiny_classifier(
        architecture,
        vocab_size=len(tokenizer),
        num_labels=4,
        id2label=dict(enumerate(LABEL_NAMES)),
        label2id={name: index for index, name in enumerate(LABEL_NAMES)},
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def test_tokenizer_vocabulary_comes_from_tfidf(tokenizer):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(max_features=27).fit(TEXTS)
    vocabulary = tokenizer.get_vocab()
    assert len(tokenizer) == 30
    # [MASK] (for masked-LM pretraining) comes after the words, which keep ids from 2 as before it existed
    assert vocabulary["[PAD]"] == 0 and vocabulary["[UNK]"] == 1 and vocabulary["[MASK]"] == 29
    assert tokenizer.mask_token_id == 29 and tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1
    assert set(vocabulary) - {"[PAD]", "[UNK]", "[MASK]"} == set(vectorizer.vocabulary_)


def test_tokenizer_round_trip_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "The ENGINE, of the probe: zyzzyva! a"
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    ids = reloaded(text)["input_ids"]
    assert ids[1] == reloaded.convert_tokens_to_ids("engine")  # lower-cased like the vectorizer
    assert ids[-1] == reloaded.unk_token_id  # unseen word; "a" (one letter) is no token, as in scikit-learn
    assert len(reloaded(" ".join(TEXTS), truncation=True)["input_ids"]) == 12
    batch = reloaded(["car", "the probe will orbit"], padding=True)
    assert batch["input_ids"][0][1:] == [reloaded.pad_token_id] * 3 and batch["attention_mask"][0] == [1, 0, 0, 0]


def test_pipeline_returns_the_stored_label_names(architecture, tokenizer, tmp_path):
    save_classifier(architecture, tokenizer, tmp_path)
    classify = pipeline("text-classification", model=str(tmp_path), device="cpu")
    # truncation=True as for any transformers encoder: the Transformer's positions end at model_max_length
    results = classify(["my car engine", "", "   \n\t ", "the probe " * 50], truncation=True)
    assert [result["label"] in LABEL_NAMES for result in results] == [True] * 4
    assert all(0.0 <= result["score"] <= 1.0 for result in results)


@pytest.mark.slow
def test_remote_code_loads_where_the_package_cannot_be_imported(architecture, tokenizer, tmp_path):
    model = save_classifier(architecture, tokenizer, tmp_path / "model")
    batch = tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
    expected = model(**batch).logits
    script = WITHOUT_PACKAGE + textwrap.dedent(
        f"""
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer
        folder = {str(tmp_path / "model")!r}
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        batch = tokenizer({TEXTS[:3]!r}, padding=True, return_tensors="pt")
        print(json.dumps({{
            "logits": model(**batch).logits.tolist(),
            "classes": [type(model).__name__, type(encoder).__name__, type(config).__name__],
            "modules": sorted({{type(model).__module__.split(".")[0]}}),
            "package_imported": any(name.startswith("hf_seqmodels") for name in sys.modules),
        }}))
        """
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    prefix = hf_seqmodels.ARCHITECTURES[architecture].config_class.__name__.removesuffix("Config")
    assert report["classes"] == [f"{prefix}ForSequenceClassification", f"{prefix}Model", f"{prefix}Config"]
    assert report["modules"] == ["transformers_modules"] and not report["package_imported"]
    assert torch.equal(torch.tensor(report["logits"]), expected)


def saveable_classes(architecture):
    """Every class of an architecture that `save_pretrained` writes a folder for."""
    entry = hf_seqmodels.ARCHITECTURES[architecture]
    return [entry.encoder_class, entry.classifier_class, entry.masked_lm_class]


@pytest.mark.slow
def test_every_saved_class_loads_back_through_every_auto_class_with_remote_code(architecture, tmp_path):
    """Each folder answers to every Auto class in its `auto_map` where this package is not installed, and
    the class that was saved comes back with the same outputs."""
    ids = torch.tensor([[2, 5, 7, 3, 9], [4, 6, 0, 0, 0]])
    expected = {}
    for model_class in saveable_classes(architecture):
        torch.manual_seed(0)
        model = model_class(tiny_config(architecture, num_labels=3)).eval()
        model.save_pretrained(tmp_path / model_class.__name__)
        expected[model_class.__name__] = model(ids, return_dict=False)[0].tolist()
    script = WITHOUT_PACKAGE + textwrap.dedent(
        f"""
        import pathlib, torch, transformers
        ids = torch.tensor({ids.tolist()!r})
        report = {{}}
        for folder in sorted(pathlib.Path({str(tmp_path)!r}).iterdir()):
            config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
            loaded = {{}}
            for auto_name in config.auto_map:
                if auto_name != "AutoConfig":
                    model = getattr(transformers, auto_name).from_pretrained(folder, trust_remote_code=True).eval()
                    loaded[auto_name] = type(model).__name__
                    if type(model).__name__ == folder.name:
                        loaded["outputs"] = model(ids, return_dict=False)[0].tolist()
            report[folder.name] = loaded
        report["package_imported"] = any(name.startswith("hf_seqmodels") for name in sys.modules)
        print(json.dumps(report))
        """
    )
    # The thread count conftest.py sets too: outputs compared bit for bit must be summed in the same order.
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path.parent / "hf_home"), "PATH": "/usr/bin:/bin"}
    env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report.pop("package_imported")
    prefix = hf_seqmodels.ARCHITECTURES[architecture].config_class.__name__.removesuffix("Config")
    every_auto_class = {auto: prefix + suffix for auto, suffix in AUTO_CLASS_SUFFIXES.items()}
    assert set(report) == set(expected)
    for saved, loaded in report.items():
        assert torch.equal(torch.tensor(loaded.pop("outputs")), torch.tensor(expected[saved])), saved
        assert loaded == every_auto_class, saved


def train_once(architecture, tokenizer, output_dir, batch_size, accumulation):
    dataset = Dataset.from_dict({"text": TEXTS[:16], "label": LABELS[:16]})
    dataset = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True, remove_columns=["text"])
    model = tiny_classifier(
        architecture, perturb=False, vocab_size=len(tokenizer), num_labels=4, **dropout_free(architecture)
    ).train()
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=2,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return result.training_loss, losses, torch.cat([p.detach().flatten() for p in model.parameters()])


def dropout_free(architecture):
    names = ["embedding_dropout", "hidden_dropout", "classifier_dropout"]
    return {name: 0.0 for name in names}


def test_gradient_accumulation_reports_and_applies_the_same_loss(architecture, tokenizer, tmp_path):
    """Trainer with 4 accumulated batches of 2 must match one batch of 8 (same samples, same order)."""
    loss_1, losses_1, weights_1 = train_once(architecture, tokenizer, tmp_path / "ga1", 8, 1)
    loss_4, losses_4, weights_4 = train_once(architecture, tokenizer, tmp_path / "ga4", 2, 4)
    assert loss_4 == pytest.approx(loss_1, rel=1e-4)
    assert losses_4 == pytest.approx(losses_1, rel=1e-4)
    torch.testing.assert_close(weights_4, weights_1, atol=1e-5, rtol=1e-4)
