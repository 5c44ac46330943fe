"""The bundled model through llama.cpp: loading it in the background must not silence the process."""

import os
import threading

import pytest

from rag.settings import load_settings


@pytest.mark.integration
def test_a_background_load_leaves_stdout_and_stderr_where_they_were(capfd):
    from rag.llms import make_llm

    settings = load_settings(llm="local", local_model="qwen2.5-coder-0.5b")
    targets = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (1, 2)}
    seen, loaded = set(), []
    loader = threading.Thread(target=lambda: loaded.append(make_llm(settings)))
    loader.start()
    while loader.is_alive():  # what the main thread's prints would reach while the model loads
        seen |= {(fd, os.readlink(f"/proc/self/fd/{fd}")) for fd in (1, 2)}
    loader.join()
    assert loaded and seen <= set(targets.items())
    assert "control-looking token" not in capfd.readouterr().err  # llama.cpp warnings stay out of the terminal


@pytest.mark.integration
@pytest.mark.parametrize("contexts", [1, 2])
def test_alternating_system_prompts_each_keep_their_cached_prompt_with_two_contexts(contexts):
    from rag.llms import make_llm

    llm = make_llm(load_settings(llm="local", local_model="qwen2.5-coder-0.5b", llama_contexts=contexts))
    answer = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of Japan?"}]
    rewrite = [{"role": "system", "content": "Rewrite the follow-up as a full question."},
               {"role": "user", "content": "And of Russia?"}]
    first = llm.complete(answer, max_tokens=8, temperature=0.0)
    context = llm._context(answer)
    cached = list(context.input_ids)  # the answer prompt and reply, what the next answer prompt reuses
    llm.complete(rewrite, max_tokens=16, temperature=0.0)
    assert (list(context.input_ids) == cached) is (contexts == 2)
    assert llm.complete(answer, max_tokens=8, temperature=0.0) == first  # a kept cache answers the same
