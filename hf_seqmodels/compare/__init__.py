"""`hf-seqmodels compare`: RNN, LSTM, GRU and Transformer trained side by side on one 20 Newsgroups split,
next to the classic TF-IDF baselines, then averaged as ensembles, with a report, the figures as JSON, and plots.

Every model trains with its ready config (`hf_seqmodels/configs/<architecture>.json`) through the same
`training.train` as `hf-seqmodels train`, on the same split, tokenizer settings and stopping rule; the
baselines (TF-IDF + LinearSVC, TF-IDF + ComplementNB) are fitted on the same training split.

    arguments.py   CompareArguments, parse_args(), the `train` command line of each model
    runs.py        each model's plan (fresh, resumed or read back with --resume), its training and its row
    pretrained_folders.py  --pretrain: each architecture's masked-LM folder, pretrained once and reused
    baselines.py   the TF-IDF baselines
    ensembles.py   the ensemble rows (all models; the subset best on validation)
    report.py      report.md and the plots
    command.py     compare() and main(): the above, top to bottom
"""

from .arguments import CompareArguments, parse_args
from .baselines import BASELINES, baseline_descriptions
from .command import compare, main
from .report import render_report

__all__ = ["BASELINES", "CompareArguments", "baseline_descriptions", "compare", "main", "parse_args", "render_report"]
