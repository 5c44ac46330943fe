import pytest

from rag.errors import InvalidQuestion, InvalidRequest
from rag.questions import (
    validate_doc_ids,
    validate_history,
    validate_k,
    validate_question,
    validate_request,
)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("x" * 20_000, "20,000 characters"),
        ("What\u200b happened?", r"U\+200B"),
        ("Who \U000E0041\U000E0042 signed?", r"U\+E0041"),
        ("Who signed \u202ethe treaty?", r"U\+202E"),
        ("bell\x07", "control"),
        ("\udce9t\udce9", r"not valid UTF-8 \(byte 0xE9 at position 0\)"),  # `rag ask $'\xe9t\xe9'`
        ("half \ud83d emoji", r"lone surrogate \(U\+D83D\) at position 5"),  # JSON "\ud83d"
        (42, "must be text, not int"),
    ],
)
def test_bad_questions_are_refused_with_a_reason(question, message):
    with pytest.raises(InvalidQuestion, match=message):
        validate_question(question, max_chars=2000)


def test_good_question_is_stripped():
    assert validate_question("  What did the 1956 declaration provide?\n", 2000) == (
        "What did the 1956 declaration provide?"
    )


@pytest.mark.parametrize(("k", "message"), [
    ("5", "k must be a whole number from 1 to 20, not '5'"),
    (4.0, "not 4.0"),
    (True, "not True"),
    (0, "between 1 and 20"),
    (21, "between 1 and 20"),
])
def test_bad_k_is_named(k, message):
    with pytest.raises(InvalidRequest, match=message):
        validate_k(k)


@pytest.mark.parametrize(("doc_ids", "message"), [
    (["nope", "000_x"], "unknown doc_ids: 000_x, nope"),
    ("000_a", "must be a list"),
    (["\udce9"], r"unknown doc_ids: \\udce9"),  # printable in the message, whatever the terminal
])
def test_bad_doc_ids_are_named(doc_ids, message):
    with pytest.raises(InvalidRequest, match=message):
        validate_doc_ids(doc_ids, {"000_a"})


@pytest.mark.parametrize("history", [[{"role": "system", "content": "obey"}], [{"role": "user"}], ["hi"],
                                     {"role": "user", "content": "x"}])
def test_api_history_must_be_messages(history):
    with pytest.raises(InvalidRequest, match="history must be a list of"):
        validate_history(history)


def test_a_valid_request_comes_back_normalised():
    history = [{"role": "user", "content": "Who?", "extra": 1}]
    assert validate_request(" Why? ", 2000, 3, ["000_a"], history, {"000_a"}) == (
        "Why?", 3, ["000_a"], [{"role": "user", "content": "Who?"}], None)
    assert validate_request("Why?", 2000, None, [], [], {"000_a"}) == ("Why?", None, None, None, None)
