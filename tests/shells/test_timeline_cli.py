"""`rag timeline` as users call it: JSON of the documented shape, one line per event, filters and bad input."""

import json

import pytest
from typer.testing import CliRunner

from rag.settings import load_settings
from rag.timeline import Event
from shells.cli import _event_line, full_app

app = full_app()
runner = CliRunner()


@pytest.fixture
def built(tmp_path_factory, monkeypatch, indexed):
    """The bundled corpus indexed once for the module with the fake embedder (the timeline needs no LLM)."""
    index = tmp_path_factory.getbasetemp() / "timeline-cli-index"
    if not index.exists():
        indexed(load_settings(embedder="fake", index_dir=index))
    monkeypatch.setenv("RAG_EMBEDDER", "fake")
    monkeypatch.setenv("RAG_INDEX_DIR", str(index))


def test_json_lists_events_sorted_with_citations(built):
    result = runner.invoke(app, ["timeline", "--json"])
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)["events"]
    assert events and [e["date"] for e in events] == sorted(e["date"] for e in events)
    assert {"date", "precision", "label", "citations", "conflict"} == set(events[0])
    assert {"doc_id", "title", "start", "end", "quote"} <= set(events[0]["citations"][0])


def test_filters_and_text_lines(built):
    result = runner.invoke(app, ["timeline", "--from", "2019-01", "--to", "2019-01", "--doc", "003_aac86c86413ce24b"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # "2019" (the goal of a treaty before its end) overlaps January 2019
    assert [line.split()[:2] for line in lines] == [["2019", "year"], ["2019-01-14", "day"], ["2019-01-22", "day"]]
    assert all(line.endswith("[003_aac86c86413ce24b]") for line in lines)
    result = runner.invoke(app, ["timeline", "--query", "investment platform"])
    assert [line[:4] for line in result.stdout.splitlines()] == ["2017", "2018"]


def test_a_conflict_names_each_articles_date():
    cite = {"title": "t", "start": 0, "end": 1, "quote": "q", "precision": "year"}
    event = Event("2018", "year", "platform created", [cite | {"doc_id": "a", "date": "2018"},
                                                       cite | {"doc_id": "b", "date": "2017"}], conflict=True)
    first, second = _event_line(event).splitlines()
    assert first.startswith("2018        year   platform created  [a, b]")
    assert second.strip() == "CONFLICT: the articles date it differently (a: 2018; b: 2017)"


def test_bad_filters_exit_2_with_the_library_message(built):
    result = runner.invoke(app, ["timeline", "--from", "December 2016"])
    assert result.exit_code == 2 and "the 'from' date must be written YYYY, YYYY-MM or YYYY-MM-DD" in result.output
    result = runner.invoke(app, ["timeline", "--doc", "nope"])
    assert result.exit_code == 2 and "unknown doc_ids: nope" in result.output
