"""The masked-language-model heads (pretraining): Trainer + `DataCollatorForLanguageModeling`, save / reload,
and a pretrained folder fine-tuned as a classifier. Every test runs for RNN, LSTM, GRU and Transformer;
remote-code loading is tested with the other saved classes in test_hf_integration.py."""

import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    DataCollatorForTokenClassification,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    pipeline,
)
from transformers.modeling_outputs import MaskedLMOutput

import hf_seqmodels
from helpers import TEXTS, VOCAB_SIZE, tiny_config, tiny_model
from hf_seqmodels.training.pretraining import MaskedLMCollator


@pytest.fixture(scope="module")
def tokenizer():
    return hf_seqmodels.train_tokenizer(TEXTS, vocab_size=30, model_max_length=12, min_df=1)


def tiny_masked_lm(architecture, perturb=True, seed=0, **overrides):
    return tiny_model(architecture, "masked_lm", perturb, seed, **overrides)


def encoder_variants(architecture):
    if architecture == "transformer":
        return [dict(position_embedding_type=positions) for positions in ("learned", "sinusoidal", "alibi")]
    return [dict(bidirectional=bidirectional) for bidirectional in (True, False)]


def test_decoder_is_tied_to_the_input_embeddings(architecture):
    model = tiny_masked_lm(architecture)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.base_model_prefix == "model" and type(model.model) is hf_seqmodels.ARCHITECTURES[architecture].encoder_class


def test_loss_falls_under_trainer_with_the_language_modeling_collator(architecture, tokenizer, tmp_path):
    dataset = Dataset.from_dict({"text": TEXTS}).map(
        lambda batch: tokenizer(batch["text"], truncation=True), batched=True, remove_columns=["text"]
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0)
    held_out = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3, seed=1)([dataset[i] for i in range(12)])
    assert (held_out["labels"] != -100).sum() > 5
    model = tiny_masked_lm(architecture, perturb=False, vocab_size=len(tokenizer))
    with torch.no_grad():
        before = model.eval()(**held_out).loss.item()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        max_steps=80,
        learning_rate=1e-2,
        save_strategy="no",
        report_to=[],
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    Trainer(model=model.train(), args=args, train_dataset=dataset, data_collator=collator).train()
    with torch.no_grad():
        after = model.eval()(**held_out).loss.item()
    # From about ln(30) = 3.4 (a uniform guess); the tiny models gain 0.3 (LSTM) to 0.7 in 80 steps.
    assert after < before - 0.25, (before, after)


def test_labels_score_only_the_labelled_positions(architecture):
    """Logits are BERT's (B, T, V) with or without labels; `target_logits_only` gives the labelled rows alone."""
    model = tiny_masked_lm(architecture)
    input_ids = torch.tensor([[2, 5, 7, 3, 9], [4, 6, 0, 0, 0]])
    labels = torch.full_like(input_ids, -100)
    labels[0, 1], labels[0, 4], labels[1, 0] = 11, 12, 13
    everywhere = model(input_ids)
    assert isinstance(everywhere, MaskedLMOutput) and everywhere.loss is None
    assert everywhere.logits.shape == (2, 5, VOCAB_SIZE)
    selected = everywhere.logits[labels != -100]
    expected_loss = torch.nn.functional.cross_entropy(selected, torch.tensor([11, 12, 13]))
    with_labels = model(input_ids, labels=labels)
    torch.testing.assert_close(with_labels.logits, everywhere.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(with_labels.loss, expected_loss)
    compact = model(input_ids, labels=labels, target_logits_only=True)
    assert compact.logits.shape == (3, VOCAB_SIZE)  # the labelled positions only, in row-major order
    torch.testing.assert_close(compact.logits, selected, atol=1e-6, rtol=0)
    torch.testing.assert_close(compact.loss, expected_loss)


def test_loss_is_the_sum_over_num_items_in_batch(architecture):
    """transformers' contract for gradient accumulation: Trainer passes the count of the whole accumulated batch."""
    model = tiny_masked_lm(architecture)
    input_ids = torch.tensor([[2, 5, 7, 3, 9]])
    labels = torch.tensor([[-100, 11, -100, -100, 12]])
    mean = model(input_ids, labels=labels).loss
    summed_over_7 = model(input_ids, labels=labels, num_items_in_batch=torch.tensor(7)).loss
    torch.testing.assert_close(summed_over_7, mean * 2 / 7)
    compact = model(input_ids, labels=labels, num_items_in_batch=7, target_logits_only=True)
    torch.testing.assert_close(compact.loss, mean * 2 / 7)


def premasked_posts(tokenizer, count=16, scored_vocab_size=None):
    """Each post masked once by transformers' collator (seeded), the masks kept in the data set: runs that
    batch the posts differently then train on the very same masks. With `scored_vocab_size`, by `pretrain`'s
    collator (the same masks; targets past the scored words set to -100)."""
    torch.manual_seed(0)  # the collator's own seed is not honoured by every transformers release the package allows
    if scored_vocab_size is None:
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3, seed=0)
    else:
        collator = MaskedLMCollator(tokenizer, mlm_probability=0.3, seed=0, scored_vocab_size=scored_vocab_size)
    masked = [collator([tokenizer(text, truncation=True)]) for text in TEXTS[:count]]
    columns = ("input_ids", "attention_mask", "labels")
    return Dataset.from_dict({name: [batch[name][0].tolist() for batch in masked] for name in columns})


