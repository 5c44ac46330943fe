import pytest

from rag.questions import InvalidQuestion, validate_question


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
    ],
)
def test_bad_questions_are_refused_with_a_reason(question, message):
    with pytest.raises(InvalidQuestion, match=message):
        validate_question(question, max_chars=2000)


def test_good_question_is_stripped():
    assert validate_question("  What did the 1956 declaration provide?\n", 2000) == (
        "What did the 1956 declaration provide?"
    )
