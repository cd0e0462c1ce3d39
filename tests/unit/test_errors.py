"""The error tree is complete: one code per class, every code the server sends maps back to
the class it came from (httpx's "every exception mapped" test, applied to our wire)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from honcho_uv import errors
from honcho_uv.errors import HTTP_STATUS_CODES, WIRE_ERRORS, HuError
from honcho_uv.http.client import error_from_body
from honcho_uv.http.wire import error_body

CLASSES = errors._subclasses(HuError)
HTTP = Path(errors.__file__).parent / "http"


def test_every_error_class_has_its_own_code_and_a_status() -> None:
    codes = [c.code for c in CLASSES]
    assert len(codes) == len(set(codes)), codes
    assert all(400 <= c.http_status < 600 for c in CLASSES)
    assert set(WIRE_ERRORS.values()) == set(CLASSES)


def test_every_error_class_is_public() -> None:
    assert {c.__name__ for c in CLASSES} <= set(errors.__all__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_an_error_body_comes_back_as_its_class(cls: type[HuError]) -> None:
    error = cls.from_wire("something went wrong: here")
    body = error_body(error.code, str(error))
    back = error_from_body(cls.http_status, body)
    assert type(back) is cls and str(back) == str(error)


def test_an_unknown_or_foreign_body_is_a_control_error() -> None:
    assert type(error_from_body(502, {"error": "nonsense", "message": "m"})) is errors.ControlError
    assert "HTTP 502: <html>" in str(error_from_body(502, "<html>bad gateway</html>"))


def _literal_codes() -> set[str]:
    """Error codes written as string literals in the http package (error_body("x", ...) and
    {"error": "x"})."""
    found: set[str] = set()
    for path in HTTP.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "error_body" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "error" and isinstance(value, ast.Constant):
                        found.add(value.value)
    return found


def test_every_code_the_server_can_send_is_mapped() -> None:
    assert set(HTTP_STATUS_CODES.values()) <= set(WIRE_ERRORS)
    assert _literal_codes() <= set(WIRE_ERRORS), _literal_codes() - set(WIRE_ERRORS)


def test_invalid_option_keeps_its_option_across_the_wire() -> None:
    back = error_from_body(400, error_body("invalid_option", "--port: must be a number"))
    assert isinstance(back, errors.InvalidOption) and back.option == "--port"
    assert str(back) == "--port: must be a number"
