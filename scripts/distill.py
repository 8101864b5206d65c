#!/usr/bin/env python
"""Distill teachers (classifier folders, tfidf) into one classifier over labelled and unlabelled text.

    python scripts/distill.py --architecture gru --teacher outputs/gru outputs/lstm tfidf --augment 2 --output_dir outputs/gru-distilled
    python scripts/distill.py --architecture gru --teacher tfidf --train_fraction 0.1 --output_dir outputs/gru-10pct-distilled
    python scripts/distill.py --architecture gru --teacher path/to/bert-finetuned --unlabelled_file posts.txt --alpha 0.3

The same as `hf-seqmodels distill ...`; `--help` lists every option.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["distill", *sys.argv[1:]]))
