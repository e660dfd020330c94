"""Tool calls end to end through real llama.cpp: the tiny gpt-oss model, its replies forced token by token.

The model calls a tool and the reply reports the call (recipient, channel, data type, arguments verbatim), ending
at ``<|call|>``; the call and its result then go back into the next prompt; a model that starts the user's turn
stops there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.types import (
    Delta,
    DeltaKind,
    FinishReason,
    GenerationParams,
    GenerationResult,
    LoadOptions,
    LoadParams,
    Message,
    Role,
    ToolCall,
)
from app.engine.llama_engine import LlamaEngine
from tests.helpers.scripted import ScriptedLogits

QUESTION = [Message(Role.SYSTEM, "Answer briefly."), Message(Role.USER, "Weather in Paris?")]
CALLING = (
    "<|channel|>analysis<|message|>Need weather.<|end|>"
    '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}'
    "<|call|>"
)


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(tiny_gpt_oss, LoadOptions(LoadParams(n_ctx=2048, n_batch=128)))
    yield engine
    engine.unload()


def scripted(engine: LlamaEngine, messages: list[Message], text: str) -> GenerationResult:
    return engine.generate(messages, GenerationParams(max_tokens=200), logits_processor=ScriptedLogits(engine, text))


def test_a_tool_call_ends_the_reply_and_is_reported(engine: LlamaEngine) -> None:
    deltas: list[Delta] = []
    result = engine.generate(
        QUESTION,
        GenerationParams(max_tokens=200),
        on_delta=deltas.append,
        logits_processor=ScriptedLogits(engine, CALLING),
    )
    assert result.finish_reason == FinishReason.STOP
    assert result.stats.completion_tokens == len(engine.tokenize(CALLING)) - 1  # all but <|call|> (end of generation)
    assert (result.content, result.reasoning) == ("", "Need weather.")
    assert result.tool_call == ToolCall("functions.get_weather", '{"city": "Paris"}')
    assert result.tool_calls == ('functions.get_weather({"city": "Paris"})',)
    assert [d.call for d in deltas if d.kind == DeltaKind.TOOL_CALL] == [result.tool_call]


def test_the_call_and_its_result_go_back_to_the_model(engine: LlamaEngine) -> None:
    first = scripted(engine, QUESTION, CALLING)
    assert first.tool_call is not None
    chain = [
        *QUESTION,
        Message(Role.ASSISTANT, first.content, first.reasoning, tool_calls=(first.tool_call,)),
        Message(Role.TOOL, '{"temp_c": 21}', tool_name=first.tool_call.recipient),
    ]
    prompt = engine.render_prompt(chain)
    assert prompt.endswith(
        "<|start|>assistant<|channel|>analysis<|message|>Need weather.<|end|>"
        "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>"
        '{"city": "Paris"}<|call|>'
        '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"temp_c": 21}<|end|>'
        "<|start|>assistant"
    )
    answer = scripted(engine, chain, "<|channel|>final<|message|>21 °C in Paris.<|return|>")
    assert (answer.content, answer.finish_reason, answer.tool_call) == ("21 °C in Paris.", FinishReason.STOP, None)
    # The question and the reasoning were already in the cache: only what follows them is evaluated again.
    assert answer.stats.prompt_tokens_evaluated < answer.stats.prompt_tokens


def test_a_model_that_starts_the_user_s_turn_stops_there(engine: LlamaEngine) -> None:
    head = "<|channel|>final<|message|>Paris is sunny.<|end|><|start|>user<|message|>"
    script = (
        head + "Thanks! And Rome, Milan and Turin?<|end|><|start|>assistant<|channel|>final<|message|>Rome.<|return|>"
    )
    result = scripted(engine, QUESTION, script)
    assert (result.content, result.finish_reason) == ("Paris is sunny.", FinishReason.STOP)
    # Generation stopped at the <|message|> that opened the user's turn, not at the script's end.
    assert result.stats.completion_tokens == len(engine.tokenize(head))
