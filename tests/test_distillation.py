"""Distillation (`hf-seqmodels distill`, `compare --distill`): the loss, its contract with Trainer, the teachers
of every kind, the transfer set, and bad input."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from datasets.table import MemoryMappedTable
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DataCollatorWithPadding,
    TrainingArguments,
)

import hf_seqmodels
from hf_seqmodels.training import DataArguments, load_data
from hf_seqmodels.errors import UsageError
from hf_seqmodels.training.distillation import TEACHER_COLUMN, DistillationTrainer, distillation_loss
from hf_seqmodels.serving.loading import open_classifier
from hf_seqmodels.training.teachers import TEACHER_CACHE, soft_targets, teacher_answers
from hf_seqmodels.training.tfidf import tfidf_logistic_regression
from hf_seqmodels.training.transfer import (
    NO_LABEL, augmented_copies, build_transfer_set, open_unlabelled_stream, read_unlabelled_file, unlabelled_remainder,
)  # fmt: skip
from hf_seqmodels.training.transfer_disk import ANSWERS_COLUMN, TRANSFER_FOLDER, soft_targets_column, transfer_on_disk
from helpers import TEXTS, assert_refused, run_command, save_tiny_folder, tiny_classifier

LABELS = ["autos", "space", "hockey", "religion"]
TOPIC_OF_TEXT = [0, 1, 2, 3, 0, 1]  # the topic of each of helpers.TEXTS' six distinct posts
TINY_STUDENT = ["--config_overrides", "embedding_size=12,hidden_size=10,num_hidden_layers=1", "--vocab_size", "60"]
QUIET = ["--disable_tqdm", "true", "--report_to", "none"]


# --------------------------------------------------------------------------- the loss


def test_loss_is_the_gold_term_plus_the_teachers_term_at_temperature():
    """By hand: alpha x CE(gold) where a text has one + (1 - alpha) x T² x KL(p_T ‖ q_T), over the items."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=generator)
    labels = torch.tensor([2, NO_LABEL, 0, NO_LABEL, 1])
    teacher = torch.softmax(torch.randn(5, 3, generator=generator), -1)
    teacher[1] = torch.tensor([0.0, 0.25, 0.75])  # a zero probability contributes nothing (0 log 0 = 0)
    alpha, temperature = 0.3, 2.5

    expected = 0.0
    for z, y, p in zip(logits.tolist(), labels.tolist(), teacher.tolist()):
        if y != NO_LABEL:
            expected += alpha * -(z[y] - math.log(sum(math.exp(v) for v in z)))
        q = [math.exp(v / temperature) for v in z]
        q = [v / sum(q) for v in q]
        expected += (1 - alpha) * temperature**2 * sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)

    assert distillation_loss(logits, labels, teacher, alpha, temperature).item() == pytest.approx(expected / 5, rel=1e-5)
    # With the count of the whole accumulated batch, the sum is divided by that count instead.
    loss = distillation_loss(logits, labels, teacher, alpha, temperature, num_items_in_batch=torch.tensor(20))
    assert loss.item() == pytest.approx(expected / 20, rel=1e-5)
    # alpha = 1 is plain cross-entropy over the labelled texts; alpha = 0 ignores the gold labels entirely.
    gold = torch.nn.functional.cross_entropy(logits[labels >= 0], labels[labels >= 0], reduction="sum") / 5
    assert distillation_loss(logits, labels, teacher, 1.0, temperature).item() == pytest.approx(gold.item(), rel=1e-5)
    flipped = labels.clone()
    flipped[flipped >= 0] = (flipped[flipped >= 0] + 1) % 3
    assert distillation_loss(logits, flipped, teacher, 0.0, temperature) == distillation_loss(logits, labels, teacher, 0.0, temperature)
    # A weight of its own for the teachers' term on texts without a gold label: here 1, a labelled text's whole weight.
    expected_unlabelled = 0.0
    for z, y, p in zip(logits.tolist(), labels.tolist(), teacher.tolist()):
        q = [math.exp(v / temperature) for v in z]
        q = [v / sum(q) for v in q]
        kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)
        if y != NO_LABEL:
            expected_unlabelled += alpha * -(z[y] - math.log(sum(math.exp(v) for v in z))) + (1 - alpha) * temperature**2 * kl
        else:
            expected_unlabelled += 1.0 * temperature**2 * kl
    loss = distillation_loss(logits, labels, teacher, alpha, temperature, unlabelled_weight=1.0)
    assert loss.item() == pytest.approx(expected_unlabelled / 5, rel=1e-5)