def train_one_step(architecture, tokenizer, output_dir, batch_size, accumulation, mlm_vocab_size=None):
    dataset = premasked_posts(tokenizer, scored_vocab_size=mlm_vocab_size)
    config = tiny_config(architecture)
    dropouts = [name for name in ("embedding_dropout", "hidden_dropout", "attention_dropout") if hasattr(config, name)]
    no_dropout = dict.fromkeys(dropouts, 0.0)
    model = tiny_masked_lm(architecture, vocab_size=len(tokenizer), mlm_vocab_size=mlm_vocab_size, **no_dropout).train()
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        optim="sgd",  # the step is the gradient itself (Adam's first step is about its sign)
        learning_rate=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    padding = DataCollatorForTokenClassification(tokenizer)  # pads labels with -100
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=padding)
    result = trainer.train()
    (logged,) = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return result.training_loss, logged, torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("mlm_vocab_size", [None, 12])
def test_gradient_accumulation_trains_as_one_large_batch(architecture, mlm_vocab_size, tokenizer, tmp_path):
    """4 accumulated batches of 2 posts = one batch of 8: the same loss logged and the same step, although the
    micro-batches hold different numbers of masked words (a mean of their means would weigh them alike).
    With mlm_vocab_size, through `pretrain`'s collator, which leaves only scored targets for Trainer to count."""
    loss_1, logged_1, weights_1 = train_one_step(architecture, tokenizer, tmp_path / "ga1", 8, 1, mlm_vocab_size)
    loss_4, logged_4, weights_4 = train_one_step(architecture, tokenizer, tmp_path / "ga4", 2, 4, mlm_vocab_size)
    assert loss_4 == pytest.approx(loss_1, abs=1e-6) and logged_4 == pytest.approx(logged_1, abs=1e-6)
    torch.testing.assert_close(weights_4, weights_1, atol=1e-6, rtol=0)
    # The case is the one that tells: over the 16 posts, micro-batches of 2 hold unequal numbers of masks.
    labels = premasked_posts(tokenizer, scored_vocab_size=mlm_vocab_size)["labels"][:8]
    counts = [sum(label != -100 for post in labels[i : i + 2] for label in post) for i in range(0, 8, 2)]
    assert len(set(counts)) > 1, counts


