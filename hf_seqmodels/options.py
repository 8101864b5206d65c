"""One check per kind of option value, shared by the library functions and the command line's arguments.

A value is checked where it enters: the command line checks it once, at its argument dataclasses (so a
mistake is named before minutes of loading), and a library function called from Python checks the same
value with the same function, so that both say the same thing. `name` is what the message calls the
value: the option (`--vocab_size`) on the command line, the parameter (`vocab_size`) in Python.

Each raises `UsageError` (a `ValueError`) in one line naming the value, what it is and what is valid.
"""

import difflib
from collections.abc import Iterable, Sequence

from .errors import UsageError


def check_at_least(name: str, value, minimum) -> None:
    """A count or rate no smaller than `minimum` (None: not given, nothing to check)."""
    if value is not None and value < minimum:
        raise UsageError(f"{name} must be ≥ {minimum}, got {value}")


def check_batch_size(batch_size: int, name: str = "--batch_size") -> None:
    """Refuse a batch size a model cannot be run with, before the model is loaded."""
    check_at_least(name, batch_size, 1)


def check_fraction(name: str, value: float | None, *, whole_allowed: bool = False) -> None:
    """A share of some data: strictly between 0 and 1, or in (0, 1] with `whole_allowed` (all of it)."""
    if value is None:
        return
    if whole_allowed and not 0 < value <= 1:
        raise UsageError(f"{name} must be a fraction in (0, 1], got {value}")
    if not whole_allowed and not 0 < value < 1:
        raise UsageError(f"{name} must be a fraction strictly between 0 and 1, got {value}")


def check_choices(name: str, entries: Iterable[str], valid: Sequence[str]) -> None:
    """Every entry one of `valid`; an unknown one is named with the closest valid one, where there is one."""
    for entry in entries:
        if entry not in valid:
            close = difflib.get_close_matches(entry, valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{name}: {entry!r} is not one of {', '.join(valid)}{hint}")


def check_vocab_size(vocab_size: int, special_tokens: Sequence[str], name: str = "--vocab_size") -> None:
    """Room for the special tokens and at least one word (the tokenizer's special tokens are passed in:
    this module sits below the tokenizer)."""
    minimum = len(special_tokens) + 1
    if vocab_size < minimum:
        raise UsageError(
            f"{name} must be ≥ {minimum} ({', '.join(special_tokens)} and at least one word), got {vocab_size}"
        )


def check_sequence_length(length: int, config, name: str = "--max_length") -> None:
    """Texts cut to `length` tokens must fit the model's positions (only the Transformer has a limit)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and length > positions:
        raise UsageError(
            f"{name} {length} exceeds the model's max_position_embeddings ({positions}); "
            f"lower {name} or add max_position_embeddings={length} to --config_overrides"
        )
