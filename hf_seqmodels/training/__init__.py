"""Training and the jobs around it (an application of the library): a text-classification data set ->
TF-IDF tokenizer -> `Trainer` -> a folder ready for the Hub; masked-LM pretraining; scoring saved folders.

    arguments.py    ModelArguments, DataArguments, SeqModelsTrainingArguments; parse_args() (recipe or CONFIG.json + options)
    recipes.py      the named recipes (`gru`, `gru-mlm`, ...): the options `--architecture` trains with by default
    building.py     the steps: load_data -> build_tokenizer -> tokenize -> build_model (-> apply_word_vectors)
    trainer.py      SeqModelsTrainer (Trainer + wall clock, DDP-safe length grouping, our card); build_trainer()
    checkpoints.py  which checkpoint --resume_from_checkpoint means, and whether it is complete
    outputs.py      the summary, predictions (saved for ensembles too), per-class reports and confusion matrices of a run
    card.py         the model card (README.md) of a trained folder
    evaluation.py   evaluate_folder(), evaluate_ensemble(): saved folders scored on one split (hf-seqmodels evaluate)
    jobs.py         train(), reading top to bottom like transformers' run_classification.py
    pretraining.py  pretrain(): a masked language model on unlabelled text, like transformers' run_mlm.py
    streaming.py    pretrain --streaming: the text as a stream, each process its own texts, read pass after pass
    distillation.py distill(): one student trained on teachers' probabilities (the loss, its Trainer, the job)
    teachers.py     the teachers (any classifier folder, tfidf) and their answers on the transfer set, cached
    transfer.py     the transfer set: labelled posts, unlabelled text, augmented copies
    transfer_disk.py distill --streaming: the transfer set labelled a batch at a time onto disk, memory-mapped
    tfidf.py        the TF-IDF pipelines (the baselines' vectorizer; TF-IDF + LogisticRegression)

`hf-seqmodels train` and `scripts/train.py` are `parse_args()` + `train()`; `hf-seqmodels pretrain` and
`scripts/pretrain.py` are `parse_pretraining_args()` + `pretrain()`; `hf-seqmodels distill` and
`scripts/distill.py` are `distillation.parse_distillation_args()` + `distillation.distill()`. Loading a folder to predict with,
ensembles and export are the library's (`hf_seqmodels.serving`), which imports nothing from here.
"""

from .arguments import (
    DataArguments,
    ModelArguments,
    SeqModelsTrainingArguments,
    parse_args,
    parse_arguments,
    parse_config_overrides,
)
from .building import apply_word_vectors, build_model, build_tokenizer, load_data, sample, tokenize
from .checkpoints import checkpoint_problem, resolve_checkpoint
from .evaluation import evaluate_ensemble, evaluate_folder, predict_split
from .jobs import train
from .outputs import read_saved_predictions, softmax_probabilities, split_metrics, write_evaluation
from .pretraining import MaskedLMArguments, PretrainingArguments, parse_pretraining_args, pretrain
from .recipes import list_recipes, recipe
from .trainer import SeqModelsTrainer, build_trainer

__all__ = [
    "DataArguments",
    "MaskedLMArguments",
    "ModelArguments",
    "PretrainingArguments",
    "SeqModelsTrainer",
    "SeqModelsTrainingArguments",
    "apply_word_vectors",
    "build_model",
    "build_tokenizer",
    "build_trainer",
    "checkpoint_problem",
    "evaluate_ensemble",
    "evaluate_folder",
    "list_recipes",
    "load_data",
    "parse_args",
    "parse_arguments",
    "parse_config_overrides",
    "parse_pretraining_args",
    "predict_split",
    "pretrain",
    "read_saved_predictions",
    "recipe",
    "resolve_checkpoint",
    "sample",
    "softmax_probabilities",
    "split_metrics",
    "tokenize",
    "train",
    "write_evaluation",
]
