"""Checks shared by the configurations: each names the config, the field, the value and what is valid.

Copied next to saved weights (the configuration files import it relatively), so it imports nothing.
"""


def check_choice(config_name: str, field: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{config_name}.{field} must be one of {list(choices)}, got {value!r}.")


def check_range(config_name: str, field: str, value, low, high=None, low_inclusive=True) -> None:
    too_low = value < low if low_inclusive else value <= low
    too_high = high is not None and value > high
    if too_low or too_high:
        bound = "≥" if low_inclusive else ">"
        valid = f"{bound} {low}" + (f" and ≤ {high}" if high is not None else "")
        raise ValueError(f"{config_name}.{field} must be {valid}, got {value!r}.")


def check_pad_token_id(config_name: str, pad_token_id: int | None, vocab_size: int) -> None:
    if pad_token_id is not None:
        check_range(config_name, "pad_token_id", pad_token_id, 0, vocab_size - 1)


def check_mlm_vocab_size(config_name: str, mlm_vocab_size: int | None, vocab_size: int) -> None:
    if mlm_vocab_size is not None:
        check_range(config_name, "mlm_vocab_size", mlm_vocab_size, 2, vocab_size)


__all__ = ["check_choice", "check_range", "check_pad_token_id", "check_mlm_vocab_size"]