def distill_steps(tokenizer, output_dir, batch_size, accumulation):
    texts = TEXTS[:16]
    generator = torch.Generator().manual_seed(1)
    teacher = torch.softmax(3 * torch.randn(16, 4, generator=generator), -1).tolist()
    labels = [TOPIC_OF_TEXT[i % 6] if i % 3 else NO_LABEL for i in range(16)]  # labelled and unlabelled mixed
    dataset = Dataset.from_dict({"text": texts, "label": labels, TEACHER_COLUMN: teacher})
    dataset = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True, remove_columns=["text"])
    dropout_free = {name: 0.0 for name in ("embedding_dropout", "hidden_dropout", "classifier_dropout")}
    model = tiny_classifier("gru", perturb=False, vocab_size=len(tokenizer), num_labels=4, **dropout_free).train()
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
        max_steps=2, learning_rate=1e-2, logging_steps=1, save_strategy="no", report_to=[], seed=0, use_cpu=True,
        disable_tqdm=True,
    )  # fmt: skip
    trainer = DistillationTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer),
        alpha=0.4, temperature=2.0,
    )  # fmt: skip
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return result.training_loss, losses, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_gradient_accumulation_trains_as_one_large_batch(tmp_path):
    """transformers' contract: 4 accumulated batches of 2 give the loss and the weights of one batch of 8, although
    the small batches hold different numbers of labelled texts."""
    tokenizer = hf_seqmodels.train_tokenizer(TEXTS, vocab_size=40, model_max_length=32, min_df=1)
    loss_1, losses_1, weights_1 = distill_steps(tokenizer, tmp_path / "ga1", 8, 1)
    loss_4, losses_4, weights_4 = distill_steps(tokenizer, tmp_path / "ga4", 2, 4)
    assert losses_4 == pytest.approx(losses_1, rel=1e-4)
    assert loss_4 == pytest.approx(loss_1, rel=1e-4)
    torch.testing.assert_close(weights_4, weights_1, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- teachers


def bert_folder(folder, texts, labels):
    """A tiny BERT classifier with a WordPiece tokenizer over the words of `texts`, saved as transformers saves one."""
    words = sorted({word for text in texts for word in text.lower().replace(",", " ").split()})
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ","] + words) + "\n")
    tokenizer = BertTokenizer(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
        max_position_embeddings=64, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def labelled_csv(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


@pytest.fixture
def topics_csv(tmp_path):
    texts = TEXTS * 2
    return labelled_csv(tmp_path / "topics.csv", texts, [LABELS[TOPIC_OF_TEXT[i % 6]] for i in range(len(texts))])


def test_a_transformers_bert_folder_teaches_with_its_own_tokenizer(tmp_path, topics_csv, capsys):
    """A fine-tuned BERT is the typical teacher: loaded with the Auto classes, it reads with its WordPiece tokenizer,
    and the student's targets are its probabilities."""
    labels_sorted = sorted(LABELS)  # a CSV's string labels are sorted by name
    teacher = bert_folder(tmp_path / "bert", TEXTS, labels_sorted)
    code, out, err = run_command(
        capsys, "distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--max_length", "32",
        "--train_file", topics_csv, "--teacher", teacher, "--augment", "1", "--num_train_epochs", "1",
        "--output_dir", tmp_path / "student", *QUIET,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["distillation"]["teachers"][0]["teacher"] == str(teacher)
    # The cached answers are BERT's own log-probabilities on the transfer texts.
    with np.load(tmp_path / "student" / TEACHER_CACHE) as cache:
        (key,) = [key for key in cache.files if key.endswith("/transfer")]
        cached = cache[key]
    transfer_texts = summary["distillation"]["transfer_set"]["texts"]
    assert cached.shape == (transfer_texts, len(LABELS))
    bert_tokenizer = BertTokenizer.from_pretrained(teacher)
    bert = AutoModelForSequenceClassification.from_pretrained(teacher).eval()
    first = list(load_data(DataArguments(train_file=str(topics_csv)))["train"]["text"])[:4]
    with torch.no_grad():
        expected = torch.log_softmax(bert(**bert_tokenizer(first, padding=True, return_tensors="pt")).logits, -1)
    np.testing.assert_allclose(cached[:4], expected.numpy(), atol=1e-5)
    # The student is an ordinary classifier folder whose card names its teacher.
    student = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student")
    assert [student.config.id2label[i] for i in range(4)] == labels_sorted
    card = (tmp_path / "student" / "README.md").read_text()
    assert "Distilled from" in card and str(teacher) in card


def test_tfidf_teacher_answers_its_own_posts_out_of_fold(newsgroups_home, tmp_path):
    """A model fitted on a post is sure of its gold label; the TF-IDF teacher's answers on the posts it is fitted on
    come from the folds that did not see them, so they say more than the label does. Texts beyond them (the
    unlabelled ones) are answered by the teacher fitted on every labelled post."""
    data = load_data(DataArguments(categories="sci.space,rec.autos,sci.med", max_train_samples=300, max_eval_samples=60))
    texts, labels = list(data["train"]["text"]), np.asarray(data["train"]["label"])
    unlabelled = list(data["validation"]["text"])[:20]
    names = data["train"].features["label"].names
    (answers,) = teacher_answers(["tfidf"], names, texts + unlabelled, (texts, labels), unlabelled, tmp_path, seed=0)
    on_own_posts = np.exp(answers.transfer[: len(texts)])[np.arange(len(texts)), labels]
    fitted = tfidf_logistic_regression().fit(texts, labels)
    assert fitted.predict_proba(texts)[np.arange(len(texts)), labels].mean() > 0.9  # what an in-fold teacher says
    assert on_own_posts.mean() < 0.85
    np.testing.assert_allclose(np.exp(answers.transfer[len(texts) :]), fitted.predict_proba(unlabelled), atol=1e-6)
    np.testing.assert_allclose(answers.validation, answers.transfer[len(texts) :], atol=1e-6)


def test_teachers_answers_are_kept_and_read_back(tmp_path):
    """A repeated or resumed run does not label again: the answers are read from the output folder, for the
    same teacher and texts only."""
    folder = save_tiny_folder(tmp_path / "teacher", "gru", TEXTS, LABELS)
    texts, validation = TEXTS[:10], TEXTS[10:14]
    labelled = (texts[:4], [0, 1, 2, 3])
    (first,) = teacher_answers([str(folder)], LABELS, texts, labelled, validation, tmp_path / "out")
    assert first.seconds > 0
    (again,) = teacher_answers([str(folder)], LABELS, texts, labelled, validation, tmp_path / "out")
    assert again.seconds == 0.0
    np.testing.assert_array_equal(again.transfer, first.transfer)
    (other_texts,) = teacher_answers([str(folder)], LABELS, texts[:9], labelled, validation, tmp_path / "out")
    assert other_texts.seconds > 0 and len(other_texts.transfer) == 9
    # What the cache holds is the folder's own answers, in the order of the texts (they are labelled shortest first).
    expected = torch.log_softmax(torch.from_numpy(open_classifier(str(folder)).logits(texts)), -1).numpy()
    np.testing.assert_allclose(first.transfer, expected, atol=1e-5)


def test_an_exported_onnx_folder_teaches_as_its_pytorch_folder_does(tmp_path):
    pytest.importorskip("onnxruntime")
    from hf_seqmodels.serving.export import export

    folder = save_tiny_folder(tmp_path / "teacher", "lstm", TEXTS, LABELS)
    export(str(folder), str(tmp_path / "onnx"))
    texts = TEXTS[:8]
    (torch_answers,) = teacher_answers([str(folder)], LABELS, texts, (texts[:4], [0, 1, 2, 3]), texts, tmp_path / "a")
    (onnx_answers,) = teacher_answers([str(tmp_path / "onnx")], LABELS, texts, (texts[:4], [0, 1, 2, 3]), texts, tmp_path / "b")
    np.testing.assert_allclose(onnx_answers.transfer, torch_answers.transfer, atol=1e-4)


# --------------------------------------------------------------------------- what a student learns


@pytest.mark.slow
def test_without_gold_labels_a_student_learns_its_teachers_answers(newsgroups_home, tmp_path, capsys):
    """alpha = 0: the student of the teacher's own architecture never sees a gold label, yet on held-out test
    posts it answers as its teacher does."""
    data = ["--categories", "sci.space,rec.autos,rec.sport.hockey", "--max_eval_samples", "100", "--max_test_samples", "200"]
    model = ["--config_overrides", "embedding_size=32,hidden_size=32,num_hidden_layers=1", "--vocab_size", "3000",
             "--max_length", "96", "--learning_rate", "0.01", "--per_device_train_batch_size", "32"]  # fmt: skip
    code, _, err = run_command(
        capsys, "train", "--architecture", "gru", *model, *data, "--max_train_samples", "600", "--num_train_epochs", "4",
        "--output_dir", tmp_path / "teacher", *QUIET,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_command(
        capsys, "distill", "--architecture", "gru", *model, *data, "--train_fraction", "0.05", "--teacher",
        tmp_path / "teacher", "--alpha", "0", "--augment", "0", "--num_train_epochs", "6", "--output_dir",
        tmp_path / "student", *QUIET,
    )  # fmt: skip
    assert code == 0, err
    teacher_answers_ = read_test_predictions(tmp_path / "teacher")
    student_answers = read_test_predictions(tmp_path / "student")
    agreement = np.mean([a == b for a, b in zip(teacher_answers_, student_answers)])
    assert agreement > 0.8, agreement


def read_test_predictions(folder):
    with open(folder / "test_predictions.csv", encoding="utf-8") as f:
        return [row["prediction"] for row in csv.DictReader(f)]


# --------------------------------------------------------------------------- the transfer set


def test_under_a_fraction_of_labels_the_rest_of_the_training_text_is_unlabelled_transfer_text(newsgroups_home):
    """The labelled sample and the unlabelled rest are the training split together, apart, and never validation or
    test text."""
    options = dict(categories="sci.space,rec.autos,sci.med", validation_size=0.2)
    whole = load_data(DataArguments(**options))
    few = DataArguments(**options, train_fraction=0.1)
    labelled = list(load_data(few)["train"]["text"])
    rest = unlabelled_remainder(few)
    assert len(labelled) == round(0.1 * len(whole["train"]))
    assert sorted(labelled + rest) == sorted(whole["train"]["text"])
    held_out = set(whole["validation"]["text"]) | set(whole["test"]["text"])
    assert not held_out & set(rest)
    assert unlabelled_remainder(DataArguments(**options)) == []  # every label given: nothing is left over


def test_augmented_copies_mask_words_and_cut_spans_reproducibly():
    text = " ".join(f"w{i}" for i in range(200))
    copies = augmented_copies([text] * 50, 2, "[MASK]", seed=3)
    assert copies == augmented_copies([text] * 50, 2, "[MASK]", seed=3)
    assert len(copies) == 100
    masked = [copy.split().count("[MASK]") / len(copy.split()) for copy in copies]
    assert 0.15 < np.mean(masked) < 0.25
    lengths = [len(copy.split()) for copy in copies]
    assert min(lengths) >= 100 and 20 < sum(length < 200 for length in lengths) < 80
    # What a copy keeps of its words is a run of the post's own words, in order.
    for copy in copies:
        kept = [int(word[1:]) for word in copy.split() if word != "[MASK]"]
        assert kept == sorted(kept)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "options, words",
    [
        (["--alpha", "1.5"], ["--alpha", "1.5", "[0, 1]"]),
        (["--temperature", "0"], ["--temperature", "> 0"]),
        (["--teacher_weights", "1,2"], ["--teacher_weights", "2 weights for 1"]),
        (["--augment", "-1"], ["--augment", "-1"]),
        (["--unlabelled_weight", "-0.5"], ["--unlabelled_weight", "-0.5", "≥ 0"]),
    ],
)
def test_bad_options_are_named_before_anything_loads(options, words, capsys, tmp_path):
    code, _, err = run_command(
        capsys, "distill", "--architecture", "gru", "--teacher", "tfidf", *options, "--output_dir", tmp_path / "out"
    )
    assert_refused(code, err, "distill", words)
    assert not (tmp_path / "out").exists()


def test_a_missing_teacher_folder_is_named(capsys, tmp_path):
    code, _, err = run_command(
        capsys, "distill", "--architecture", "gru", "--teacher", tmp_path / "nowhere", "--output_dir", tmp_path / "out"
    )
    assert_refused(code, err, "distill", ["--teacher", "nowhere", "no such folder"])
    code, _, err = run_command(capsys, "distill", "--architecture", "gru", "--output_dir", tmp_path / "out")
    assert_refused(code, err, "distill", ["--teacher", "tfidf"])


def test_teachers_that_cannot_teach_these_labels_are_named(capsys, tmp_path, topics_csv):
    """A masked-LM folder has no classification head; a classifier of other labels would teach other classes."""
    masked_lm = tmp_path / "mlm"
    hf_seqmodels.ARCHITECTURES["gru"].masked_lm_class(
        hf_seqmodels.ARCHITECTURES["gru"].config_class(vocab_size=40, embedding_size=8, hidden_size=8)
    ).save_pretrained(masked_lm)
    hf_seqmodels.train_tokenizer(TEXTS, vocab_size=40, min_df=1).save_pretrained(masked_lm)
    other_labels = save_tiny_folder(tmp_path / "other", "gru", TEXTS, ["autos", "hockey", "politics", "space"])
    base = ["distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--train_file", topics_csv, *QUIET]
    code, _, err = run_command(capsys, *base, "--teacher", masked_lm, "--output_dir", tmp_path / "a")
    assert_refused(code, err, "distill", ["--teacher", str(masked_lm), "masked language model"])
    code, _, err = run_command(capsys, *base, "--teacher", "tfidf", other_labels, "--output_dir", tmp_path / "b")
    assert_refused(code, err, "distill", ["--teacher", str(other_labels), "'politics'", "'religion'"])
    for folder in ("a", "b"):  # nothing presented as a model
        assert not (tmp_path / folder / "model.safetensors").exists()


@pytest.mark.parametrize(
    "content, words",
    [
        ("text\n", ["--unlabelled_file", "holds no text"]),
        ("message\nhello there\n", ["--unlabelled_file", "'text'", "not found"]),
        (b"text\nok\n\xff\xfe broken\n", ["--unlabelled_file", "UTF-8"]),
    ],
)
def test_bad_unlabelled_files_are_named(content, words, capsys, tmp_path, topics_csv):
    path = tmp_path / "unlabelled.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, _, err = run_command(
        capsys, "distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--train_file", topics_csv,
        "--teacher", "tfidf", "--unlabelled_file", path, "--output_dir", tmp_path / "out", *QUIET,
    )  # fmt: skip
    assert_refused(code, err, "distill", words)


def resumed_for_a_second_epoch(capsys, base: list, output_dir) -> dict:
    """The summary of `base` resumed for a second epoch from the checkpoint of a one-epoch run in `output_dir`,
    whose teachers' answers it read back rather than labelling again."""
    (output_dir / "training_summary.json").unlink()  # as a run killed after its first epoch leaves it
    code, _, err = run_command(capsys, *base, "--num_train_epochs", "2", "--resume_from_checkpoint", "last")
    assert code == 0, err
    resumed = json.loads((output_dir / "training_summary.json").read_text())
    assert resumed["resumed_from_step"] > 0 and resumed["epochs"] == 2
    assert resumed["distillation"]["labelling_seconds"] == 0.0  # read back, not labelled again
    return resumed


def test_a_killed_run_resumes_without_labelling_again(capsys, tmp_path, topics_csv):
    """A run stopped after its first checkpoint continues from it; its teachers' answers are read back."""
    unlabelled = tmp_path / "more.txt"
    unlabelled.write_text("\n".join(TEXTS[:6]) + "\n")
    base = [
        "distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--max_length", "32", "--train_file",
        topics_csv, "--teacher", "tfidf", "--unlabelled_file", unlabelled, "--output_dir", tmp_path / "out",
        "--early_stopping_patience", "0", *QUIET,
    ]  # fmt: skip
    code, out, err = run_command(capsys, *base, "--num_train_epochs", "1")
    assert code == 0, err
    first = json.loads(out.strip().splitlines()[-1])
    assert first["distillation"]["transfer_set"]["unlabelled"] == 6
    resumed_for_a_second_epoch(capsys, base, tmp_path / "out")


# --------------------------------------------------------------------------- the transfer set on disk (--streaming)


def posts_dataset(texts, labels):
    return Dataset.from_dict({"text": texts, "label": labels})


@pytest.fixture
def unlabelled_txt(tmp_path):
    """Ten unlabelled texts, one a line, a blank line among them (left out, as in memory)."""
    path = tmp_path / "more.txt"
    lines = [f"{text} number {index}" for index, text in enumerate(TEXTS[:10])]
    path.write_text("\n".join(lines[:5] + ["   "] + lines[5:]) + "\n", encoding="utf-8")
    return path


def test_a_streamed_transfer_set_is_the_one_made_in_memory(tmp_path, unlabelled_txt):
    """Texts, copies, gold labels and every teacher's answers alike, whether the unlabelled file is read whole
    or as a stream labelled a chunk at a time and written to disk."""
    folder = save_tiny_folder(tmp_path / "teacher", "gru", TEXTS, LABELS)
    teachers = ["tfidf", str(folder)]
    # Two posts of each topic at least: the TF-IDF teacher answers them out-of-fold, on disk as in memory.
    labelled = posts_dataset(TEXTS[:12], [TOPIC_OF_TEXT[i % 6] for i in range(12)])
    posts = (list(labelled["text"]), list(labelled["label"]))
    remainder, validation = TEXTS[12:15], TEXTS[16:20]

    unlabelled = remainder + read_unlabelled_file(str(unlabelled_txt), "text")
    in_memory = build_transfer_set(labelled, unlabelled, 2, "[MASK]", seed=3, chunk_size=4)
    answers = teacher_answers(teachers, LABELS, in_memory.texts, posts, validation, tmp_path / "a", seed=3)
    stream = open_unlabelled_stream(str(unlabelled_txt), "text")
    on_disk, streamed = transfer_on_disk(
        teachers, LABELS, labelled, remainder, stream, validation, tmp_path / "b", augment=2, mask_token="[MASK]",
        seed=3, chunk_size=4,
    )  # fmt: skip

    assert on_disk.dataset["text"] == in_memory.texts
    assert on_disk.dataset["label"] == in_memory.labels
    assert on_disk.describe() == in_memory.describe() == {"texts": 75, "labelled": 12, "unlabelled": 13, "augmented": 50}
    assert sum("[MASK]" in text for text in in_memory.texts) > 10
    # A text's copies are its own (seeded by its number), whatever the chunks it is altered in.
    whole = build_transfer_set(labelled, unlabelled, 2, "[MASK]", seed=3)
    assert whole.texts != in_memory.texts and sorted(whole.texts) == sorted(in_memory.texts)
    log_probabilities = np.asarray(on_disk.dataset[ANSWERS_COLUMN])  # (texts, teachers, classes)
    for index, answer in enumerate(answers):
        np.testing.assert_allclose(np.exp(log_probabilities[:, index]), np.exp(answer.transfer), atol=1e-6)
        np.testing.assert_allclose(np.exp(streamed[index].validation), np.exp(answer.validation), atol=1e-6)
    # The mix the student learns is the in-memory one too.
    mixed = soft_targets_column(on_disk.dataset, [2.0, 1.0], 3.0, TEACHER_COLUMN)
    np.testing.assert_allclose(np.asarray(mixed[TEACHER_COLUMN]), soft_targets(answers, [2.0, 1.0], 3.0), atol=1e-6)


class CountedStream:
    """An unlabelled stream that counts the texts read from it, and can refuse to be read at all."""

    def __init__(self, texts, readable=True):
        self.all, self.read, self.readable = texts, 0, readable

    def texts(self):
        assert self.readable, "the unlabelled text was read again"
        for text in self.all:
            self.read += 1
            yield text

    def identity(self):
        return {"path": "counted", "size": len(self.all), "mtime_ns": 0}


def test_a_streamed_transfer_set_is_labelled_as_it_is_read_and_trained_on_memory_mapped(tmp_path, monkeypatch):
    """Memory holds a chunk: each chunk is labelled once its texts are read, before the next is; the set lives
    in Arrow files in the output folder, read memory-mapped. A repeated run reads it back without reading the
    unlabelled text; one of other settings labels anew, and the old set is removed."""
    from hf_seqmodels.training import teachers as teachers_module

    stream = CountedStream([f"{text} number {index}" for index, text in enumerate(TEXTS[:10])])
    read_when_labelling = []
    probabilities = teachers_module._tfidf_probabilities

    def counted(pipeline, texts, classes):
        read_when_labelling.append(stream.read)
        return probabilities(pipeline, texts, classes)

    monkeypatch.setattr(teachers_module, "_tfidf_probabilities", counted)
    labelled = posts_dataset(TEXTS[:8], [TOPIC_OF_TEXT[i % 6] for i in range(8)])
    options = dict(augment=1, mask_token="[MASK]", seed=0, chunk_size=4)
    run = lambda stream, **changed: transfer_on_disk(  # noqa: E731
        ["tfidf"], LABELS, labelled, [], stream, TEXTS[12:16], tmp_path / "out", **{**options, **changed}
    )
    on_disk, (answers,) = run(stream)
    # validation, the labelled posts, then the chunks of 4, 4 and 2 texts, each once read
    assert read_when_labelling == [0, 0, 4, 8, 10]
    assert answers.seconds > 0 and on_disk.describe() == {"texts": 36, "labelled": 8, "unlabelled": 10, "augmented": 18}
    folder = tmp_path / "out" / TRANSFER_FOLDER
    assert on_disk.dataset.cache_files and all(
        Path(cache["filename"]).is_relative_to(folder) and cache["filename"].endswith(".arrow") for cache in on_disk.dataset.cache_files
    )
    assert isinstance(on_disk.dataset.data, MemoryMappedTable)
    mixed = soft_targets_column(on_disk.dataset, [1.0], 2.0, TEACHER_COLUMN)
    assert isinstance(mixed.data, MemoryMappedTable) and Path(mixed.cache_files[0]["filename"]).is_relative_to(folder)

    again, (answers,) = run(CountedStream(stream.all, readable=False))
    assert answers.seconds == 0.0 and len(read_when_labelling) == 5  # nothing read, nothing labelled
    assert again.dataset["text"] == on_disk.dataset["text"] and again.describe() == on_disk.describe()

    other, (answers,) = run(CountedStream(stream.all), augment=2)
    assert answers.seconds > 0 and other.describe()["augmented"] == 36
    assert len(list(folder.glob("*.json"))) == 1 and len(list(folder.glob("generator/*"))) == 1  # the old set is gone
    next(folder.glob("*.json")).unlink()  # a set whose record is lost is not trusted: labelled again
    _, (answers,) = run(CountedStream(stream.all), augment=2)
    assert answers.seconds > 0


def cut_csv(path):
    path.write_text('text\n"a first post"\n"a second post, cut in the mid', encoding="utf-8")


def late_latin1_csv(path):
    rows = [f"post {index}" for index in range(15000)]
    rows[12000] = "Caf\xe9 au lait"
    path.write_bytes(("text\n" + "".join(row + "\n" for row in rows)).encode("latin-1"))


@pytest.mark.parametrize(
    "name, write, words",
    [
        ("more.csv", cut_csv, ["--unlabelled_file", "more.csv'", "could not be read", "EOF inside string"]),
        ("more.txt", lambda path: path.write_bytes(b"fine\nCaf\xe9\n"), ["more.txt'", "not UTF-8", "0xe9", "line 2"]),
        ("more.txt", lambda path: path.write_text(""), ["--unlabelled_file", "more.txt'", "holds no text"]),
        ("more.csv", lambda path: path.write_text("text\n\n  \n"), ["--unlabelled_file", "more.csv'", "holds no text"]),
        ("more.jsonl", lambda path: path.write_text('{"body": "hi"}\n'), ["--unlabelled_file", "'text'", "not found"]),
        ("more.doc", lambda path: path.write_text("hi\n"), ["--unlabelled_file", "more.doc'", ".doc", ".txt"]),
    ],
    ids=["csv-cut-mid-row", "not-utf-8", "empty", "blank", "no-such-column", "no-such-format"],
)
def test_bad_streamed_unlabelled_files_are_named_in_one_line(name, write, words, capsys, tmp_path, topics_csv):
    write(tmp_path / name)
    code, _, err = run_command(
        capsys, "distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--train_file", topics_csv,
        "--teacher", "tfidf", "--unlabelled_file", tmp_path / name, "--streaming", "true", "--output_dir",
        tmp_path / "out", *QUIET,
    )  # fmt: skip
    assert_refused(code, err, "distill", words)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_bad_byte_met_while_labelling_leaves_no_transfer_set(tmp_path):
    """The CSV reader reads 10,000 rows at a time: the byte in row 12,000 is met after the first chunks were
    labelled and written, and nothing of the half-made set is kept."""
    late_latin1_csv(tmp_path / "more.csv")
    stream = open_unlabelled_stream(str(tmp_path / "more.csv"), "text")
    labelled = posts_dataset(TEXTS[:8], [TOPIC_OF_TEXT[i % 6] for i in range(8)])
    with pytest.raises(UsageError, match=r"'.*more\.csv' is not UTF-8: byte 0xe9 at line 12002"):
        transfer_on_disk(["tfidf"], LABELS, labelled, [], stream, TEXTS[:4], tmp_path / "out", augment=0, mask_token="", seed=0)
    folder = tmp_path / "out" / TRANSFER_FOLDER
    assert not list(folder.glob("*.json")) and not list(folder.rglob("*.arrow"))


def test_a_streamed_run_resumes_without_labelling_again(capsys, tmp_path, topics_csv, unlabelled_txt):
    """distill --streaming end to end: a student trained in epochs on the set on disk, and a run resumed from
    its checkpoint reads that set back."""
    base = [
        "distill", "--architecture", "gru", *TINY_STUDENT, "--min_df", "1", "--max_length", "32", "--train_file",
        topics_csv, "--teacher", "tfidf", "--unlabelled_file", unlabelled_txt, "--streaming", "true", "--augment", "1",
        "--output_dir", tmp_path / "out", "--early_stopping_patience", "0", *QUIET,
    ]  # fmt: skip
    code, out, err = run_command(capsys, *base, "--num_train_epochs", "1")
    assert code == 0, err
    first = json.loads(out.strip().splitlines()[-1])
    made = first["distillation"]["transfer_set"]
    assert made["unlabelled"] == 10 and made["texts"] == 2 * (made["labelled"] + 10)
    assert first["distillation"]["streaming"]
    assert not (tmp_path / "out" / TEACHER_CACHE).exists()  # the answers are in the set on disk
    # Not labelling_seconds > 0: rounded to 0.1 s, a fast labelling of these few texts reads 0.0 as well.
    transfer_files = {path: path.stat().st_mtime_ns for path in (tmp_path / "out" / TRANSFER_FOLDER).rglob("*") if path.is_file()}
    assert transfer_files
    resumed = resumed_for_a_second_epoch(capsys, base, tmp_path / "out")
    assert {path: path.stat().st_mtime_ns for path in transfer_files} == transfer_files  # nor written again
    assert resumed["distillation"]["transfer_set"] == made


# --------------------------------------------------------------------------- compare --distill


@pytest.mark.parametrize(
    "options, words",
    [
        (["--distill", "bert"], ["--distill", "bert", "gru"]),
        (["--distill", "gru", "--distill_options", "--alpha 2"], ["--alpha", "[0, 1]"]),
    ],
)
def test_compare_names_bad_distillation_options_before_anything_trains(options, words, capsys, tmp_path):
    code, _, err = run_command(capsys, "compare", "--quick", *options, "--output_dir", tmp_path / "cmp")
    assert_refused(code, err, "compare", words)
    assert not (tmp_path / "cmp").exists()


def test_compare_resume_refuses_a_student_folder_of_other_options_before_anything_trains(capsys, tmp_path):
    """As a model's folder: a student distilled with other options is neither read back nor distilled over."""
    student = tmp_path / "cmp" / "gru-distilled"
    student.mkdir(parents=True)
    record = json.dumps({"training_argv": ["gru.json", "--teacher", "tfidf", "--alpha", "0.9"]})
    (student / "compare_run.json").write_text(record)
    code, _, err = run_command(
        capsys, "compare", "--quick", "--resume", "--models", "gru", "--distill", "gru", "--output_dir", tmp_path / "cmp",
    )  # fmt: skip
    assert_refused(code, err, "compare", ["--resume", "gru-distilled", "other options", "--alpha 0.9"])
    assert sorted(path.name for path in (tmp_path / "cmp").iterdir()) == ["gru-distilled"]  # no model trained
    assert (student / "compare_run.json").read_text() == record


@pytest.mark.slow
def test_compare_distills_the_ensemble_best_on_validation(newsgroups_home, tmp_path, capsys):
    code, _, err = run_command(
        capsys, "compare", "--quick", "--models", "gru,lstm", "--distill", "gru", "--output_dir", tmp_path / "cmp",
        "--distill_options", "--augment 1",
    )  # fmt: skip
    assert code == 0, err
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    rows = {row["name"]: row for row in results["rows"]}
    (student,) = [row for row in results["rows"] if row["kind"] == "distilled"]
    teacher = rows[student["teacher"]]
    assert teacher["kind"] == "ensemble" and student["name"] == "GRU distilled from " + " + ".join(teacher["members"])
    # Its teachers are the ensemble's members: their folders, and tfidf for the TF-IDF member.
    folders = {row["name"]: row["output_dir"] for row in results["rows"] if row["kind"] == "model"}
    taught_by = [entry["teacher"] for entry in student["distillation"]["teachers"]]
    assert taught_by == [folders.get(name, "tfidf") for name in teacher["members"]]
    assert student["distillation"]["transfer_set"] == {"texts": 2400, "labelled": 1200, "unlabelled": 0, "augmented": 1200}
    # Its time counts the teachers' training and labelling; its inference speed is the student's own.
    summary = json.loads((tmp_path / "cmp" / "gru-distilled" / "training_summary.json").read_text())
    assert student["train_seconds"] >= summary["train_runtime"] + teacher["train_seconds"] - 0.1
    assert student["inference_samples_per_second"] == round(summary["inference_samples_per_second"], 1)
    assert student["test_accuracy"] == summary["test"]["accuracy"]
    report = (tmp_path / "cmp" / "report.md").read_text()
    assert f"| {student['name']} | {student['test_accuracy']:.4f} |" in report and "Distilled rows" in report
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "cmp" / "gru-distilled").num_labels == 20
