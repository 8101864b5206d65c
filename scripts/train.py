#!/usr/bin/env python
"""Train one of the four classifiers, in the style of transformers' run_classification.py.

    python scripts/train.py hf_seqmodels/configs/gru.json
    python scripts/train.py hf_seqmodels/configs/gru.json --num_train_epochs 1 --max_train_samples 200
    python scripts/train.py --architecture lstm --remove headers,footers,quotes --output_dir outputs/lstm
    python scripts/train.py --architecture gru --train_file sms.csv --text_column message --label_column category

The same as `hf-seqmodels train ...`; `--help` lists every option.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
