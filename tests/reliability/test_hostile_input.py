"""Bad questions and requests through the real command line: a message and exit code 2, before any model loads."""

from __future__ import annotations

import json

import pytest

QUESTIONS = {
    "empty": "",
    "control": "Who signed\x07 the declaration?",
    "bidi": "Who signed \u202ethe declaration?",
    "tag": "Who signed\U000E0049\U000E0047 the declaration?",
    "zero-width": "Who\u200b signed the declaration?",
    "latin-1 bytes": b"Qui a sign\xe9 la d\xe9claration?",  # a shell passes these as they are
    "huge": "Why? " * 5_000,
}


@pytest.mark.parametrize("command", ["ask", "retrieve"])
@pytest.mark.parametrize("name", QUESTIONS)
def test_bad_question_is_refused_before_anything_loads(workspace, command, name):
    proc = workspace.run(command, QUESTIONS[name])
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("error: invalid question: the question")
    assert not workspace.index.exists()  # nothing was loaded or built


def test_latin1_argument_says_what_to_fix(workspace):
    stderr = workspace.run("ask", b"\xe9t\xe9").stderr.decode()
    assert "not valid UTF-8 (byte 0xE9 at position 0)" in stderr and "send it as UTF-8 text (check the terminal's or the file's encoding)" in stderr


@pytest.mark.parametrize("line, message", [
    (b'{"id": "q2", "question": "Qui a sign\xe9?"}', "q.jsonl:2: not valid UTF-8 (byte 0xE9 at column 37)"),
    (b'{"id": "q2", "question": "half \\ud83d an emoji"}', "question q2: the question contains a lone surrogate"),
    (b'{"id": "q2", "question": "' + b"x" * 3000 + b'"}', "question q2: the question is 3,000 characters"),
    (b'{"id": "q2", "question": 42}', "q.jsonl:2: each line needs a string field 'question'"),
    (b'{"id": "q2", "question": "Who?"', "q.jsonl:2: not valid JSON"),
])
def test_bad_batch_line_is_named_before_anything_loads(workspace, line, message):
    batch = workspace.root / "q.jsonl"
    batch.write_bytes(json.dumps({"id": "q1", "question": "Who signed?"}).encode() + b"\n" + line + b"\n")
    proc = workspace.run("ask", "--batch", str(batch))
    assert proc.returncode == 2 and message in proc.stderr.decode()
    assert not workspace.index.exists()


@pytest.mark.parametrize("argv, message", [
    (["ask", "--doc", "../../etc/passwd", "Who signed?"], "unknown doc_ids: ../../etc/passwd"),
    (["retrieve", "--doc", b"\xe9", "Who signed?"], r"unknown doc_ids: \udce9"),
])
def test_unknown_articles_are_refused(built, argv, message):
    proc = built.run(*argv)
    assert proc.returncode == 2 and message in proc.stderr.decode()


@pytest.mark.parametrize("argv, message", [
    (["ask", "--k", "five", "Who signed?"], "Invalid value for '--k'"),
    (["ask", "--k", "99", "Who signed?"], "Invalid value for '--k'"),
    (["ask", "--batch", "/nonexistent/q.jsonl"], "cannot read batch file /nonexistent/q.jsonl: No such file"),
])
def test_bad_options_get_a_message(workspace, argv, message):
    proc = workspace.run(*argv)
    assert proc.returncode == 2 and message in proc.stderr.decode()
