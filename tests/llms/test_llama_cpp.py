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


@pytest.mark.integration
def test_prepared_instructions_are_not_evaluated_again_and_answer_the_same():
    from rag.llms import Usage, make_llm

    settings = load_settings(llm="local", local_model="qwen2.5-coder-0.5b")
    system = {"role": "system", "content": "Answer in one short sentence about geography. Name the country."}
    messages = [system, {"role": "user", "content": "Which country is Kunashir part of?"}]
    warm = make_llm(settings)
    warm.prepare(system)
    context = warm._context(messages)
    prefilled = list(context.input_ids)
    evaluated = []
    evaluate = context.eval
    context.eval = lambda tokens: (evaluated.append(list(tokens)), evaluate(tokens))[1]
    reply = warm.complete(messages, max_tokens=16, temperature=0.0)
    reused = next(i for i, (a, b) in enumerate(zip(prefilled, context.input_ids)) if a != b)
    assert reused > warm.count_tokens(system["content"])  # the instructions and the user turn's opening were kept
    assert evaluated[0] == context.input_ids[reused:reused + len(evaluated[0])].tolist()  # evaluated from there on
    assert reply == make_llm(settings).complete(messages, max_tokens=16, temperature=0.0)  # cold: same reply


@pytest.mark.integration
@pytest.mark.parametrize("max_tokens", [64, 3])
def test_a_streamed_reply_counts_its_tokens_as_llama_cpp_does_without_streaming(max_tokens):
    from rag.llms import Usage, make_llm

    llm = make_llm(load_settings(llm="local", local_model="qwen2.5-coder-0.5b"))
    messages = [{"role": "system", "content": "Answer in one short sentence."},
                {"role": "user", "content": "Which sea lies north of Hokkaido?"}]
    usage = Usage()
    reply = llm.complete(messages, max_tokens=max_tokens, temperature=0.0, usage=usage)
    exact = llm._context(messages).create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
    assert exact["choices"][0]["finish_reason"] == ("stop" if max_tokens == 64 else "length")  # both endings
    assert exact["choices"][0]["message"]["content"] == reply
    assert dict(usage) == {k: exact["usage"][k] for k in ("prompt_tokens", "completion_tokens")}
