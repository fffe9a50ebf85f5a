"""The error tree: every error rag raises to a person is a RagError, drawn in the
module's docstring, and the CLI's exit code follows it."""

from __future__ import annotations

import inspect
import re

import rag.errors as errors
from rag.cli import _EXIT_CODES, EXIT_DENIED, EXIT_USAGE


def test_every_error_is_in_the_tree_and_the_drawing() -> None:
    classes = {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__
    }
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert drawn == set(classes) - {"RagError"}
    assert all(issubclass(cls, errors.RagError) for cls in classes.values())


def test_a_parse_error_names_the_file_and_is_a_rag_error() -> None:
    exc = errors.ParseError(b"caf\xe9.txt".decode("utf-8", "surrogateescape"), "empty file")
    assert isinstance(exc, errors.RagError)
    assert str(exc) == "caf\\xe9.txt: empty file"


def test_user_mistakes_are_value_errors_and_exit_2() -> None:
    assert issubclass(errors.InvalidInput, ValueError)
    assert _EXIT_CODES[errors.InvalidInput] == EXIT_USAGE
    assert _EXIT_CODES[errors.AuthError] == _EXIT_CODES[errors.AccessDenied] == EXIT_DENIED
