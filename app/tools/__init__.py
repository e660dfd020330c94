"""Tools gpt-oss can call (no Qt): the sandboxed Python, MCP servers, and the loop that runs them."""
