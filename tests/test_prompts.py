import pytest

from rag.prompts import PromptError, render
from rag.settings import PROJECT_ROOT

PROMPTS = PROJECT_ROOT / "prompts"


def test_answer_prompt_renders_question_and_passages():
    messages = render(PROMPTS, "answer", question="Q?", passages="<passage id=\"1\">{braces} stay</passage>")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Q?" in messages[1]["content"] and "{braces} stay" in messages[1]["content"]


def test_missing_or_extra_variables_are_refused(tmp_path):
    with pytest.raises(PromptError, match="needs"):
        render(PROMPTS, "answer", question="Q?")
    (tmp_path / "bad.toml").write_text('variables = ["question"]\nsystem = "s"\nuser = "{question} {extra}"\n')
    with pytest.raises(PromptError, match="declares"):
        render(tmp_path, "bad", question="Q?")
