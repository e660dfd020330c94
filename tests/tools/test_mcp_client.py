"""The MCP client against real stdio servers written with the SDK (tests/tools/mcp_servers): tools listed and
called, and every misbehaviour (a crash, a hang, megabytes, an image, an error, a server that never starts)
contained in one line, with no child process left behind."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.core.types import FunctionTool
from app.tools.mcp_client import McpClient
from app.tools.mcp_config import McpServerConfig, StdioTransport
from app.tools.mcp_names import FunctionNames
from app.tools.mcp_results import McpLimits, McpServerError

SERVERS = Path(__file__).parent / "mcp_servers"
LIMITS = McpLimits(start_timeout_s=20, call_timeout_s=20, list_timeout_s=20, max_result_chars=1000)


def stdio(name: str, script: str, *tags: str, **changes: object) -> McpServerConfig:
    """A server running one of the test scripts; ``tags`` are extra arguments it ignores, to find it among the
    processes."""
    config = McpServerConfig(name, StdioTransport(sys.executable, (str(SERVERS / script), *tags)))
    return McpServerConfig(**{**config.__dict__, **changes})  # type: ignore[arg-type]


def server_processes(tag: str) -> list[psutil.Process]:
    """This process's children started with ``tag`` among their arguments."""
    return [child for child in psutil.Process().children(recursive=True) if tag in _cmdline(child)]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return list(process.cmdline())
    except psutil.Error:
        return []


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpClient]:
    servers = [stdio("toolbox", "toolbox.py", disabled_tools=frozenset({"clock"}))]
    mcp = McpClient(servers, tmp_path_factory.mktemp("mcp-logs"), LIMITS)
    yield mcp
    mcp.close()


def started_file(tmp_path: Path) -> Path:
    return tmp_path / "call-started"


def stop_when_started(marker: Path, stop: threading.Event, done: threading.Event) -> None:
    """Sets ``stop`` once the server says the call is under way (it writes ``marker``)."""
    while not marker.exists() and not done.wait(0.02):
        pass
    stop.set()


def test_tools_are_listed_with_their_schemas_and_offered_as_functions(client: McpClient) -> None:
    tools = {tool.name: tool for tool in client.tools("toolbox")}
    assert {"echo", "add", "files.read-all", "huge", "sleep_forever", "exit_now"} <= set(tools)
    add = tools["add"]
    assert add.description == "Adds two whole numbers."
    assert add.input_schema["required"] == ["a", "b"]
    assert add.as_function_tool() == FunctionTool("toolbox__add", "Adds two whole numbers.", add.input_schema)
    assert tools["files.read-all"].function_name.startswith("toolbox__files_read_all_")
    assert not tools["clock"].enabled and tools["echo"].enabled  # switched off in the settings

    offered, problems = client.available_tools()
    assert problems == [] and "clock" not in {tool.name for tool in offered}
    names = FunctionNames((tool.server, tool.name) for tool in offered)
    weird = tools["files.read-all"].function_name
    assert client.call_function(weird, {"folder": "docs"}, names).text == "read docs"
    unknown = client.call_function("toolbox__nothing", {}, names)
    assert unknown.is_error and "There is no tool named toolbox__nothing" in unknown.text


def test_a_call_returns_the_tools_text(client: McpClient) -> None:
    echoed = client.call("toolbox", "echo", {"text": "hello"})
    assert (echoed.text, echoed.is_error) == ("hello", False)
    assert echoed.seconds >= 0
    assert json.loads(client.call("toolbox", "add", {"a": 2, "b": 40}).text) == 42


def test_megabytes_are_cut_with_a_note_and_an_image_is_described(client: McpClient) -> None:
    huge = client.call("toolbox", "huge", {"megabytes": 5})
    assert not huge.is_error
    assert huge.text.startswith("0123456789" * 100)
    assert huge.text.endswith(
        "\n[Cut: the tool returned 5,000,000 characters; Moss kept the first 1,000 and left out the other 4,999,000.]"
    )
    picture = client.call("toolbox", "picture", {})
    assert picture.text == "[An image (image/png, 70 bytes) that Moss does not show to the model.]"


def test_errors_of_the_tool_and_of_the_request_are_results_not_exceptions(client: McpClient) -> None:
    broken = client.call("toolbox", "broken", {})
    assert broken.is_error and broken.text == "Error executing tool broken: the disk is full"
    unknown = client.call("toolbox", "no_such_tool", {})
    assert unknown.is_error and unknown.text == "Unknown tool: no_such_tool"  # the server's own words
    off = client.call("toolbox", "clock", {})
    assert off.is_error and off.text == 'clock of the MCP server "toolbox" is off: this tool is switched off.'
    missing = client.call("nowhere", "echo", {})
    assert missing.is_error and missing.text == 'There is no MCP server named "nowhere" in Moss\'s settings.'
    with pytest.raises(McpServerError, match='There is no MCP server named "nowhere"'):
        client.tools("nowhere")


