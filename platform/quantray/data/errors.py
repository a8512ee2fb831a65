"""The one error type for bad input data: what was found, where, what was expected, the fix."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. The message names the file, the row or date, what was found, what was
    expected and how to fix it. Raised before anything is modified or dropped."""

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        where: str | None = None,
        found: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.file = file
        self.problem = problem
        self.where = where
        self.found = found
        self.expected = expected
        self.fix = fix
        lines = [f"{file}: {problem}"]
        for label, value in (
            ("where", where),
            ("found", found),
            ("expected", expected),
            ("fix", fix),
        ):
            if value:
                lines.append(f"  {label + ':':9} {value}")
        super().__init__("\n".join(lines))


def unparseable_csv(file: str, exc: Exception, first_line: int | None = None) -> DataError:
    """The error for a CSV that pandas cannot split into rows: pandas' own last message line
    (it names the line) as found. ``first_line``: the file line pandas counted as its line 1,
    when it read from after a header block."""
    found = str(exc).strip().splitlines()[-1]
    if first_line is not None:
        found += f" (counting from line {first_line})"
    return DataError(
        file,
        "could not be parsed as CSV",
        found=found,
        expected="comma-separated rows with the same number of fields as the header",
        fix="look at the row named above for stray commas or a broken line",
    )
