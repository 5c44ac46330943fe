from rag.evidence import Evidence
from rag.generation import QUOTED_LINES, quote_evidence


def evidence(n: int, text: str) -> Evidence:
    return Evidence(n, "doc", "Title", "Title", "chunk", 10 * n, 10 * n + len(text), text, (n,), 1.0)


LINES = [evidence(1, "Trade grew last year."), evidence(2, "The plant opened in September 2019."),
         evidence(3, "Abe visited Vladivostok. He met Putin there.")]


def test_a_quote_reply_gives_the_named_lines_whole_first_named_first():
    assert quote_evidence("[3][1]", LINES) == "Abe visited Vladivostok. He met Putin there. [3] Trade grew last year. [1]"
    assert quote_evidence(" [2]", LINES) == "The plant opened in September 2019. [2]"


def test_numbers_of_no_evidence_repeats_and_extra_lines_are_left_out():
    assert quote_evidence("[9] [2] [2]", LINES) == "The plant opened in September 2019. [2]"
    assert quote_evidence("[1][2][3]", LINES).count("[") == QUOTED_LINES == 2


def test_a_reply_naming_no_line_quotes_nothing():
    assert quote_evidence("[0]", LINES) == "" and quote_evidence("None of them.", LINES) == ""
