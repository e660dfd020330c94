"""Tools as harmony describes them to gpt-oss: TypeScript-like declarations made from JSON Schema.

A port of OpenAI's reference renderer (``openai/harmony`` v0.0.8, ``src/encoding.rs``:
``json_schema_to_typescript`` and ``template_tools_section``; ``src/chat.rs`` for the built-in tools), kept line
for line so that a tools list renders byte for byte as the reference renders it: gpt-oss was trained on that
output. Its quirks are kept too (a string default is quoted except for an enum; a property's ``oneOf`` puts the
property's default above it), since the model learnt them.

JSON values arrive as Python parses them (``json.loads``: objects keep their key order, as the reference's
``serde_json`` with ``preserve_order`` does). Where the reference prints a JSON value (a default that is not a
string) it prints it compactly, numbers as Rust's ``serde_json`` writes them (:func:`json_text`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.types import FUNCTIONS_NAMESPACE, BuiltinTool, FunctionTool

# OpenAI's description of its Python tool (src/chat.rs, ToolNamespaceConfig::python): only for reproducing the
# reference's prompts. It is not true of Moss (no Jupyter, no /mnt/data), so the app uses python_description().
REFERENCE_PYTHON_DESCRIPTION = (
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user. This "
    "tool should be used for internal reasoning, but not for code that is intended to be visible to the user (e.g. "
    "when creating plots, tables, or files).\n\nWhen you send a message containing Python code to python, it will "
    "be executed in a stateful Jupyter notebook environment. python will respond with the output of the execution "
    "or time out after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. "
    "Internet access for this session is UNKNOWN. Depends on the cluster."
)
# How long one run of Moss's Python tool may take before it is stopped (what the sandbox enforces).
PYTHON_TIME_LIMIT_S = 120.0

_BROWSER_DESCRIPTION = (
    "Tool for browsing.\nThe `cursor` appears in brackets before each browsing display: `[{cursor}]`.\nCite "
    "information from the tool using the following format:\n`【{cursor}†L{line_start}(-L{line_end})?】`, for "
    "example: `【6†L9-L11】` or `【8†L3】`.\nDo not quote more than 10 words directly from the tool output.\n"
    "sources=web (default: web)"
)
_BROWSER_TOOLS = (
    FunctionTool(
        "search",
        "Searches for information related to `query` and displays `topn` results.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "topn": {"type": "number", "default": 10},
                "source": {"type": "string"},
            },
            "required": ["query"],
        },
    ),
    FunctionTool(
        "open",
        "Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, showing "
        "`num_lines` lines.\nValid link ids are displayed with the formatting: `【{id}†.*】`.\nIf `cursor` is not "
        "provided, the most recent page is implied.\nIf `id` is a string, it is treated as a fully qualified URL "
        "associated with `source`.\nIf `loc` is not provided, the viewport will be positioned at the beginning of "
        "the document or centered on the most relevant passage, if available.\nUse this function without `id` to "
        "scroll to a new location of an opened page.",
        {
            "type": "object",
            "properties": {
                "id": {"type": ["number", "string"], "default": -1},
                "cursor": {"type": "number", "default": -1},
                "loc": {"type": "number", "default": -1},
                "num_lines": {"type": "number", "default": -1},
                "view_source": {"type": "boolean", "default": False},
                "source": {"type": "string"},
            },
        },
    ),
    FunctionTool(
        "find",
        "Finds exact matches of `pattern` in the current page, or the page given by `cursor`.",
        {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "cursor": {"type": "number", "default": -1}},
            "required": ["pattern"],
        },
    ),
)


@dataclass(frozen=True, slots=True)
class ToolNamespace:
    """A ``## name`` section of a ``# Tools`` section: a namespace of functions, or (no tools) a tool described
    in prose, as the reference's Python tool is."""

    name: str
    description: str | None = None
    tools: tuple[FunctionTool, ...] = ()


def python_description(time_limit_s: float = PYTHON_TIME_LIMIT_S) -> str:
    """Moss's description of its Python tool, in the reference's words wherever they are true of Moss.

    Moss runs the code in a separate Python process on the person's computer (state kept between calls), in a
    folder of the chat's own, stopped after a time limit, without network access where the system can block it;
    the person may be asked to approve a run and may see the code, so the reference's "will not be shown to the
    user" and its Jupyter notebook, ``/mnt/data`` drive and unknown internet access are left out.
    """
    return (
        "Use this tool to execute Python code in your chain of thought. The code and its output are not part of "
        "your answer: use this tool for internal reasoning (calculations, checking, reading and writing files), and "
        "state what you found in your answer.\n\n"
        "When you send a message containing Python code to python, it will be executed in a stateful Python "
        "process on the user's computer, separate from this chat (variables and imports persist between calls). "
        f"python will respond with the output of the execution or time out after {time_limit_s:.1f} seconds. The "
        "working directory is a folder kept for this conversation: files saved there persist between calls. "
        "Internet access may be blocked: do not rely on it."
    )


