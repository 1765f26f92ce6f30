"""Listing tables stay readable: a table where it fits, one record per row where it does not."""

import io

from rich.console import Console

from acubench.cli.tables import print_rows

HEADERS = ("id", "target", "split", "data")
ROWS = [("demo-diagnosis", "subject diagnosis", "leave-one-subject-out", "built in (generated on first use)"),
        ("T17", "murmur present/absent/unknown", "train/val/test", "absent")]


def _render(width: int) -> str:
    out = io.StringIO()
    print_rows("Registered tasks", HEADERS, ROWS, console=Console(file=out, width=width, color_system=None))
    return out.getvalue()


def test_a_table_that_fits_is_a_table():
    text = _render(160)
    assert "┃ id" in text and "leave-one-subject-out" in text


def test_a_narrow_console_gets_records_with_every_word_whole():
    text = _render(60)
    assert "┃" not in text
    lines = text.splitlines()
    assert "demo-diagnosis" in lines and "T17" in lines  # each row's id is its heading
    assert "  split:  leave-one-subject-out" in lines
    for word in ("subject-out", "murmur", "present/absent/unknown", "(generated"):
        assert any(word in line for line in lines), word
    assert max(len(line.rstrip()) for line in lines) <= 60


def test_the_listing_commands_use_it(capsys, monkeypatch):
    from acubench.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["tasks", "--suite", "demo"]) == 0
    out = capsys.readouterr().out
    assert "\ndemo-diagnosis\n" in out and "  split:    leave-one-subject-out" in out
