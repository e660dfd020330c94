"""The tool loop end to end on real llama.cpp: the tiny gpt-oss model, each step's reply forced token by token,
and real tools (the sandboxed Python). The model calls, the person decides, the tool runs, its result goes back,
and the model answers; each step after the first evaluates only what is new."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.core.tool_steps import ToolDecision, ToolStep
from app.core.types import (
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
from app.tools.chat_tools import ChatTools
from app.tools.mcp_client import McpClient
from app.tools.mcp_config import McpServerConfig, StdioTransport
from app.tools.python_sandbox import PythonLimits
from app.tools.tool_loop import DENIED_TEXT, run_tool_chain
from tests.helpers.scripted import ScriptedLogits

QUESTION = [Message(Role.USER, "What is six times seven?")]
MCP_SERVERS = Path(__file__).parent / "mcp_servers"


def python_call(code: str, thought: str = "Compute it.") -> str:
    return (
        f"<|channel|>analysis<|message|>{thought}<|end|>"
        f"<|start|>assistant<|channel|>analysis to=python code<|message|>{code}<|call|>"
    )


def answer(text: str) -> str:
    return f"<|channel|>final<|message|>{text}<|return|>"


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss: Path) -> Iterator[LlamaEngine]:
    engine = LlamaEngine()
    engine.load(tiny_gpt_oss, LoadOptions(LoadParams(n_ctx=2048, n_batch=64)))
    yield engine
    engine.unload()


@pytest.fixture
def tools(tmp_path: Path) -> Iterator[ChatTools]:
    chat_tools = ChatTools(python_folder=tmp_path / "chat", python_limits=PythonLimits(timeout_s=2))
    yield chat_tools
    chat_tools.close()


class Script:
    """Each generation writes the next scripted reply; the prompts it was given are kept."""

    def __init__(self, engine: LlamaEngine, *replies: str, cancel: threading.Event | None = None) -> None:
        self.engine, self.replies, self.cancel = engine, list(replies), cancel
        self.prompts: list[str] = []

    def __call__(self, messages: Sequence[Message], params: GenerationParams) -> GenerationResult:
        self.prompts.append(self.engine.render_prompt(messages, tools=params.tools))
        text = self.replies.pop(0)
        return self.engine.generate(
            messages, GenerationParams(max_tokens=300, tools=params.tools), cancel=self.cancel,
            logits_processor=ScriptedLogits(self.engine, text),
        )  # fmt: skip


def allow(_call: ToolCall) -> ToolDecision:
    return ToolDecision.ALLOWED


def test_a_python_call_runs_and_the_model_answers_with_its_result(engine: LlamaEngine, tools: ChatTools) -> None:
    script = Script(engine, python_call("print(6 * 7)"), answer("It is 42."))
    asked: list[ToolCall] = []
    seen: list[ToolStep] = []

    def ask(call: ToolCall) -> ToolDecision:
        asked.append(call)
        return ToolDecision.ALLOWED

    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, ask, on_step=seen.append)
    assert chain.result.content == "It is 42."
    assert chain.finish_reason == FinishReason.STOP
    (step,) = chain.steps
    assert seen == [step]
    assert [call.recipient for call in asked] == ["python"]
    assert (step.call.arguments, step.result, step.ok, step.reasoning) == ("print(6 * 7)", "42\n", True, "Compute it.")
    assert step.call.id.startswith("call_")
    # The second step's prompt: the first prompt, then the call as the model wrote it, the tool's answer, and a new
    # assistant turn; the cache held all before the answer, so little was evaluated again.
    first, second = script.prompts
    assert second == first + (
        "<|channel|>analysis<|message|>Compute it.<|end|>"
        "<|start|>assistant to=python<|channel|>analysis code<|message|>print(6 * 7)<|call|>"
        "<|start|>python to=assistant<|channel|>analysis<|message|>42\n<|end|><|start|>assistant"
    )
    _, evaluated_second = chain.evaluated
    assert evaluated_second < len(engine.tokenize(second.split("print(6 * 7)")[0]))


def test_the_state_of_python_lasts_across_calls_in_a_chain(engine: LlamaEngine, tools: ChatTools) -> None:
    script = Script(engine, python_call("x = 6 * 7"), python_call("print(x)", "Show it."), answer("42."))
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, allow)
    assert [step.result for step in chain.steps] == ["(no output)", "42\n"]
    assert chain.result.content == "42."


def test_a_denied_call_does_not_run_and_the_model_is_told(
    engine: LlamaEngine, tools: ChatTools, tmp_path: Path
) -> None:
    script = Script(engine, python_call("open('made.txt', 'w').write('x')"), answer("I could not."))
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, lambda _call: ToolDecision.DENIED)
    (step,) = chain.steps
    assert (step.decision, step.result, step.ok) == (ToolDecision.DENIED, DENIED_TEXT, False)
    assert not (tmp_path / "chat" / "made.txt").exists()
    assert DENIED_TEXT in script.prompts[1]


def test_a_call_to_a_tool_that_does_not_exist_is_answered_without_asking(engine: LlamaEngine, tools: ChatTools) -> None:
    calling = (
        "<|channel|>analysis<|message|>Try.<|end|><|start|>assistant<|channel|>commentary to=functions.launch "
        '<|constrain|>json<|message|>{"target": "moon"}<|call|>'
    )
    script = Script(engine, calling, answer("No such tool."))

    def never(_call: ToolCall) -> ToolDecision:
        raise AssertionError("a malformed call was put to the person")

    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, never)
    (step,) = chain.steps
    assert step.decision == ToolDecision.INVALID
    assert step.result == "There is no tool 'functions.launch' in this chat; the tools offered are: python."
    assert chain.result.content == "No such tool."


def test_a_tool_that_hangs_times_out_and_the_chain_goes_on(engine: LlamaEngine, tools: ChatTools) -> None:
    script = Script(engine, python_call("while True: pass"), answer("It took too long."))
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, allow)
    (step,) = chain.steps
    assert not step.ok
    assert "[Timed out after 2 s and interrupted; variables are kept.]" in step.result
    assert chain.result.content == "It took too long."


def test_the_step_limit_ends_the_chain_and_the_last_call_is_not_run(engine: LlamaEngine, tools: ChatTools) -> None:
    script = Script(engine, python_call("n = 1"), python_call("n += 1"), python_call("n += 1"))
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, allow, max_steps=2)
    assert chain.step_limit_reached
    assert len(chain.steps) == 2
    assert "that was the last of the 2 tool calls one reply may make" in chain.steps[-1].result
    assert chain.result.tool_call is not None and chain.result.tool_call.arguments == "n += 1"


def test_stop_in_the_middle_of_a_tool_ends_the_chain(engine: LlamaEngine, tools: ChatTools) -> None:
    stop = threading.Event()
    script = Script(engine, python_call("import time\ntime.sleep(30)"), answer("never"), cancel=stop)
    threading.Timer(0.8, stop.set).start()
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, allow, cancel=stop)
    (step,) = chain.steps
    assert "[Stopped by the user; variables are kept.]" in step.result
    assert chain.finish_reason == FinishReason.CANCELLED
    assert step.seconds < 2


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpClient]:
    toolbox = McpServerConfig("toolbox", StdioTransport(sys.executable, (str(MCP_SERVERS / "toolbox.py"),)))
    client = McpClient([toolbox], tmp_path_factory.mktemp("mcp-logs"))
    yield client
    client.close()


def test_a_chain_through_a_real_mcp_server(engine: LlamaEngine, mcp: McpClient) -> None:
    offered, problems = mcp.available_tools()
    assert problems == []
    add = next(tool for tool in offered if tool.name == "add")
    tools = ChatTools(mcp=mcp, mcp_tools=[add])
    calling = (
        "<|channel|>analysis<|message|>Add them.<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.toolbox__add <|constrain|>json<|message|>{"a": 6, "b": 36}<|call|>'
    )
    script = Script(engine, calling, answer("42."))
    chain = run_tool_chain(script, QUESTION, GenerationParams(), tools, allow)
    (step,) = chain.steps
    assert (step.call.recipient, step.result, step.ok) == ("functions.toolbox__add", "42", True)
    assert chain.result.content == "42."
    first, second = script.prompts
    # The function is declared to the model as the reference renders a JSON Schema.
    assert "## functions\n\nnamespace functions {\n\n// Adds two whole numbers.\ntype toolbox__add = (_: {\n" in first
    assert second == first + (
        "<|channel|>analysis<|message|>Add them.<|end|>"
        "<|start|>assistant to=functions.toolbox__add<|channel|>commentary <|constrain|>json<|message|>"
        '{"a": 6, "b": 36}<|call|>'
        "<|start|>functions.toolbox__add to=assistant<|channel|>commentary<|message|>42<|end|><|start|>assistant"
    )
    _, evaluated_second = chain.evaluated
    assert evaluated_second < len(engine.tokenize(second)) - len(engine.tokenize(first)) + 20


def test_arguments_that_are_not_json_go_back_to_the_model(engine: LlamaEngine, mcp: McpClient) -> None:
    add = next(tool for tool in mcp.available_tools()[0] if tool.name == "add")
    tools = ChatTools(mcp=mcp, mcp_tools=[add])
    calling = (
        "<|channel|>analysis<|message|>Add.<|end|><|start|>assistant<|channel|>commentary "
        "to=functions.toolbox__add <|constrain|>json<|message|>{a: 6<|call|>"
    )
    chain = run_tool_chain(Script(engine, calling, answer("Sorry.")), QUESTION, GenerationParams(), tools, allow)
    (step,) = chain.steps
    assert step.decision == ToolDecision.INVALID
    assert step.result.startswith("The arguments of functions.toolbox__add are not valid JSON (line 1, column 2)")
