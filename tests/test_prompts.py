import os

import pytest

from rag.generation import citation_grammar
from rag.prompts import PromptError, render
from rag.settings import CHECKOUT

PROMPTS = CHECKOUT / "prompts"


def test_answer_prompt_renders_evidence_then_question():
    messages = render(PROMPTS, "answer", question="Q?", evidence="[1] {braces} stay")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.index("{braces} stay") < user.index("Q?") and user.rstrip().endswith("Answer:")


def test_missing_or_extra_variables_are_refused(tmp_path):
    with pytest.raises(PromptError, match="needs"):
        render(PROMPTS, "answer", question="Q?")
    (tmp_path / "bad.toml").write_text('variables = ["question"]\nsystem = "s"\nuser = "{question} {extra}"\n')
    with pytest.raises(PromptError, match="declares"):
        render(tmp_path, "bad", question="Q?")


def test_a_model_specific_file_wins_and_edits_are_picked_up(tmp_path):
    spec = 'variables = ["question"]\nsystem = "{kind}"\nuser = "{question}"\n'
    (tmp_path / "answer.toml").write_text(spec.replace("{kind}", "general"))
    (tmp_path / "answer.small.toml").write_text(spec.replace("{kind}", "small"))
    assert render(tmp_path, "answer", "small", question="Q")[0]["content"] == "small"
    assert render(tmp_path, "answer", "other", question="Q")[0]["content"] == "general"
    path = tmp_path / "answer.toml"
    path.write_text(spec.replace("{kind}", "edited"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert render(tmp_path, "answer", None, question="Q")[0]["content"] == "edited"


def test_citation_grammar_allows_only_existing_numbers_and_parses_in_llama_cpp():
    grammar = citation_grammar(3)
    assert 'n ::= "1" | "2" | "3"' in grammar and '"4"' not in grammar
    from llama_cpp import LlamaGrammar

    LlamaGrammar.from_string(grammar, verbose=False)
