"""Small helpers several parts of the package share: reading comma lists, and errors as one line."""


def comma_list(text: str | None) -> list[str]:
    """`"headers, footers,"` -> `["headers", "footers"]`: the items of a comma-separated option, blanks dropped."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def first_line(error: BaseException) -> str:
    """The first line of an error's message (the rest is usually a traceback or a hint), or its type's name."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def one_line(message) -> str:
    """A message (or an error) spanning lines, joined into one: the command line reports errors in one line."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())