def builtin_namespace(tool: BuiltinTool, *, reference: bool = False) -> ToolNamespace:
    """The system message's section for a built-in tool; ``reference`` gives OpenAI's Python text (for its
    test data) instead of Moss's."""
    if tool is BuiltinTool.BROWSER:
        return ToolNamespace("browser", _BROWSER_DESCRIPTION, _BROWSER_TOOLS)
    return ToolNamespace("python", REFERENCE_PYTHON_DESCRIPTION if reference else python_description())


def functions_namespace(functions: Sequence[FunctionTool]) -> ToolNamespace:
    """The developer message's ``## functions`` section (the reference's ``with_function_tools``)."""
    return ToolNamespace(FUNCTIONS_NAMESPACE, None, tuple(functions))


def tools_section(namespaces: Iterable[ToolNamespace]) -> str:
    """``# Tools`` and one section per namespace, in name order (the reference keeps them in a sorted map, a
    later namespace of the same name replacing an earlier one)."""
    by_name = {ns.name: ns for ns in namespaces}
    sections = ["# Tools"]
    for name in sorted(by_name):
        ns = by_name[name]
        lines = [f"## {ns.name}\n"]
        for line in rust_lines(ns.description or ""):
            lines.append(f"// {line}" if ns.tools else line)
        if ns.tools:
            lines.append(f"namespace {ns.name} {{\n")
            for tool in ns.tools:
                lines += [f"// {line}" for line in rust_lines(tool.description)]
                if tool.parameters is not None:
                    lines.append(f"type {tool.name} = (_: {schema_to_typescript(tool.parameters, '')}) => any;\n")
                else:
                    lines.append(f"type {tool.name} = () => any;\n")
            lines.append(f"}} // namespace {ns.name}")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def rust_lines(text: str) -> list[str]:
    """``text`` split as Rust's ``str::lines`` splits it: at ``\\n`` (dropping a ``\\r`` before it), with no empty
    line after a final newline. Python's ``splitlines`` also splits at other characters (form feed, U+2028…)."""
    lines = text.split("\n")
    last = lines.pop()  # the text after the last newline: a line of its own unless empty, its \r kept
    return [line.removesuffix("\r") for line in lines] + ([last] if last else [])


# --- JSON Schema to TypeScript (encoding.rs json_schema_to_typescript) --------------------------------------------


