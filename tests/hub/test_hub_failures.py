"""Every request to the Hub fails quickly and in words: no name resolution, a refused connection, a stalled
server (the time limit), HTTP 429 and 503; and a model's fit is said in words."""

from __future__ import annotations

import socket

import pytest

from app.engine.hardware import simulated_machine
from app.hub.catalog import CATALOG
from app.hub.hub_client import HubClient, HubError, HubOfflineError, HubTimeoutError
from app.hub.model_details import Fit
from app.hub.recommend import builtin_fit
from app.hub.remote_header import read_remote_gguf_header
from tests.hub.slow_hub import slow_hub

REPO = "ggml-org/gpt-oss-20b-GGUF"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unresolvable_host_is_said_in_words_for_search_and_listing() -> None:
    client = HubClient(endpoint="https://hub.moss-test.invalid")
    for call, errand in ((lambda: client.search("qwen"), "search for 'qwen'"), (lambda: client.listing(REPO), REPO)):
        with pytest.raises(HubOfflineError) as caught:
            call()
        text = str(caught.value)
        assert errand in text and "seems to be offline" in text, text
        assert "(the name hub.moss-test.invalid could not be resolved)" in text
        assert "Errno" not in text and "Check the connection" in text


def test_a_refused_connection_is_said_in_words() -> None:
    port = _closed_port()
    with pytest.raises(HubOfflineError) as caught:
        HubClient(endpoint=f"http://127.0.0.1:{port}").search("qwen")
    assert f"nothing answered at 127.0.0.1:{port} (the connection was refused)" in str(caught.value)
    assert "Errno" not in str(caught.value)


def test_a_stalled_hub_gives_up_after_the_time_limit() -> None:
    """huggingface_hub's client has no timeout and its listings retry for about 25 s: the search would wait
    for ever on a server that accepts and never answers."""
    with slow_hub() as endpoint:
        client = HubClient(endpoint=endpoint, timeout_s=1)
        with pytest.raises(HubTimeoutError, match=r"to search for 'qwen': no answer within 1 second\. Check"):
            client.search("qwen")
        with pytest.raises(HubTimeoutError, match=r"list the files of .*: no answer within 1 second"):
            client.listing(REPO)


@pytest.mark.parametrize(
    ("status", "words"),
    [(429, "is limiting how often this computer may ask (HTTP 429)"), (503, "is having trouble (HTTP 503)")],
)
def test_busy_answers_are_said_in_words(status: int, words: str) -> None:
    with slow_hub(status) as endpoint, pytest.raises(HubError) as caught:
        HubClient(endpoint=endpoint, timeout_s=5).listing(REPO)
    assert words in str(caught.value)


def test_a_remote_header_that_cannot_be_reached_is_said_in_words() -> None:
    port = _closed_port()
    with pytest.raises(HubOfflineError) as caught:
        read_remote_gguf_header(f"http://127.0.0.1:{port}/x/resolve/main/model.gguf")
    text = str(caught.value)
    assert "to read the model's header: nothing answered" in text and "Errno" not in text


def test_fits_here_always_says_something() -> None:
    small, big = (next(e for e in CATALOG if e.family == f) for f in ("gpt-oss-20b", "gpt-oss-120b"))
    roomy = simulated_machine(24 * 2**30, 64 * 2**30)
    fit = builtin_fit(small, roomy)
    assert fit is not None and fit.label == "yes"
    tight = builtin_fit(small, simulated_machine(None, 16 * 2**30))
    assert tight is not None and tight.label in ("yes", "with a shorter context")
    too_small = builtin_fit(big, simulated_machine(None, 16 * 2**30))
    assert too_small is not None and too_small.label.startswith("no: needs ") and too_small.label.endswith(" GB")
    # A verdict cached by an earlier Moss (no sizes) still reads as yes or no.
    assert Fit.from_json({"fits": False, "summary": "too big"}).label == "no: too big"
    assert Fit.from_json({"fits": True, "summary": ""}).label == "yes"
    assert Fit(True, "no figures", known=False).label.startswith("unknown: ")
