"""A program configured as an MCP server that complains on its standard error and exits before the handshake."""

import sys

print("starting the toolbox", file=sys.stderr)
print("fatal: cannot open /nowhere/database.sqlite", file=sys.stderr)
sys.exit(1)
