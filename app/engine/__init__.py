"""The inference engine: GGUF files, chat formats and llama.cpp, without Qt.

Everything above this layer sees an engine through the Engine protocol (protocol.py); llama_engine.py is the one
on llama.cpp.

Importing this package is cheap; llama_cpp itself is imported only when a model is loaded (or the backend is
probed), so that the GUI opens fast and headless commands that need no model never pay for it.
"""
