from __future__ import annotations

import dataclasses
import json

import pytest

from app.core.conversation import NEW_CONVERSATION_TITLE, auto_title, title_from_text
from app.core.settings import BUILTIN_PRESETS, Settings, generation_params, load_options
from app.core.types import GenerationParams, LoadOptions, LoadParams, Message, ReasoningEffort


def test_title_is_first_line_cut_at_a_word() -> None:
    assert title_from_text("  What is   the capital\nof France? ") == "What is the capital of France?"
    long = "Explain the difference between a mixture of experts model and a dense transformer in detail"
    title = title_from_text(long)
    assert title.endswith("…") and len(title) <= 49 and long.startswith(title[:-1])
    assert title_from_text("   ") == NEW_CONVERSATION_TITLE


def test_auto_title_uses_the_question_unless_it_says_too_little() -> None:
    assert auto_title("Hi! Please explain **mixture of experts** routing") == "Explain mixture of experts routing"
    assert auto_title("hello", "Hello! How can I help you today?") == "Hello"  # nothing better to say
    assert auto_title("thanks", "Glad it worked for your garden. Anything else?") == "Glad it worked for your garden"
    assert auto_title("```python\nprint(1)\n```", "This prints the number one. It is short.") == (
        "This prints the number one"
    )
    assert auto_title("What is [RoPE](https://example.com)?") == "What is RoPE?"
    assert auto_title("hi") == "Hi"
    assert auto_title("   ") == NEW_CONVERSATION_TITLE


def test_message_from_json_rejects_bad_items() -> None:
    assert Message.from_json({"role": "assistant", "content": "x", "reasoning": "r"}).reasoning == "r"
    for bad in (
        {"role": "robot", "content": "x"},
        {"role": "user"},
        ["user", "x"],
        {"role": "user", "content": 3},
    ):
        with pytest.raises(ValueError):
            Message.from_json(bad)


def test_settings_from_dict_keeps_good_values_and_drops_bad_ones() -> None:
    raw = {
        "context_length": "big",  # wrong type: default kept
        "max_tokens": 512,
        "recent_models": ["/a.gguf", "/b.gguf"],
        "theme": "dark",
        "unknown_key": 1,
    }
    settings = Settings.from_dict(raw)
    assert settings.context_length == Settings().context_length
    assert settings.max_tokens == 512
    assert settings.recent_models == ("/a.gguf", "/b.gguf")
    assert settings.theme == "dark"
    assert Settings.from_dict(settings.to_dict()) == settings


def test_recent_models_move_to_front_without_duplicates() -> None:
    settings = Settings(recent_models=("/a", "/b", "/c"))
    updated = settings.with_recent_model("/c")
    assert updated.recent_models == ("/c", "/a", "/b")
    assert updated.last_model_path == "/c"


# -- settings ---------------------------------------------------------------------------------------------

# settings.json as the previous version wrote it (before threads, batch, sampling, presets and appearance).
PREVIOUS_VERSION_FILE = """{
  "context_length": 16384, "cpu_moe": 4, "flash_attn": true, "gpu_layers": 20, "kv_type": "q8_0",
  "last_model_path": "/m/gpt-oss-20b.gguf", "manual_load": true, "max_tokens": 8192, "models_dir": "/m",
  "reasoning_display": "shown", "reasoning_effort": "high", "recent_models": ["/m/gpt-oss-20b.gguf"],
  "system_prompt": "Be brief.", "theme": "dark"
}"""


def test_a_settings_file_from_the_previous_version_still_loads() -> None:
    settings = Settings.from_dict(json.loads(PREVIOUS_VERSION_FILE))
    assert (settings.context_length, settings.cpu_moe, settings.kv_type, settings.manual_load) == (
        16384,
        4,
        "q8_0",
        True,
    )
    assert settings.recent_models == ("/m/gpt-oss-20b.gguf",) and settings.theme == "dark"
    assert settings.system_prompt == "Be brief." and settings.reasoning_effort == "high"
    # What the previous version did not have takes its default.
    assert (settings.n_threads, settings.n_batch, settings.sampling_custom) == (0, 0, False)
    assert (settings.font_size, settings.compact, settings.system_prompt_presets) == (0, False, ())
    assert settings.temperature == GenerationParams().temperature and settings.window_geometry == ""


