"""The command line, run as a real process: `moss chat`, `moss prompt`, `--version`, `--self-test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.core.settings import Settings
from app.engine.formats.harmony_render import HARMONY_MARKERS
from app.platform.paths import AppPaths
from app.platform.settings_store import save_settings
from tests.helpers import bad_models

ROOT = Path(__file__).resolve().parents[2]


def moss(*args: str | Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(data_dir), *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def conversation_file(folder: Path, *turns: dict[str, str]) -> Path:
    """A ``--conversation`` file in ``folder`` holding ``turns``."""
    path = folder / "chat.json"
    path.write_text(json.dumps(list(turns)), encoding="utf-8")
    return path


def test_version(tmp_path: Path) -> None:
    result = moss("--version", data_dir=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"Moss {__version__}"


def test_chat_json_reply(tmp_path: Path, smollm2: Path) -> None:
    result = moss(
        "chat", "--model", smollm2, "--json", "--max-tokens", "24", "--temperature", "0",
        "--system", "You are a helpful assistant.", "What is the capital of France?", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # llama.cpp's log goes to the log file, not the terminal
    reply = json.loads(result.stdout)
    assert set(reply) == {
        "content", "reasoning", "finish_reason", "prompt_tokens", "prompt_tokens_evaluated",
        "completion_tokens", "tokens_per_second", "time_to_first_token_s", "params", "load_params",
    }  # fmt: skip
    assert "Paris" in reply["content"]
    assert reply["reasoning"] is None
    assert reply["finish_reason"] in ("stop", "length")
    assert reply["prompt_tokens"] == reply["prompt_tokens_evaluated"] > 10
    assert 0 < reply["completion_tokens"] <= 24
    assert "llama_model_loader" in (tmp_path / "logs" / "moss.log").read_text(encoding="utf-8")


def test_chat_streams_text_with_a_conversation_file(tmp_path: Path, smollm2: Path) -> None:
    conversation = conversation_file(
        tmp_path,
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    )
    result = moss(
        "chat", "--model", smollm2, "--conversation", conversation, "--system", "Answer in one sentence.",
        "--max-tokens", "16", "--seed", "2", "And what is the capital of Italy?", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "{" not in result.stdout[:1]  # plain text, not JSON


def test_prompt_prints_exactly_the_rendered_template(tmp_path: Path, smollm2: Path) -> None:
    conversation = conversation_file(
        tmp_path,
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!", "reasoning": "greet back"},
        {"role": "user", "content": "Bye"},
    )
    result = moss("prompt", "--model", smollm2, "--conversation", conversation, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("kind", ["missing", "not-gguf", "truncated", "vocab-only", "unknown-architecture"])
def test_bad_model_exits_2_with_one_clear_line(tmp_path: Path, smollm2: Path, kind: str) -> None:
    path = {
        "missing": lambda: tmp_path / "nowhere.gguf",
        "not-gguf": lambda: bad_models.write_not_gguf(tmp_path),
        "truncated": lambda: bad_models.write_truncated(smollm2, tmp_path),
        "vocab-only": lambda: bad_models.write_vocab_only(tmp_path),
        "unknown-architecture": lambda: bad_models.write_unknown_architecture(tmp_path),
    }[kind]()
    result = moss("chat", "--model", path, "Hello", data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert path.name in lines[0] and lines[0].startswith("moss: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"role": "user"}', "must hold a JSON list"),
        ('[{"role": "wizard", "content": "x"}]', "unknown role"),
    ],
)
def test_bad_conversation_file_exits_2(tmp_path: Path, smollm2: Path, content: str, message: str) -> None:
    conversation = tmp_path / "chat.json"
    conversation.write_text(content, encoding="utf-8")
    result = moss("prompt", "--model", smollm2, "--conversation", conversation, data_dir=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "chat.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_self_test_passes(tmp_path: Path) -> None:
    result = moss("--self-test", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    checks = {line.split(":")[0].split(maxsplit=1)[1]: line.split()[0] for line in lines[:-1]}
    assert checks == {
        "folders": "ok", "settings": "ok", "secret store": "warn", "llama.cpp backend": "ok",
        "starter model": "ok", "python tool": "ok", "window system": "ok", "main window": "ok",
    }  # fmt: skip
    assert "CPU" in result.stdout
    assert lines[-1] == "self-test passed"


def test_self_test_fails_on_an_unwritable_data_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    result = moss("--self-test", data_dir=blocker / "data")
    assert result.returncode == 2
    assert (
        result.stderr == f"moss: Cannot create the folder {blocker / 'data' / 'config'}: {blocker} is not a folder. "
        "Choose another data folder.\n"
    )


def test_prompt_renders_harmony_for_gpt_oss(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    conversation = conversation_file(
        tmp_path,
        {"role": "system", "content": "Answer concisely."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "2 + 2 = 4.", "reasoning": "Simple arithmetic."},
        {"role": "user", "content": "And 9 / 2?"},
    )
    result = moss(
        "prompt", "--model", tiny_gpt_oss, "--conversation", conversation, "--reasoning", "low",
        "--date", "2025-08-05", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The second turn of the worked example in OpenAI's harmony documentation, byte for byte.
    assert result.stdout == (
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: low\n\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
        "<|start|>developer<|message|># Instructions\n\nAnswer concisely.<|end|>"
        "<|start|>user<|message|>What is 2 + 2?<|end|>"
        "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|end|>"
        "<|start|>user<|message|>And 9 / 2?<|end|><|start|>assistant"
    )


def test_chat_json_on_gpt_oss_keeps_markers_out(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    result = moss(
        "chat", "--model", tiny_gpt_oss, "--json", "--reasoning", "high", "--max-tokens", "64", "--seed", "5",
        "Hello", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["reasoning"] is None or isinstance(reply["reasoning"], str)
    for text in (reply["content"], reply["reasoning"] or ""):
        assert not any(marker in text for marker in HARMONY_MARKERS)


def test_chat_uses_the_apps_system_prompt_unless_told_otherwise(tmp_path: Path, smollm2: Path) -> None:
    """Without --system, `moss chat` answers as the app does: with the default system prompt from settings, and
    the app's defaults for the rest (a reply of up to 4,096 tokens, medium effort)."""
    result = moss(
        "chat", "--model", smollm2, "--json", "--temperature", "0", "What is the capital of France?",
        data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert "Paris" in reply["content"]
    assert reply["params"]["max_tokens"] == Settings().max_tokens == 4096
    assert reply["params"]["reasoning_effort"] == "medium"


def test_chat_options_override_the_apps_settings_and_the_rest_still_apply(tmp_path: Path, tiny_gpt_oss: Path) -> None:
    mine = Settings(
        manual_load=True, context_length=1024, kv_type="q8_0", n_threads=2, n_batch=64, sampling_custom=True,
        temperature=0.3, top_k=20, max_tokens=300, reasoning_effort="high",
    )  # fmt: skip
    save_settings(AppPaths.resolve(tmp_path).settings_file, mine)
    result = moss(
        "chat", "--model", tiny_gpt_oss, "--json", "--max-tokens", "8", "--temperature", "0", "--seed", "3",
        "--reasoning", "low", "--context", "512", "Hello", data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    params, loaded = reply["params"], reply["load_params"]
    assert (params["max_tokens"], params["temperature"], params["seed"], params["reasoning_effort"]) == (
        8, 0.0, 3, "low",
    )  # fmt: skip
    assert params["top_k"] == 20 and params["min_p"] == mine.min_p  # the settings' own sampling otherwise
    assert (loaded["n_ctx"], loaded["type_k"], loaded["n_threads"], loaded["n_batch"]) == (512, "q8_0", 2, 64)
    assert reply["completion_tokens"] <= 8
