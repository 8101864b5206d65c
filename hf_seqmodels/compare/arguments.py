"""`hf-seqmodels compare`'s options, and the `train` command line each model gets from them."""

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from transformers import HfArgumentParser

from ..errors import UsageError
from ..models import ARCHITECTURES
from ..options import check_at_least, check_choices, check_fraction
from ..utils import comma_list

# The original notebook's protocol removed headers, footers and quotes; the standard bydate one keeps them.
DEFAULT_REMOVE = {"bydate": "", "seed": "headers,footers,quotes"}


# A smoke check: a small stratified slice, one short epoch, a small vocabulary.
QUICK_ARGS = [
    "--max_train_samples", "1200", "--max_eval_samples", "300", "--max_test_samples", "600",
    "--num_train_epochs", "1", "--max_length", "128", "--vocab_size", "8000", "--early_stopping_patience", "0",
]  # fmt: skip


@dataclass
class CompareArguments:
    protocol: str = field(
        default="bydate",
        metadata={
            "help": "bydate (standard train/test, headers kept) or seed (the original notebook's: all posts, random 60/20/20)."
        },
    )
    models: str = field(
        default="rnn,lstm,gru,transformer", metadata={"help": "Architectures to train, comma-separated."}
    )
    remove: str | None = field(
        default=None,
        metadata={
            "help": "Parts of the posts to strip (headers,footers,quotes); default: none for bydate, all three for seed."
        },
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Where to write; default: outputs/compare-<protocol>."}
    )
    quick: bool = field(
        default=False, metadata={"help": "Smoke check: a small slice and one epoch (about two minutes)."}
    )
    data_home: str | None = field(
        default=None, metadata={"help": "scikit-learn data folder (default: $SCIKIT_LEARN_DATA)."}
    )
    seed: int = field(default=42, metadata={"help": "Seed of the split, the slices and the training runs."})
    num_processes: int = field(
        default=1,
        metadata={
            "help": "Train each model across this many processes (GPUs, or CPU processes) via accelerate launch."
        },
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={
            "help": "Keep each model's checkpoint-* folders (optimizer state; ~300 MB per model at the ready configs)."
        },
    )
    pretrain: bool = field(
        default=False,
        metadata={
            "help": "Also fine-tune each architecture from a masked language model pretrained on the training split's "
            "text (never validation's labels or test's text); rows '<model> + MLM pretraining'."
        },
    )
    pretrain_dir: str = field(
        default="outputs/pretrained",
        metadata={
            "help": "Where pretrained folders are kept, one per architecture and pretraining settings: a comparison "
            "with the same settings (a rerun, another --train_fraction) reuses them instead of pretraining again."
        },
    )
    pretrain_options: str = field(
        default="",
        metadata={"help": "Options for every pretraining run, after the shipped <model>-mlm.json, e.g. '--num_train_epochs 6'."},
    )
    embeddings: str | None = field(
        default=None,
        metadata={"help": "Also train each architecture from this word-vector file (GloVe, word2vec, fastText); rows '<model> + word vectors'."},
    )
    train_fraction: float | None = field(
        default=None,
        metadata={
            "help": "Fine-tune the models and fit the baselines on this stratified fraction of the training split "
            "(few labels); pretraining still reads all of its text."
        },
    )
    distill: str | None = field(
        default=None,
        metadata={
            "help": "Also distill the ensemble best on validation into these architectures (comma-separated, e.g. gru); "
            "rows '<model> distilled from ...'. Under --train_fraction the rest of the training text is unlabelled transfer text."
        },
    )
    distill_options: str = field(
        default="",
        metadata={"help": "Options for every distillation run, after the student's recipe, e.g. '--augment 4 --alpha 0.3'."},
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue an interrupted comparison in the same --output_dir with the same options: finished models "
            "are read back, an interrupted one resumes from its newest complete checkpoint, the rest train from the start."
        },
    )

    def __post_init__(self):
        check_choices("--protocol", [self.protocol], list(DEFAULT_REMOVE))
        if not self.model_names:
            raise UsageError(f"--models {self.models!r}: an empty list; valid: {', '.join(ARCHITECTURES)}")
        check_choices("--models", self.model_names, list(ARCHITECTURES))
        check_at_least("--num_processes", self.num_processes, 1)
        if self.distill is not None:
            check_choices("--distill", self.distill_names, list(ARCHITECTURES))
        check_fraction("--train_fraction", self.train_fraction, whole_allowed=True)
        if self.embeddings is not None and not Path(self.embeddings).is_file():
            raise UsageError(f"--embeddings {self.embeddings!r}: no such word-vector file")
        if self.remove is None:
            self.remove = DEFAULT_REMOVE[self.protocol]
        if self.output_dir is None:
            self.output_dir = f"outputs/compare-{self.protocol}" + ("-quick" if self.quick else "")

    @property
    def model_names(self) -> list[str]:
        return comma_list(self.models)

    @property
    def distill_names(self) -> list[str]:
        return comma_list(self.distill)

    @property
    def variants(self) -> list[str]:
        """How each architecture starts: from scratch, and from word vectors or pretraining where asked."""
        return ["scratch"] + ["vectors"] * (self.embeddings is not None) + ["pretrained"] * self.pretrain


def parse_args(argv: list[str] | None = None, prog: str | None = None):
    """Compare's own options; anything else (e.g. `--num_train_epochs 2`) goes to every training run."""
    parser = HfArgumentParser(CompareArguments, prog=prog)
    compare_args, extra = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    return compare_args, extra


def config_path(name: str) -> Path:
    """A shipped config file: `gru` (training), `gru-mlm` (pretraining)."""
    return Path(str(resources.files("hf_seqmodels") / "configs" / f"{name}.json"))


# How a row names each start of an architecture, and the suffix of its folder.
VARIANT_TITLES = {"scratch": "", "vectors": " + word vectors", "pretrained": " + MLM pretraining"}


def model_folder_name(architecture: str, variant: str) -> str:
    return architecture if variant == "scratch" else f"{architecture}-{variant}"


def training_argv(
    args: CompareArguments, architecture: str, extra: list[str], variant: str = "scratch", pretrained: Path | None = None
) -> list[str]:
    argv = [
        str(config_path(architecture)),
        "--output_dir", str(Path(args.output_dir) / model_folder_name(architecture, variant)),
        "--protocol", args.protocol, "--remove", args.remove,
        "--seed", str(args.seed), "--split_seed", str(args.seed),
    ]  # fmt: skip
    if args.data_home:
        argv += ["--data_home", args.data_home]
    if args.train_fraction is not None:
        argv += ["--train_fraction", str(args.train_fraction)]
    if variant == "vectors":
        argv += ["--embeddings", args.embeddings]
    if variant == "pretrained":
        argv += ["--model_name_or_path", str(pretrained)]
    return argv + (QUICK_ARGS if args.quick else []) + list(extra)
