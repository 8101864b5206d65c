#!/usr/bin/env python
"""Train RNN, LSTM, GRU and Transformer side by side on 20 Newsgroups, next to TF-IDF baselines.

    python scripts/compare.py                    # bydate protocol, all four models (the README's first command)
    python scripts/compare.py --protocol seed    # the original notebook's protocol
    python scripts/compare.py --quick            # smoke check, about two minutes

The same as `hf-seqmodels compare`; see hf_seqmodels/compare.py.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