def _get(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is a JSON object holding it, else None (serde_json's ``Value::get``)."""
    return value.get(key) if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_enum(schema: Any) -> bool:
    values = _get(schema, "enum")
    return isinstance(values, list) and bool(values)


def _nullable(schema: Any, type_text: str) -> str:
    """``T | null`` for a schema marked ``nullable`` whose type does not already say null."""
    if _get(schema, "nullable") is True and "null" not in type_text:
        return f"{type_text} | null"
    return type_text


def _default_comment(schema: Any, *, enum_strings_bare: bool) -> str | None:
    """``default: …`` for a schema with a default: a string in quotes, unquoted for an enum where the reference
    writes it bare (``enum_strings_bare``), as JSON where it writes the JSON value; other values as JSON."""
    if not isinstance(schema, dict) or "default" not in schema:
        return None
    default = schema["default"]
    if isinstance(default, str) and not _is_enum(schema):
        return f'default: "{default}"'
    if isinstance(default, str) and enum_strings_bare:
        return f"default: {default}"
    return f"default: {json_text(default)}"


def schema_to_typescript(schema: Any, indent: str) -> str:
    """The TypeScript-like type of a JSON Schema, as the reference writes it (``indent`` prefixes nested lines)."""
    one_of = _get(schema, "oneOf")
    if isinstance(one_of, list):
        out = ""
        for variant in one_of:
            out += f"\n{indent} | "
            out += _nullable(variant, schema_to_typescript(variant, f"{indent}   "))
            comments = []
            if (description := _text(_get(variant, "description"))) is not None:
                comments.append(description)
            if (default := _default_comment(variant, enum_strings_bare=False)) is not None:
                comments.append(default)
            if comments:
                out += f" // {' '.join(comments)}"
        return out
    types = _get(schema, "type")
    if isinstance(types, list):
        names = ["number" if t == "integer" else t for t in types if isinstance(t, str)]
        if names:
            return " | ".join(names)
    if not isinstance(types, str):
        return "any"
    if types == "object":
        return _object_type(schema, indent)
    if types == "string":
        values = _get(schema, "enum")
        if isinstance(values, list):
            quoted = [f'"{v}"' for v in values if isinstance(v, str)]
            if quoted:
                return " | ".join(quoted)
        return "string"
    if types in ("number", "integer"):
        return "number"
    if types == "boolean":
        return "boolean"
    if types == "array":
        return f"{schema_to_typescript(schema['items'], indent)}[]" if "items" in schema else "Array<any>"
    return "any"


def _object_type(schema: dict[str, Any], indent: str) -> str:
    out = ""
    if (description := _text(schema.get("description"))) is not None:
        out += f"{indent}// {description}\n"
    out += "{\n"
    properties = schema.get("properties")
    if isinstance(properties, dict):
        required_list = schema.get("required")
        required = {r for r in required_list if isinstance(r, str)} if isinstance(required_list, list) else set()
        for key, value in properties.items():
            out += _property(key, value, "" if key in required else "?", indent)
    return out + f"{indent}}}"


def _property(key: str, value: Any, optional: str, indent: str) -> str:
    out = ""
    if (title := _text(_get(value, "title"))) is not None:
        out += f"{indent}// {title}\n{indent}//\n"
    one_of = _get(value, "oneOf")
    if one_of is None and (description := _text(_get(value, "description"))) is not None:
        out += f"{indent}// {description}\n"
    examples = _get(value, "examples")
    if isinstance(examples, list) and examples:
        out += f"{indent}// Examples:\n"
        out += "".join(f'{indent}// - "{example}"\n' for example in examples if isinstance(example, str))
    if isinstance(one_of, list):
        return out + _one_of_property(key, value, one_of, optional, indent)
    out += f"{indent}{key}{optional}: "
    out += _nullable(value, schema_to_typescript(value, f"{indent}    ")) + ","
    if one_of is None and (default := _default_comment(value, enum_strings_bare=True)) is not None:
        out += f" // {default}"
    return out + "\n"


def _one_of_property(key: str, value: dict[str, Any], variants: list[Any], optional: str, indent: str) -> str:
    """A property whose schema is a ``oneOf``: comments above it, then one ``| type`` line per variant."""
    out = ""
    property_description = _text(value.get("description"))
    first_description = _text(_get(variants[0], "description")) if variants else None
    described_above = property_description is not None and property_description != first_description
    if described_above:
        out += f"{indent}// {property_description}\n"
    if (default := _default_comment(value, enum_strings_bare=True)) is not None:
        out += f"{indent}// {default}\n"
    out += f"{indent}{key}{optional}:\n"
    for i, variant in enumerate(variants):
        out += f"{indent} | " + _nullable(variant, schema_to_typescript(variant, f"{indent}   "))
        comments = []
        description = _text(_get(variant, "description"))
        if not (i == 0 and described_above) and description is not None and description != property_description:
            comments.append(description)
        if (variant_default := _default_comment(variant, enum_strings_bare=True)) is not None:
            comments.append(variant_default)
        if comments:
            out += f" // {' '.join(comments)}"
        out += "\n"
    return out + f"{indent},\n"


# --- JSON values as serde_json prints them ------------------------------------------------------------------------

_I64_MIN, _U64_MAX = -(2**63), 2**64 - 1


def json_text(value: Any) -> str:
    """``value`` as compact JSON, exactly as Rust's ``serde_json`` displays it: no spaces, non-ASCII text as
    itself, integers beyond 64 bits and all floats as ``f64`` in the shortest form (``1.0``, ``1e20``,
    ``1.5e-7``, ``0.00001``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value) if _I64_MIN <= value <= _U64_MAX else _float_text(float(value))
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, str):
        return _string_text(value)
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string_text(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    return _string_text(str(value))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string_text(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text) + '"'


def _float_text(number: float) -> str:
    """A finite float as the ``ryu`` crate formats it for serde_json (shortest digits; plain notation while the
    decimal point falls within 16 places, else ``1.234e33``); a non-finite one (no JSON) as ``null``."""
    if not math.isfinite(number):
        return "null"
    sign = "-" if math.copysign(1.0, number) < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0") or "0"
    # The position of the decimal point relative to the start of `digits` (ryu's kk).
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len((whole + fraction).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    if digits == "0":
        return sign + "0.0"
    length = len(digits)
    if length <= point <= 16:
        return sign + digits + "0" * (point - length) + ".0"
    if 0 < point <= 16:
        return sign + digits[:point] + "." + digits[point:]
    if -5 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exp = point - 1
    return sign + (digits if length == 1 else digits[0] + "." + digits[1:]) + f"e{exp}"
