"""A one-command check of Moss's offload planner and engine on a real CUDA GPU (issue 21).

Two steps (``python -m tools.gpu_check --help``):

- ``prepare DIR``, on any machine with network access: a kit of everything a GPU machine without network needs,
  under 60 MiB: llama-cpp-python's source trimmed to a CUDA build, the wheels Moss's engine needs there, and a
  copy of the code that measures (app/core, app/engine, two developer tools, this package; no Qt).
- ``run --out DIR``, on the GPU machine: builds llama.cpp with CUDA for the GPU present, writes full-size
  replicas of gpt-oss-20b and 120b (real shapes and types, sparse), loads them as the planner says for a
  16 GiB GPU and for the whole GPU, and writes one JSON and one Markdown table: the plan's memory next to what
  CUDA and llama.cpp report, and Moss's engine against bare llama-cpp-python on the same loaded model.

``run --cpu-dry-run --model TINY.gguf`` runs the same code on the CPU build, on a tiny model, so that the test
suite keeps the kit working between GPU sessions (tests/engine/test_gpu_check.py). bench/README.md says how to
run it through a GPU machine and holds the figures.
"""
