"""The function names gpt-oss calls MCP tools by: identifiers harmony can carry, unique, and the way back."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.tools.mcp_names import MAX_FUNCTION_NAME_LENGTH, FunctionNames, function_name

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def test_safe_names_stay_readable() -> None:
    assert function_name("clock", "get_time") == "clock__get_time"
    assert function_name("web_search", "_private") == "web_search___private"
    assert FunctionNames([("clock", "get_time")]).lookup("clock__get_time") == ("clock", "get_time")


def test_awkward_names_are_spelled_safely_and_stay_apart() -> None:
    dotted = function_name("my-server", "files.read")
    assert re.fullmatch(r"my_server__files_read_[0-9a-f]{8}", dotted)
    assert dotted != function_name("my_server", "files_read")  # which is readable, and another tool
    assert function_name("my server", "files.read") != dotted
    assert IDENTIFIER.fullmatch(function_name("9lives", "x"))
    assert IDENTIFIER.fullmatch(function_name("时钟", "现在"))
    assert function_name("a__b", "c") != function_name("a", "b__c")
    assert len(function_name("s" * 60, "t" * 60)) <= MAX_FUNCTION_NAME_LENGTH


@given(st.lists(st.tuples(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80)), max_size=8))
def test_every_pair_gets_an_identifier_that_leads_back_to_it(pairs: list[tuple[str, str]]) -> None:
    names = FunctionNames(pairs)
    for server, tool in pairs:
        name = function_name(server, tool)
        assert IDENTIFIER.fullmatch(name) and len(name) <= MAX_FUNCTION_NAME_LENGTH
        assert name == function_name(server, tool)  # the same in every session
        assert names.lookup(name) == (server, tool)
    assert len(names) == len(set(pairs))
    assert names.lookup("python") is None
