"""Pure-Python domain types shared by every layer. No Qt, no llama.cpp, no I/O."""
