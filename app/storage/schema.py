"""The history's schema, as ordered migrations: ``MIGRATIONS[n]`` takes a database from version n to n+1.

Never edit a migration that has shipped; add a new one. tests/storage/test_migrations.py builds a database at
every earlier version, fills it, and checks that opening it with this Moss keeps every conversation.
"""

from __future__ import annotations

# The tokenizer: Porter stemming over Unicode words with accents folded, so "running" finds "run" and
# "cafe" finds "café".
_TOKENIZE = "porter unicode61 remove_diacritics 2"

V1 = f"""
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    title_by_user INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    reasoning_effort TEXT NOT NULL DEFAULT 'medium',
    system_prompt TEXT NOT NULL DEFAULT '',
    sampling TEXT NOT NULL DEFAULT '{{}}',
    pinned INTEGER NOT NULL DEFAULT 0,
    current_leaf_id INTEGER,
    deleted_at REAL,
    source TEXT NOT NULL DEFAULT 'moss'
);
CREATE INDEX conversations_recent ON conversations (pinned DESC, updated_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages (id),
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content TEXT NOT NULL DEFAULT '',
    reasoning TEXT,
    model TEXT NOT NULL DEFAULT '',
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    tokens_per_second REAL,
    ttft_s REAL,
    finish_reason TEXT,
    status TEXT NOT NULL DEFAULT 'complete',
    created_at REAL NOT NULL,
    -- When this message was last on the active path; moving to a sibling walks down the newest of these.
    selected_at REAL NOT NULL
);
CREATE INDEX messages_children ON messages (conversation_id, parent_id, created_at);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content, reasoning, content = 'messages', content_rowid = 'id', tokenize = '{_TOKENIZE}'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content, reasoning) VALUES (new.id, new.content, new.reasoning);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
    VALUES ('delete', old.id, old.content, old.reasoning);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, reasoning ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
    VALUES ('delete', old.id, old.content, old.reasoning);
    INSERT INTO messages_fts (rowid, content, reasoning) VALUES (new.id, new.content, new.reasoning);
END;

CREATE VIRTUAL TABLE titles_fts USING fts5 (
    title, content = 'conversations', content_rowid = 'id', tokenize = '{_TOKENIZE}'
);
CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
END;
"""

# What the line under a reply shows beside its speed and ending: the messages left out to fit the context and
# the tools it tried to call (a JSON list of text), so that a reopened chat shows what the live one did.
V2 = """
ALTER TABLE messages ADD COLUMN dropped_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]';
"""

# The process writing a streaming reply ("<pid>:<start time>", app.storage.writers): a reader tells a reply
# being written from one whose writer was killed, which reads as interrupted.
V3 = """
ALTER TABLE messages ADD COLUMN writer TEXT;
"""


def _tool_text(steps: str) -> str:
    """SQL for the searchable text of a JSON list of tool steps (app.core.tool_steps.ToolStep.to_json): each
    step's tool, arguments and result, one step a line; NULL when there is no step. A value that is not a JSON
    list (damaged, hand-edited) gives NULL rather than an error, so no write of such a row can fail."""
    valid = f"CASE WHEN json_valid({steps}) THEN CASE json_type({steps}) WHEN 'array' THEN {steps} END END"
    fields = " || ' ' || ".join(
        f"ifnull(json_extract(j.value, '$.{path}'), '')" for path in ("call.recipient", "call.arguments", "result")
    )
    return f"(SELECT group_concat({fields}, char(10)) FROM json_each({valid}) AS j WHERE j.type = 'object')"


# A tool chain is one assistant turn: its steps (call, decision, result, time, the preamble and reasoning
# before each call) are stored with the reply as a JSON list, appended as each step ends. ``tool_calls``
# (V2) stays: the display list older replies hold.
#
# Search: a tool's name, arguments and result are found through an FTS5 table of their own, over a view that
# derives the text from ``tool_steps`` (one source of truth, nothing to keep in step by hand). A table of its
# own rather than a third column of messages_fts: no existing row has steps, so this migration indexes
# nothing, where rebuilding messages_fts would re-read every message of a large history at the upgrade. The
# triggers index only rows that have steps, and compute the text they remove exactly as they computed the
# text they added (an external-content index must be told the old values): change both together or neither.
V4 = f"""
ALTER TABLE messages ADD COLUMN tool_steps TEXT NOT NULL DEFAULT '[]';
CREATE VIEW message_tools (id, tools) AS SELECT id, {_tool_text("tool_steps")} FROM messages;
CREATE VIRTUAL TABLE tools_fts USING fts5 (
    tools, content = 'message_tools', content_rowid = 'id', tokenize = '{_TOKENIZE}'
);
CREATE TRIGGER tools_fts_insert AFTER INSERT ON messages WHEN new.tool_steps != '[]' BEGIN
    INSERT INTO tools_fts (rowid, tools)
    SELECT new.id, text FROM (SELECT {_tool_text("new.tool_steps")} AS text) WHERE text IS NOT NULL;
END;
CREATE TRIGGER tools_fts_delete AFTER DELETE ON messages WHEN old.tool_steps != '[]' BEGIN
    INSERT INTO tools_fts (tools_fts, rowid, tools)
    SELECT 'delete', old.id, text FROM (SELECT {_tool_text("old.tool_steps")} AS text) WHERE text IS NOT NULL;
END;
CREATE TRIGGER tools_fts_update AFTER UPDATE OF tool_steps ON messages BEGIN
    INSERT INTO tools_fts (tools_fts, rowid, tools)
    SELECT 'delete', old.id, text FROM (SELECT {_tool_text("old.tool_steps")} AS text) WHERE text IS NOT NULL;
    INSERT INTO tools_fts (rowid, tools)
    SELECT new.id, text FROM (SELECT {_tool_text("new.tool_steps")} AS text) WHERE text IS NOT NULL;
END;
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4)
SCHEMA_VERSION = len(MIGRATIONS)