def test_new_settings_survive_a_round_trip_through_json() -> None:
    settings = Settings(
        n_threads=6,
        n_batch=256,
        sampling_custom=True,
        temperature=0.3,
        top_k=20,
        system_prompt_presets=(("Translator", "Translate into French."), ("Poet", "Answer in verse.")),
        font_size=14,
        compact=True,
        window_geometry="AdnQywADAAA=",
    )
    assert Settings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_hand_edited_settings_keep_what_makes_sense() -> None:
    raw = {
        "temperature": 1,  # an int where a float is due: fine
        "top_p": "high",  # wrong type
        "min_p": float("nan"),  # not a number
        "theme": "purple",  # not a choice
        "font_size": 42,  # out of range
        "reasoning_display": "hidden",
        "kv_type": "q4_0",
        "compact": 1,  # an int is not a bool
        "system_prompt_presets": [["Short", "Be short."], ["broken"]],  # one bad item: the list is not trusted
        "n_threads": 4.0,
    }
    settings = Settings.from_dict(raw)
    assert settings.temperature == 1.0 and isinstance(settings.temperature, float)
    defaults = Settings()
    assert (settings.top_p, settings.min_p, settings.theme) == (defaults.top_p, defaults.min_p, "system")
    assert (settings.font_size, settings.kv_type, settings.compact) == (0, "f16", False)
    assert settings.system_prompt_presets == () and settings.n_threads == 0
    assert settings.reasoning_display == "hidden"
    good = Settings.from_dict({"system_prompt_presets": [["Short", "Be short."]], "font_size": 12})
    assert good.system_prompt_presets == (("Short", "Be short."),) and good.font_size == 12


def test_generation_params_use_the_models_sampling_unless_the_person_chose_their_own() -> None:
    recommended = GenerationParams(max_tokens=2048, temperature=1.0, top_p=1.0, top_k=0, min_p=0.0)
    mine = Settings(max_tokens=777, temperature=0.2, top_p=0.5, top_k=7, min_p=0.1, repeat_penalty=1.2)
    params = generation_params(mine, recommended, ReasoningEffort.HIGH)
    assert (params.temperature, params.top_p, params.top_k, params.min_p) == (1.0, 1.0, 0, 0.0)
    assert params.max_tokens == 777 and params.reasoning_effort is ReasoningEffort.HIGH
    custom = generation_params(dataclasses.replace(mine, sampling_custom=True), recommended, ReasoningEffort.LOW)
    assert (custom.temperature, custom.top_p, custom.top_k, custom.min_p, custom.repeat_penalty) == (
        0.2,
        0.5,
        7,
        0.1,
        1.2,
    )
    assert custom.max_tokens == 777 and custom.reasoning_effort is ReasoningEffort.LOW


def test_load_options_are_the_planners_unless_the_person_chose_their_own() -> None:
    assert load_options(Settings()) == LoadOptions()
    automatic = load_options(Settings(context_length=4096, n_threads=3, n_batch=256, gpu_layers=5))
    assert automatic == LoadOptions(wanted_ctx=4096, n_threads=3, n_batch=256)  # manual values unused
    manual = Settings(manual_load=True, gpu_layers=12, cpu_moe=2, kv_type="q8_0", flash_attn=False, n_threads=2)
    assert load_options(manual) == LoadOptions(
        LoadParams(n_ctx=LoadParams().n_ctx, n_gpu_layers=12, n_cpu_moe=2, type_k="q8_0", type_v="q8_0"),
        n_threads=2,
    )  # a q8_0 cache needs flash attention, whatever the box says
    chosen = load_options(dataclasses.replace(manual, context_length=1024, kv_type="f16"))
    assert chosen.params is not None and (chosen.params.n_ctx, chosen.params.flash_attn) == (1024, False)


def test_defaults_again_keep_only_where_things_are_on_this_computer() -> None:
    mine = Settings(
        recent_models=("/m.gguf",), last_model_path="/m.gguf", models_dir="/models", window_geometry="g",
        window_state="s", theme="dark", temperature=0.1, system_prompt="Be terse.", manual_load=True,
    )  # fmt: skip
    assert mine.with_defaults() == Settings(models_dir="/models", window_geometry="g", window_state="s")


def test_the_default_effort_is_the_settings_one_and_an_unknown_one_is_medium() -> None:
    assert Settings(reasoning_effort="high").effort is ReasoningEffort.HIGH
    assert Settings().effort is ReasoningEffort.MEDIUM
    assert Settings(reasoning_effort="extreme").effort is ReasoningEffort.MEDIUM  # set in code, never checked


def test_builtin_presets_are_named_and_useful() -> None:
    names = [name for name, _ in BUILTIN_PRESETS]
    assert len(names) == 3 and len(set(names)) == 3
    assert all(len(text) > 80 for _, text in BUILTIN_PRESETS)
