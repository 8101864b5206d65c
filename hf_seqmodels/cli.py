"""The `hf-seqmodels` command: one entry point for the package's jobs.

Each job lives in its own module and registers a subcommand here; the command itself only dispatches.
"""

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-seqmodels",
        description="RNN, LSTM, GRU and Transformer text classifiers on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"hf-seqmodels {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