def test_a_server_that_dies_during_a_call_is_reported_and_started_again(client: McpClient) -> None:
    before = int(client.call("toolbox", "process_id", {}).text)
    died = client.call("toolbox", "exit_now", {})
    assert died.is_error
    assert died.text.startswith(
        'The MCP server "toolbox" stopped during the call to exit_now. Moss starts it again when next needed.'
    )
    assert " Its last output: " in died.text  # the last lines of its stderr, the SDK's own logging included
    assert died.text.endswith("toolbox: exiting in the middle of a call")
    after = int(client.call("toolbox", "process_id", {}).text)
    assert after != before
    assert not psutil.pid_exists(before) or psutil.Process(before).status() == psutil.STATUS_ZOMBIE


def test_stop_cancels_the_pending_call_and_the_server_carries_on(client: McpClient, tmp_path: Path) -> None:
    marker, stop, done = started_file(tmp_path), threading.Event(), threading.Event()
    watcher = threading.Thread(target=stop_when_started, args=(marker, stop, done))
    watcher.start()
    try:
        stopped = client.call("toolbox", "sleep_forever", {"started_file": str(marker)}, stop)
    finally:
        done.set()
        watcher.join()
    assert marker.exists()
    assert stopped.is_error and stopped.text == "The call to sleep_forever was stopped by the user."
    assert stopped.seconds < LIMITS.call_timeout_s
    assert client.call("toolbox", "echo", {"text": "still here"}).text == "still here"


def test_a_hung_call_times_out_and_the_server_is_restarted(tmp_path: Path) -> None:
    limits = McpLimits(start_timeout_s=20, call_timeout_s=1.5)
    mcp = McpClient([stdio("toolbox", "toolbox.py")], tmp_path, limits)
    try:
        before = int(mcp.call("toolbox", "process_id", {}).text)
        hung = mcp.call("toolbox", "sleep_forever", {})
        assert hung.is_error
        assert hung.text == (
            'The tool sleep_forever of the MCP server "toolbox" took longer than 1.5 s; Moss stopped the server '
            "(it starts again when next needed)."
        )
        assert int(mcp.call("toolbox", "process_id", {}).text) != before
    finally:
        mcp.close()


def test_servers_that_cannot_start_say_why_in_one_line(tmp_path: Path) -> None:
    servers = [
        McpServerConfig("missing", StdioTransport(str(tmp_path / "no-such-program"))),
        stdio("fails", "fails_at_start.py", str(tmp_path)),
        stdio("silent", "silent.py", str(tmp_path)),
        stdio("nowhere", "toolbox.py", transport=StdioTransport(sys.executable, (), cwd=str(tmp_path / "gone"))),
    ]
    mcp = McpClient(servers, tmp_path / "logs", McpLimits(start_timeout_s=1.5))
    try:
        with pytest.raises(McpServerError) as missing:
            mcp.tools("missing")
        assert missing.value.message == (
            f'The MCP server "missing" could not start: the program {tmp_path / "no-such-program"} was not found; '
            "check its command, arguments and environment."
        )
        failed = mcp.call("fails", "echo", {"text": "x"})
        assert failed.is_error
        assert failed.text == (
            'The MCP server "fails" could not start: it stopped as it started; check its command, arguments and '
            "environment. Its last output: starting the toolbox | fatal: cannot open /nowhere/database.sqlite"
        )
        assert "fatal: cannot open" in mcp.log_file("fails").read_text(encoding="utf-8")
        with pytest.raises(McpServerError, match=r'"silent" could not start: it did not answer within 1\.5 s'):
            mcp.tools("silent")
        with pytest.raises(McpServerError, match=f"its working folder {tmp_path / 'gone'} does not exist"):
            mcp.tools("nowhere")
    finally:
        mcp.close()
    assert server_processes(str(tmp_path)) == []


def test_close_stops_every_server_even_in_the_middle_of_a_call(tmp_path: Path) -> None:
    tag = str(tmp_path)
    mcp = McpClient([stdio("one", "toolbox.py", tag), stdio("two", "toolbox.py", tag)], tmp_path, LIMITS)
    marker = started_file(tmp_path)
    assert mcp.call("one", "echo", {"text": "up"}).text == "up"
    outcome: list[str] = []
    call = threading.Thread(
        target=lambda: outcome.append(mcp.call("two", "sleep_forever", {"started_file": str(marker)}).text)
    )
    call.start()
    stop, done = threading.Event(), threading.Event()
    stop_when_started(marker, stop, done)
    assert len(server_processes(tag)) == 2
    mcp.close()
    call.join()
    assert outcome == ['The MCP server "two" is not connected: Moss closed its connection to the server.']
    assert server_processes(tag) == []
    assert mcp.call("one", "echo", {"text": "again"}).text == (
        "Moss has closed its MCP client; nothing can be called any more."
    )


def test_changed_settings_restart_the_server_with_them(tmp_path: Path) -> None:
    mcp = McpClient([stdio("toolbox", "toolbox.py")], tmp_path, LIMITS)
    try:
        before = int(mcp.call("toolbox", "process_id", {}).text)
        script = (str(SERVERS / "toolbox.py"),)
        changed = stdio("toolbox", "toolbox.py", transport=StdioTransport(sys.executable, script, {"TZ": "UTC"}))
        mcp.set_servers([changed])
        assert int(mcp.call("toolbox", "process_id", {}).text) != before
        mcp.set_servers([])
        assert mcp.call("toolbox", "echo", {"text": "x"}).is_error
    finally:
        mcp.close()