def test_token_predictions_do_not_depend_on_padding_or_batch(architecture):
    generator = torch.Generator().manual_seed(4)
    sequences = [torch.randint(2, VOCAB_SIZE, (length,), generator=generator) for length in (7, 1, 13, 4)]
    for variant in encoder_variants(architecture):
        model = tiny_masked_lm(architecture, **variant)
        input_ids = torch.zeros(len(sequences), 20, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, sequence in enumerate(sequences):
            input_ids[row, : len(sequence)], attention_mask[row, : len(sequence)] = sequence, 1
        batched = model(input_ids, attention_mask=attention_mask).logits
        for row, sequence in enumerate(sequences):
            alone = model(sequence.unsqueeze(0)).logits[0]
            torch.testing.assert_close(batched[row, : len(sequence)], alone, atol=1e-5, rtol=0, msg=str(variant))


def test_a_batch_of_empty_posts_works(architecture, tokenizer):
    """Every post empty (headers, footers and quotes removed): input_ids, mask and labels of width 0."""
    model = tiny_masked_lm(architecture, vocab_size=len(tokenizer)).train()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0)
    batch = collator([tokenizer(text) for text in ["", "  \n", ""]])
    assert batch["input_ids"].shape == batch["labels"].shape == (3, 0)
    outputs = model(**batch)
    assert outputs.logits.shape == (3, 0, len(tokenizer)) and outputs.loss.item() == 0.0
    outputs.loss.backward()  # a step on such a batch changes nothing, but runs
    compact = model(**batch, target_logits_only=True)
    assert compact.logits.shape == (0, len(tokenizer)) and compact.loss.item() == 0.0
    without_labels = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert without_labels.shape == (3, 0, len(tokenizer))


def test_save_and_reload_with_auto_model_for_masked_lm(architecture, tmp_path):
    model = tiny_masked_lm(architecture)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    assert reloaded.get_output_embeddings().weight is reloaded.get_input_embeddings().weight
    input_ids = torch.tensor([[2, 5, 7, 3, 9], [4, 6, 0, 0, 0]])
    assert torch.equal(reloaded(input_ids).logits, model(input_ids).logits)


def test_pretrained_folder_fine_tunes_as_a_classifier(architecture, tmp_path):
    """The encoder keeps its pretrained weights; only the classification head is new."""
    pretrained = tiny_masked_lm(architecture)
    pretrained.save_pretrained(tmp_path)
    classifier, loading = AutoModelForSequenceClassification.from_pretrained(
        tmp_path, num_labels=4, output_loading_info=True
    )
    assert type(classifier) is hf_seqmodels.ARCHITECTURES[architecture].classifier_class
    assert loading["missing_keys"] == {"classifier.weight", "classifier.bias"}
    assert loading["unexpected_keys"] and all(key.startswith("lm_head.") for key in loading["unexpected_keys"])
    encoder, expected = classifier.model.state_dict(), pretrained.model.state_dict()
    assert encoder.keys() == expected.keys()
    assert all(torch.equal(encoder[name], expected[name]) for name in expected)
    assert classifier.classifier.weight.shape[0] == 4


def test_mlm_vocab_size_scores_the_most_common_words_with_the_same_tied_weights(architecture, tokenizer, tmp_path):
    """The restricted head is the full one cut to its first rows: same weights, same scores there, probability 0
    for the words past the cut, and targets past the cut left out of the loss; the saved folder reloads whole."""
    scored = 12
    full = tiny_masked_lm(architecture, vocab_size=len(tokenizer)).eval()
    cut = tiny_masked_lm(architecture, vocab_size=len(tokenizer), mlm_vocab_size=scored).eval()
    cut.load_state_dict(full.state_dict())
    assert cut.get_output_embeddings().weight is cut.get_input_embeddings().weight
    input_ids = torch.tensor([[2, 5, 9, 20, 3]])
    with torch.no_grad():
        everywhere = full(input_ids).logits
        logits = cut(input_ids).logits
        assert logits.shape == everywhere.shape
        torch.testing.assert_close(logits[..., :scored], everywhere[..., :scored])
        assert (logits.softmax(-1)[..., scored:] == 0).all()
        labels = torch.tensor([[-100, 5, -100, 20, 7]])  # 20 is past the cut
        expected = torch.nn.functional.cross_entropy(everywhere[0, [1, 4], :scored], torch.tensor([5, 7]))
        torch.testing.assert_close(cut(input_ids, labels=labels).loss, expected)
        compact = cut(input_ids, labels=labels, target_logits_only=True)
        torch.testing.assert_close(compact.logits, everywhere[0, [1, 4], :scored])
        torch.testing.assert_close(compact.loss, expected)
    cut.save_pretrained(tmp_path)
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.mlm_vocab_size == scored
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids).logits, logits)


