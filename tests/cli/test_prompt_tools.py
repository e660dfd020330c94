"""`moss prompt` with tools: ``--tools TOOLS.json`` (an OpenAI Chat Completions tools array), ``--python-tool``,
``--date none``, and conversation files holding OpenAI-style tool calls and tool results.

OpenAI's reference vectors come out byte for byte (golden/harmony/openai, see SOURCE.md there): once through the
real ``moss`` process, the rest in-process through ``app.__main__.main`` (the same code). Bad files are one line
and exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.__main__ import main
from app.engine.formats.harmony_tools import python_description
from tests.engine.test_harmony_tools_render import LOOKUP_WEATHER, RIDDLE_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
OPENAI = ROOT / "tests" / "engine" / "golden" / "harmony" / "openai"


def vector(name: str) -> str:
    return (OPENAI / name).read_bytes().decode("utf-8")


def tools_array(*functions: Any) -> list[dict[str, Any]]:
    """Functions as the ``tools`` array of a Chat Completions request."""
    out = []
    for f in functions:
        function: dict[str, Any] = {"name": f.name, "description": f.description}
        if f.parameters is not None:
            function["parameters"] = f.parameters
        out.append({"type": "function", "function": function})
    return out


def write(path: Path, value: Any) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str | Path) -> tuple[int, str, str]:
    code = main(["--data-dir", str(tmp_path / "data"), "prompt", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


RIDDLES = [
    {"role": "system", "content": "Always respond in riddles"},
    {"role": "user", "content": "What is the weather like in SF?"},
]


def test_the_functions_vector_through_the_moss_process(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    conversation = write(tmp_path / "chat.json", RIDDLES)
    tools = write(tmp_path / "tools.json", tools_array(*RIDDLE_FUNCTIONS))
    options = ["--conversation", conversation, "--tools", tools, "--reasoning", "high", "--date", "2025-06-28"]
    argv = [sys.executable, "-m", "app", "--data-dir", tmp_path / "data", "prompt", "--model", tiny_gpt_oss, *options]
    result = subprocess.run(
        list(map(str, argv)),
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == vector("test_render_functions_with_parameters.txt")


def test_an_ongoing_tool_chain_from_openai_shaped_items(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path
) -> None:
    # The reference's test_does_not_drop_if_ongoing_analysis as a Chat Completions conversation; Moss adds its
    # system message, and addresses the result to the assistant on the commentary channel.
    items = [
        {"role": "user", "content": "What is the weather in SF?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning": "User asks: “What is the weather in SF?” We need to use lookup_weather tool.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_weather", "arguments": '{"location": "San Francisco"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 20, "description": "sunny"}'},
    ]
    conversation = write(tmp_path / "chat.json", items)
    code, out, err = run(
        capsys, tmp_path, "--model", tiny_gpt_oss, "--conversation", conversation, "--date", "2025-06-28"
    )
    assert (code, err) == (0, "")
    expected = vector("test_no_tools.txt").removesuffix("<|start|>assistant") + vector(
        "test_does_not_drop_if_ongoing_analysis.txt"
    ).replace(
        "<|start|>functions.lookup_weather<|message|>",
        "<|start|>functions.lookup_weather to=assistant<|channel|>commentary<|message|>",
    )
    assert out == expected


def test_tools_python_and_no_date(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path) -> None:
    conversation = write(tmp_path / "chat.json", [{"role": "user", "content": "Hi"}])
    tools = write(tmp_path / "tools.json", tools_array(LOOKUP_WEATHER))
    code, out, err = run(
        capsys, tmp_path, "--model", tiny_gpt_oss, "--conversation", conversation,
        "--tools", tools, "--python-tool", "--date", "none",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.startswith(
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        f"Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n# Tools\n\n## python\n\n{python_description()}\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message.\n"
        "Calls to these tools must go to the commentary channel: 'functions'.<|end|>"
        "<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n"
    )
    assert out.endswith("} // namespace functions<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant")


def test_tools_need_a_gpt_oss_model(capsys: pytest.CaptureFixture[str], tmp_path: Path, smollm2: Path) -> None:
    conversation = write(tmp_path / "chat.json", [{"role": "user", "content": "Hi"}])
    code, out, err = run(capsys, tmp_path, "--model", smollm2, "--conversation", conversation, "--python-tool")
    assert (code, out) == (2, "")
    assert err == "moss: Moss offers tools to gpt-oss models only, so far; this model uses its own chat template.\n"
    code, _, err = run(capsys, tmp_path, "--model", smollm2, "--conversation", conversation, "--date", "none")
    assert code == 2 and "give a date instead" in err and len(err.splitlines()) == 1


FUNCTION = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "tools.json is not valid JSON (line 1)"),
        ('[{"type": "function", "function": {"name": "f", "parameters": {"default": NaN}}}]', "NaN is not a JSON"),
        ({"type": "function"}, "tools.json must hold a JSON list of tools"),
        ([{"type": "code_interpreter"}], 'tools.json, tool 1: each tool must be {"type": "function"'),
        ([FUNCTION, {"type": "function", "function": {"name": "has space"}}], "tool 2: a function's name must be"),
        ([FUNCTION, FUNCTION], "tool 2: f is offered twice"),
        ([{"type": "function", "function": {"name": "f", "description": 3}}], "the description of f must be text"),
        ([{"type": "function", "function": {"name": "f", "parameters": []}}], "must be a JSON Schema object"),
        (
            '[{"type": "function", "function": {"name": "f", "parameters": ' + '{"a":' * 60 + "1" + "}" * 62 + "]",
            None,
        ),
        (
            '[{"type": "function", "function": {"name": "f", "parameters": ' + '{"a":' * 70 + "1" + "}" * 72 + "]",
            "the parameters of f nest deeper than 64 levels",
        ),
    ],
)
def test_a_bad_tools_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path, content: Any, says: str | None
) -> None:
    conversation = write(tmp_path / "chat.json", [{"role": "user", "content": "Hi"}])
    tools = write(tmp_path / "tools.json", content)
    code, out, err = run(capsys, tmp_path, "--model", tiny_gpt_oss, "--conversation", conversation, "--tools", tools)
    if says is None:  # (a valid file among the bad ones: the checks refuse only what they should)
        assert code == 0 and err == ""
        return
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("moss: ") and says in err, err


CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("items", "says"),
    [
        ([{"role": "tool", "tool_call_id": "c1", "content": "x"}], "message 1: no earlier tool call has the id 'c1'"),
        (
            [{"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "content": "x"}],
            "message 2: a tool message needs 'tool_call_id' as text",
        ),
        (
            [{"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "tool_call_id": "c1"}],
            "message 2: 'content' must be text, not None",
        ),
        ([{"role": "assistant", "tool_calls": "f()"}], "message 1: 'tool_calls' must be a list"),
        ([{"role": "assistant", "tool_calls": [{"name": "f"}]}], 'each tool call must be an object with a "function"'),
        (
            [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}],
            "the arguments of the call to f must be JSON text",
        ),
        ([{"role": "assistant", "content": 5, "tool_calls": [CALL]}], "'content' must be text or null, not a number"),
        ([{"role": "wizard", "content": "x"}], "message 1: unknown role 'wizard'; use system, user, assistant or tool"),
    ],
)
def test_bad_tool_items_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path, items: list[Any], says: str
) -> None:
    conversation = write(tmp_path / "chat.json", items)
    code, out, err = run(capsys, tmp_path, "--model", tiny_gpt_oss, "--conversation", conversation)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("moss: chat.json, ") and says in err, err


def test_a_preamble_several_calls_and_their_results(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_gpt_oss: Path
) -> None:
    second = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ' {"x": 1} '}}
    items = [
        {"role": "user", "content": "Do both."},
        {"role": "assistant", "content": "Doing both.", "tool_calls": [CALL, second]},
        {"role": "tool", "tool_call_id": "c2", "content": "G done"},
        {"role": "tool", "tool_call_id": "c1", "content": "F done"},
    ]
    conversation = write(tmp_path / "chat.json", items)
    code, out, err = run(capsys, tmp_path, "--model", tiny_gpt_oss, "--conversation", conversation)
    assert (code, err) == (0, "")
    assert out.endswith(
        "<|start|>user<|message|>Do both.<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>Doing both.<|end|>"
        "<|start|>assistant to=functions.f<|channel|>commentary <|constrain|>json<|message|>{}<|call|>"
        '<|start|>assistant to=functions.g<|channel|>commentary <|constrain|>json<|message|> {"x": 1} <|call|>'
        "<|start|>functions.g to=assistant<|channel|>commentary<|message|>G done<|end|>"
        "<|start|>functions.f to=assistant<|channel|>commentary<|message|>F done<|end|>"
        "<|start|>assistant"
    )
