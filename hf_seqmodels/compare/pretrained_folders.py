"""`compare --pretrain`: each architecture's masked-LM folder, pretrained once on the training split's text.

A folder is named after what made it (architecture, protocol and a digest of the pretraining settings) and
kept under `--pretrain_dir`, so a comparison with the same settings reuses it instead of pretraining again:
a rerun, another `--train_fraction` (pretraining reads all of the training text whatever the labels used),
`--resume`. Its time is counted in every row fine-tuned from it.
"""

import hashlib
import json
import shlex
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..errors import UsageError
from ..training.outputs import read_summary
from ..training.pretraining import PRETRAINING_SUMMARY, parse_pretraining_args, pretrain
from .arguments import CompareArguments, config_path

# A smoke check's pretraining: the comparison's --quick slice, one epoch, a small vocabulary.
QUICK_PRETRAINING_ARGS = [
    "--max_train_samples", "1200", "--max_eval_samples", "300", "--num_train_epochs", "1", "--max_length", "128",
    "--vocab_size", "8000",
]  # fmt: skip


# Digested with the settings: changed whenever a default of `pretrain` changes what the same options make, so
# that folders made under the former default are not reused. "blocks": the posts concatenated and cut into
# blocks of --max_length tokens by default (--line_by_line cuts each post instead).
PRETRAINING_DEFAULTS = {"text_layout": "blocks"}


def pretraining_settings(args: CompareArguments, architecture: str) -> list[str]:
    """The options after `<architecture>-mlm.json` that decide what a pretrained folder holds."""
    settings = ["--protocol", args.protocol, "--remove", args.remove, "--seed", str(args.seed), "--split_seed", str(args.seed)]
    return settings + (QUICK_PRETRAINING_ARGS if args.quick else []) + shlex.split(args.pretrain_options)


def pretrained_folder(args: CompareArguments, architecture: str) -> Path:
    """Where the folder pretrained with these settings is (or will be): named by a digest of the config file's
    values and the options, so that changing either pretrains anew."""
    config = json.loads(config_path(f"{architecture}-mlm").read_text(encoding="utf-8"))
    settings = {"config": config, "options": pretraining_settings(args, architecture), "defaults": PRETRAINING_DEFAULTS}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return Path(args.pretrain_dir) / f"{architecture}-{args.protocol}-{digest}"


def check_pretraining_options(args: CompareArguments) -> None:
    """Parse every pretraining command line before anything trains, so that a bad --pretrain_options is
    named at once."""
    for architecture in args.model_names:
        pretraining_argv(args, architecture)


def pretraining_argv(args: CompareArguments, architecture: str) -> list[str]:
    folder = pretrained_folder(args, architecture)
    argv = [str(config_path(f"{architecture}-mlm")), "--output_dir", str(folder)]
    argv += pretraining_settings(args, architecture) + (["--data_home", args.data_home] if args.data_home else [])
    try:
        parse_pretraining_args(argv)
    except UsageError as error:
        raise UsageError(f"--pretrain_options {args.pretrain_options!r}: {error}") from error
    return argv


def ensure_pretrained(args: CompareArguments, architecture: str, launch) -> dict:
    """The pretraining summary of `architecture`'s folder: read back when it is finished, else pretrained
    (resumed from its newest checkpoint, if an earlier comparison was interrupted). `launch(command, argv)`
    runs a job across `--num_processes` processes."""
    folder = pretrained_folder(args, architecture)
    finished = read_summary(folder / PRETRAINING_SUMMARY)  # None too for one cut short by a killed run
    if finished is not None:
        return finished | {"reused": True}
    argv = pretraining_argv(args, architecture)
    if any(folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*")):
        argv += ["--resume_from_checkpoint", "last"]
    if args.num_processes > 1:
        summary = launch("pretrain", argv)
    else:
        summary = pretrain(*parse_pretraining_args(argv))
    return summary | {"reused": False}
