"""The named recipes: for each architecture, every option its trained (`gru`) and pretrained (`gru-mlm`) model
is made with, so that `hf-seqmodels train --architecture gru` trains what the README's results show.

A registry, as timm's model registry: each recipe is the shared base plus what its architecture does
differently, so a setting all models share is written once and a recipe reads as its differences; the
names are listed (`list_recipes`, `hf-seqmodels train --list_recipes`) and looked up by name (`recipe`).
The files in `hf_seqmodels/configs/` are these recipes written out (tests/test_recipes.py holds them equal),
as documented starting points to copy and edit.

How a command line is resolved (`arguments.parse_args`): a leading CONFIG.json replaces the recipe entirely
(the file is a recipe of its own; what it does not set keeps the dataclasses' defaults); without one,
`--architecture NAME` starts from the recipe of that name (`NAME-mlm` for `pretrain`); either way the
options given on the command line win.
"""

import fnmatch

from ..errors import UsageError

# Shared by every recipe: the 20 Newsgroups bydate split, a 60,000-word TF-IDF vocabulary, texts cut to 256 tokens.
BASE = {
    "vocab_size": 60000,
    "max_length": 256,
    "min_df": 2,
    "protocol": "bydate",
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "seed": 42,
}

# Classification: AdamW at 5e-3 with strong weight decay, stopped when validation macro-F1 stops improving.
CLASSIFICATION = BASE | {"weight_decay": 0.1, "early_stopping_patience": 2, "learning_rate": 0.005}

# Masked-LM pretraining: the output layer scores the 10,000 most frequent words (`mlm_vocab_size`), BERT's
# 15 % of the tokens masked, four epochs, one post per example cut where the classifier cuts it
# (`line_by_line`: fine-tuned, it was the better start on validation than run_mlm.py's blocks of text).
MASKED_LM = BASE | {
    "config_overrides": "mlm_vocab_size=10000",
    "mlm_probability": 0.15,
    "line_by_line": True,
    "learning_rate": 0.003,
    "weight_decay": 0.01,
    "num_train_epochs": 4,
}

# What each architecture does differently.
CLASSIFICATION_BY_ARCHITECTURE = {
    "rnn": {"num_train_epochs": 5},
    "lstm": {"num_train_epochs": 3},
    "gru": {"num_train_epochs": 3},
    # The Transformer: a lower peak rate reached after a warm-up over the first tenth of the steps.
    "transformer": {"weight_decay": 0.01, "learning_rate": 0.002, "warmup_steps": 0.1, "num_train_epochs": 5},
}
MASKED_LM_BY_ARCHITECTURE = {
    "rnn": {},
    "lstm": {},
    "gru": {},
    # The Transformer pretrains with ALiBi positions (an attention bias) instead of learned position embeddings.
    "transformer": {"config_overrides": "mlm_vocab_size=10000,position_embedding_type=alibi"},
}

MASKED_LM_SUFFIX = "-mlm"

RECIPES: dict[str, dict] = {}


def register_recipe(name: str, values: dict) -> None:
    """Add a recipe under `name`: a flat dict of argument names, as a CONFIG.json holds."""
    if name in RECIPES:
        raise ValueError(f"a recipe named {name!r} is already registered")
    RECIPES[name] = values


for _architecture, _changes in CLASSIFICATION_BY_ARCHITECTURE.items():
    register_recipe(
        _architecture, {"architecture": _architecture} | CLASSIFICATION | _changes | {"output_dir": f"outputs/{_architecture}"}
    )
for _architecture, _changes in MASKED_LM_BY_ARCHITECTURE.items():
    _name = _architecture + MASKED_LM_SUFFIX
    register_recipe(_name, {"architecture": _architecture} | MASKED_LM | _changes | {"output_dir": f"outputs/{_name}"})


def list_recipes(pattern: str = "*") -> list[str]:
    """The registered recipes' names matching a shell-style `pattern` (`*-mlm`), sorted, as timm's `list_models`."""
    return sorted(name for name in RECIPES if fnmatch.fnmatch(name, pattern))


def recipe(name: str) -> dict:
    """A copy of the recipe called `name`; an unknown name is a `UsageError` listing the known ones."""
    if name not in RECIPES:
        raise UsageError(f"recipe {name!r}: no such recipe; registered: {', '.join(list_recipes())}")
    return dict(RECIPES[name])


def recipe_name(architecture: str, masked_lm: bool = False) -> str:
    """The recipe `--architecture` starts from: the classifier's, or its masked-LM twin's for `pretrain`."""
    return architecture + MASKED_LM_SUFFIX if masked_lm else architecture


def describe_recipes(pattern: str = "*") -> str:
    """One line per recipe: its name and its values, for `--list_recipes`."""
    return "\n".join(
        f"{name}: " + " ".join(f"--{key} {value}" for key, value in RECIPES[name].items()) for name in list_recipes(pattern)
    )
