"""The app's glue, without a server: events fold into a turn, turns become history for follow-ups."""

from __future__ import annotations

from rag.service import Answer, Done, Retrieved, Status, Token
from rag.verification import Sentence
from ui.app import apply_event, history_of, scope_label
from ui.render import Turn


def answer(text: str, sentences: list[Sentence], abstained: bool = False) -> Answer:
    return Answer("q", text, abstained, [], sentences, [], [], "fake", {"total": 1.0})


def test_events_fold_into_the_turn():
    turn = Turn("t1", "And Tokyo?")
    passages, done = ["passage"], answer("Tokyo protested [1].", [Sentence("Tokyo protested.", citations=[1])])
    for event in [Status("rewriting"), Status("searching", "How did Tokyo react?"),
                  Retrieved(passages, "How did Tokyo react?"), Status("generating"), Token("Trade "), Token("grew"),
                  Done(done)]:
        apply_event(turn, event)
    assert (turn.stage, turn.query, turn.standalone, turn.draft) == ("generating", "How did Tokyo react?",
                                                                     "How did Tokyo react?", "Trade grew")
    assert turn.passages is passages and turn.answer is done and not turn.pending


def test_history_has_answers_without_markers_or_rejected_text():
    supported = answer("Trade grew [1]. It doubled [2].",
                       [Sentence("Trade grew.", citations=[1]), Sentence("It doubled.", citations=[2])])
    rejected = answer("The articles do not say.", [Sentence("Bananas are yellow.", supported=False)], abstained=True)
    turns = [Turn("a", "Trade?", answer=supported), Turn("b", "Bananas?", answer=rejected),
             Turn("c", "Failed?", error="Could not answer"), Turn("d", "Pending?")]
    assert history_of(turns) == [
        {"role": "user", "content": "Trade?"},
        {"role": "assistant", "content": "Trade grew. It doubled."},
        {"role": "user", "content": "Bananas?"},
        {"role": "assistant", "content": "The articles do not say."},
    ]


def test_scope_label():
    assert scope_label([], 5, 4) == "all 5 articles · top 4 passages"
    assert scope_label(["a", "b"], 5, 1) == "2 of 5 articles · top 1 passage"
