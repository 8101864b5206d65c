"""The masked-language-model heads (pretraining): Trainer + `DataCollatorForLanguageModeling`, save / reload,
and a pretrained folder fine-tuned as a classifier. Every test runs for RNN, LSTM, GRU and Transformer;
remote-code loading is tested with the other saved classes in test_hf_integration.py."""

import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
)
from transformers.modeling_outputs import MaskedLMOutput

import hf_seqmodels
from helpers import TEXTS, VOCAB_SIZE, tiny_model


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
    assert model.base_model_prefix == "model" and type(model.model) is hf_seqmodels.ARCHITECTURES[architecture].model_class


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
    model = tiny_masked_lm(architecture)
    input_ids = torch.tensor([[2, 5, 7, 3, 9], [4, 6, 0, 0, 0]])
    labels = torch.full_like(input_ids, -100)
    labels[0, 1], labels[0, 4], labels[1, 0] = 11, 12, 13
    everywhere = model(input_ids)
    assert isinstance(everywhere, MaskedLMOutput) and everywhere.loss is None
    assert everywhere.logits.shape == (2, 5, VOCAB_SIZE)
    scored = model(input_ids, labels=labels)
    assert scored.logits.shape == (3, VOCAB_SIZE)  # the labelled positions only, in row-major order
    selected = everywhere.logits[labels != -100]
    torch.testing.assert_close(scored.logits, selected, atol=1e-6, rtol=0)
    torch.testing.assert_close(scored.loss, torch.nn.functional.cross_entropy(selected, torch.tensor([11, 12, 13])))


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
    assert outputs.logits.shape == (0, len(tokenizer)) and outputs.loss.item() == 0.0
    outputs.loss.backward()  # a step on such a batch changes nothing, but runs
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
    """The restricted head is the full one cut to its first rows: same weights, same scores there, and
    targets past the cut left out of the loss; the saved folder reloads whole."""
    scored = 12
    full = tiny_masked_lm(architecture, vocab_size=len(tokenizer)).eval()
    cut = tiny_masked_lm(architecture, vocab_size=len(tokenizer), mlm_vocab_size=scored).eval()
    cut.load_state_dict(full.state_dict())
    assert cut.get_output_embeddings().weight is cut.get_input_embeddings().weight
    input_ids = torch.tensor([[2, 5, 9, 20, 3]])
    with torch.no_grad():
        everywhere = full(input_ids).logits
        torch.testing.assert_close(cut(input_ids).logits, everywhere[..., :scored])
        labels = torch.tensor([[-100, 5, -100, 20, 7]])  # 20 is past the cut
        expected = torch.nn.functional.cross_entropy(everywhere[0, [1, 4], :scored], torch.tensor([5, 7]))
        torch.testing.assert_close(cut(input_ids, labels=labels).loss, expected)
    cut.save_pretrained(tmp_path)
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.mlm_vocab_size == scored
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids).logits, everywhere[..., :scored])


def test_mlm_vocab_size_above_the_vocabulary_is_refused(architecture):
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    with pytest.raises(ValueError, match=r"mlm_vocab_size must be ≥ 2 and ≤ 100, got 500"):
        config_class(vocab_size=100, mlm_vocab_size=500)
