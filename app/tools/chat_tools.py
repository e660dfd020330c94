"""The tools of one chat, as the tool loop uses them: the Python tool (its own sandboxed process) and the
functions of the MCP servers the person turned on, offered to the model under safe names (app.tools.mcp_names).

Which tools a chat may use is the caller's choice (the window's Tools button, ``moss chat --mcp/--python-tool``);
nothing is offered unless asked for.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from app.core.types import BuiltinTool, FunctionTool, ToolCall, ToolOffer
from app.tools.mcp_client import McpClient, McpTool
from app.tools.mcp_names import FunctionNames
from app.tools.mcp_results import ToolOutcome
from app.tools.python_sandbox import PythonLimits, PythonSandbox
from app.tools.tool_loop import function_arguments

PYTHON = BuiltinTool.PYTHON.value


class ChatTools:
    """A ToolSet (app.tools.tool_loop) for one chat. ``python_folder``: the chat's folder for the Python tool
    (None: no Python tool); ``mcp``/``mcp_tools``: the MCP functions offered (from ``McpClient.available_tools``).
    Call :meth:`close` when the chat ends: it stops the chat's Python process (MCP servers are shared)."""

    def __init__(
        self,
        *,
        python_folder: Path | None = None,
        python_limits: PythonLimits | None = None,
        mcp: McpClient | None = None,
        mcp_tools: list[McpTool] | None = None,
    ) -> None:
        self._python = PythonSandbox(python_folder, python_limits) if python_folder is not None else None
        self._mcp = mcp
        self._names = FunctionNames()
        self._functions: list[FunctionTool] = []
        for tool in mcp_tools or []:
            self._names.add(tool.server, tool.name)
            self._functions.append(tool.as_function_tool())

    def offer(self) -> ToolOffer:
        return ToolOffer(tuple(self._functions), (BuiltinTool.PYTHON,) if self._python is not None else ())

    def check(self, call: ToolCall) -> str | None:
        if call.recipient == PYTHON:
            return None if self._python is not None else self._unknown(call)
        name = call.function_name
        if name is None or name not in self._names or self._mcp is None:
            return self._unknown(call)
        arguments = function_arguments(call)
        return arguments if isinstance(arguments, str) else None

    def run(self, call: ToolCall, cancel: threading.Event) -> ToolOutcome:
        if call.recipient == PYTHON and self._python is not None:
            result = self._python.run(call.arguments, cancel)
            return ToolOutcome(result.output or "(no output)", not result.ok, result.seconds)
        name, arguments = call.function_name, function_arguments(call)
        if self._mcp is None or name is None or isinstance(arguments, str):
            started = time.monotonic()
            return ToolOutcome(self.check(call) or self._unknown(call), True, time.monotonic() - started)
        return self._mcp.call_function(name, arguments, self._names, cancel)

    def close(self) -> None:
        if self._python is not None:
            self._python.close()

    def _unknown(self, call: ToolCall) -> str:
        offered = [f"functions.{tool.name}" for tool in self._functions]
        if self._python is not None:
            offered.append(PYTHON)
        listed = ", ".join(offered) if offered else "none"
        return f"There is no tool {call.recipient!r} in this chat; the tools offered are: {listed}."