def test_fill_mask_pipeline_answers_targets_past_mlm_vocab_size_with_probability_0(architecture, tokenizer, tmp_path):
    scored = 12
    model = tiny_masked_lm(architecture, vocab_size=len(tokenizer), mlm_vocab_size=scored)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    vocabulary = tokenizer.get_vocab()
    common = next(word for word, index in vocabulary.items() if 3 <= index < scored)
    rare = next(word for word, index in vocabulary.items() if index >= scored)
    fill_mask = pipeline("fill-mask", model=str(tmp_path))
    answers = fill_mask("the car [MASK] runs hot", targets=[common, rare])
    scores = {answer["token_str"]: answer["score"] for answer in answers}
    assert scores[rare] == 0.0 and scores[common] > 0.0
    best = fill_mask("the car [MASK] runs hot", top_k=len(tokenizer))
    assert {answer["token"] for answer in best if answer["score"] > 0} <= set(range(scored))


@pytest.mark.parametrize("mlm_vocab_size", [None, 12])
def test_resize_token_embeddings_resizes_the_tied_head(architecture, mlm_vocab_size):
    """50 -> 60 words: the decoder and its bias grow with the tied embeddings, and the new words are scored
    (unless mlm_vocab_size, kept, leaves them out); shrinking below mlm_vocab_size scores every word left."""
    model = tiny_masked_lm(architecture, vocab_size=50, mlm_vocab_size=mlm_vocab_size)
    input_ids = torch.tensor([[2, 5, 9, 20, 3]])
    with torch.no_grad():
        before = model(input_ids).logits
    model.resize_token_embeddings(60)
    decoder = model.get_output_embeddings()
    assert decoder.weight is model.get_input_embeddings().weight and decoder.bias.shape == (60,)
    assert model.config.vocab_size == 60 and model.config.mlm_vocab_size == mlm_vocab_size
    labels = torch.full_like(input_ids, -100)
    labels[0, 2] = 55
    with torch.no_grad():
        after = model(torch.tensor([[2, 5, 55, 20, 3]]), labels=labels)
        torch.testing.assert_close(model(input_ids).logits[..., :50], before)  # the old words score as before
    assert after.logits.shape == (1, 5, 60)
    if mlm_vocab_size is None:
        assert after.loss > 0  # the new word is a target like any other
    else:
        assert after.loss == 0 and (after.logits.softmax(-1)[..., mlm_vocab_size:] == 0).all()
        model.resize_token_embeddings(10)
        assert model.config.mlm_vocab_size is None and model(input_ids.clamp(max=9)).logits.shape == (1, 5, 10)


def test_compute_metrics_of_run_mlm_reads_the_logits_of_trainer_evaluate(architecture, tokenizer, tmp_path):
    """run_mlm.py's metric: logits (B, T, V) -> argmax, compared where labels are not -100."""
    model = tiny_masked_lm(architecture, vocab_size=len(tokenizer))
    dataset = premasked_posts(tokenizer, count=12)
    seen = {}

    def compute_metrics(prediction: EvalPrediction):
        predictions, labels = prediction.predictions.argmax(-1), prediction.label_ids
        seen["shapes"] = predictions.shape, labels.shape
        scored = labels != -100
        return {"accuracy": float((predictions[scored] == labels[scored]).mean())}

    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=5, report_to=[], use_cpu=True)
    trainer = Trainer(
        model=model, args=args, eval_dataset=dataset, data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=compute_metrics,
    )  # fmt: skip
    metrics = trainer.evaluate()
    predictions, labels = seen["shapes"]
    assert predictions == labels and labels[0] == 12
    with torch.no_grad():
        batch = DataCollatorForTokenClassification(tokenizer)(list(dataset))
        logits = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    scored = batch["labels"] != -100
    expected = (logits.argmax(-1)[scored] == batch["labels"][scored]).float().mean().item()
    assert metrics["eval_accuracy"] == pytest.approx(expected)


def test_mlm_vocab_size_above_the_vocabulary_is_refused(architecture):
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    with pytest.raises(ValueError, match=r"mlm_vocab_size must be ≥ 2 and ≤ 100, got 500"):
        config_class(vocab_size=100, mlm_vocab_size=500)
