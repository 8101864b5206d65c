"""What several test files share: paths, tiny versions of the four architectures, built the way users build them."""

import textwrap
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

import hf_seqmodels

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SKLEARN_DATA = REPO_ROOT.parent / "shared" / "data" / "scikit_learn_data"

ARCHITECTURES = list(hf_seqmodels.ARCHITECTURES)
TINY_SIZES = {
    "rnn": dict(embedding_size=12, hidden_size=10, num_hidden_layers=2),
    "lstm": dict(embedding_size=12, hidden_size=10, num_hidden_layers=2),
    "gru": dict(embedding_size=12, hidden_size=10, num_hidden_layers=2),
    "transformer": dict(hidden_size=16, num_attention_heads=2, intermediate_size=24, num_hidden_layers=2, max_position_embeddings=64),
}
VOCAB_SIZE = 40
# Short posts of four topics, for the tokenizers and pipelines of tiny models.
TEXTS = [
    "The engine of this car runs hot in summer",
    "Orbit insertion of the probe succeeded",
    "Hockey playoffs start next week, the goalie is hot",
    "God and religion were debated on the newsgroup",
    "My car needs a new engine and new brakes",
    "The probe will orbit the moon next summer",
] * 4

# First lines of a `python -c` script that must run as on a machine where this package is not installed.
WITHOUT_PACKAGE = textwrap.dedent(
    """
    import importlib.abc, json, sys
    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "hf_seqmodels":
                raise ImportError("hf_seqmodels is not installed here")
    sys.meta_path.insert(0, BlockPackage())
    """
)


def tiny_config(architecture: str, **overrides):
    config_class = hf_seqmodels.ARCHITECTURES[architecture].config_class
    return config_class(**({"vocab_size": VOCAB_SIZE} | TINY_SIZES[architecture] | overrides))


def tiny_classifier(architecture: str, perturb: bool = True, seed: int = 0, **overrides):
    """A classifier in eval mode; see `tiny_model`."""
    return tiny_model(architecture, "classifier", perturb, seed, **overrides)


def tiny_model(architecture: str, head: str, perturb: bool = True, seed: int = 0, **overrides):
    """The architecture with `head` ("classifier" or "masked_lm") in eval mode. `perturb` adds noise to every
    weight: fresh weights (zero biases, a zero padding row) can hide padding bugs, e.g. a backward RNN reading
    trailing padding still sees zeros."""
    torch.manual_seed(seed)
    model_class = getattr(hf_seqmodels.ARCHITECTURES[architecture], f"{head}_class")
    model = model_class(tiny_config(architecture, **overrides))
    if perturb:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def save_tiny_folder(folder: Path, architecture: str, texts: list[str], labels: list[str], seed: int = 0) -> Path:
    """A tiny untrained classifier and a tokenizer fitted on `texts`, saved as `train` saves them (no training)."""
    tokenizer = hf_seqmodels.train_tokenizer(texts, vocab_size=VOCAB_SIZE, model_max_length=64, min_df=1)
    id2label = dict(enumerate(labels))
    model = tiny_classifier(
        architecture, seed=seed, num_labels=len(labels), id2label=id2label, label2id={n: i for i, n in id2label.items()}
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def pipeline_probabilities(folder, texts: list[str], labels: list[str], device=None) -> np.ndarray:
    """(texts, labels) probabilities as transformers' own text-classification pipeline gives them, on `device`
    (by default the pipeline's own choice: the accelerator where there is one)."""
    classify = pipeline("text-classification", model=str(folder), top_k=None, truncation=True, device=device)
    answers = classify(list(texts))
    return np.array([[next(a["score"] for a in answer if a["label"] == label) for label in labels] for answer in answers])


def run_command(capsys, *argv) -> tuple[int, str, str]:
    """`hf-seqmodels ARGV` in this process: (exit code, stdout, stderr); argparse's own refusals (a usage line,
    then the error line) exit with their code too."""
    from hf_seqmodels import cli

    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, command: str, words: list[str]) -> None:
    """The error is stderr's last line, alone of its kind, after at most some progress bars, and names `words`."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"hf-seqmodels {command}: error:"), err
    assert sum("error" in line.lower() for line in lines) == 1, err
    for word in words:
        assert word in lines[-1], (word, lines[-1])


def assert_refused(code: int, err: str, command: str, words: list[str]) -> None:
    """A user's mistake: exit code 2 and one error line naming `words`."""
    assert code == 2, err
    assert_one_error_line(err, command, words)
