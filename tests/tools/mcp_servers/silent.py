"""A program configured as an MCP server that never answers the handshake."""

import time

time.sleep(3600)
