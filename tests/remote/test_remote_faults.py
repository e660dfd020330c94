"""Every way a server can fail gives one line saying what to do; a broken stream keeps what arrived; the app never
waits on a dead server. Faults come from a proxy in front of a real llama_cpp.server (drop, stall) or from the
fault server's canned answers (statuses, garbage), and from the network itself (refused, DNS, TLS)."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import pytest
import trustme

from app.core.servers import RemoteServer, ServerError
from app.core.types import Delta, FinishReason, GenerationParams, Message, Role
from app.engine.remote_client import Timeouts
from app.engine.remote_errors import retry_after
from tests.remote.conftest import SMOL_KEY, STALL_TIMEOUTS, LlamaServer, OpenRemote, free_port
from tests.remote.fault_server import Handler, Request, chunk, fault_server, proxy, status, stream

HELLO = [Message(Role.USER, "Tell me a long story about a fox.")]
LONG = GenerationParams(max_tokens=200)


def box(base_url: str, **extra: str) -> RemoteServer:
    return RemoteServer("box", base_url, **extra)  # type: ignore[arg-type]


def one_line(error: ServerError) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 400
    return message


@pytest.mark.model
def test_a_stream_cut_midway_keeps_what_arrived(remote: OpenRemote, smol_server: LlamaServer) -> None:
    with fault_server() as server:
        server.respond = proxy(smol_server.base_url, events=5, then="drop")
        engine = remote(box(server.base_url), SMOL_KEY)
        engine.load(smol_server.model)
        deltas: list[Delta] = []
        with pytest.raises(ServerError) as cut:
            engine.generate(HELLO, LONG, on_delta=deltas.append)
    partial = cut.value.partial
    assert partial is not None and partial.finish_reason == FinishReason.ERROR
    assert partial.content == "".join(d.text for d in deltas) and deltas  # the role chunk carries no text
    assert one_line(cut.value).startswith(f"The connection to box (127.0.0.1:{server.base_url.split(':')[2][:-3]})")
    assert "broke in the middle of the reply. What had arrived is kept. Try again" in str(cut.value)


def test_a_server_gone_silent_times_out_and_keeps_what_arrived(remote: OpenRemote) -> None:
    """Canned chunks, then silence: a real server's first token could itself take longer than the short read
    timeout on a busy machine, which would make this test depend on timing."""
    with fault_server() as server:
        server.respond = stream([chunk("Once"), chunk(" upon")], then="stall")
        engine = remote(box(server.base_url), timeouts=STALL_TIMEOUTS)
        engine.load("gpt-oss-20b")
        with pytest.raises(ServerError) as silent:
            engine.generate(HELLO, LONG)
    assert silent.value.partial is not None and silent.value.partial.content == "Once upon"
    assert "sent nothing for 0.5 s in the middle of the reply, so Moss stopped waiting" in one_line(silent.value)


def test_stop_works_while_the_server_is_silent(remote: OpenRemote) -> None:
    """The server has sent nothing yet and never will: Stop still returns at once (no read timeout is waited)."""
    silent = threading.Event()

    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            stream([])(handler, request)
            return
        handler.start_stream()
        silent.set()
        handler.stall()

    with fault_server() as server:
        server.respond = respond
        engine = remote(box(server.base_url), timeouts=Timeouts(read_s=600))
        engine.load("gpt-oss-20b")
        cancel = threading.Event()
        threading.Thread(target=lambda: silent.wait() and cancel.set(), daemon=True).start()
        result = engine.generate(HELLO, cancel=cancel)
    assert result.finish_reason == FinishReason.CANCELLED and result.content == ""


def test_a_stream_that_ends_without_a_finish_reason_is_incomplete(remote: OpenRemote) -> None:
    with fault_server() as server:
        server.respond = stream([chunk("Once upon")])
        engine = remote(box(server.base_url))
        engine.load("gpt-oss-20b")
        with pytest.raises(ServerError) as short:
            engine.generate(HELLO)
    assert short.value.partial is not None and short.value.partial.content == "Once upon"
    assert one_line(short.value).endswith(
        "ended the reply before it was finished. What had arrived is kept. Try again."
    )


def test_a_model_gone_from_the_server_names_those_it_serves(remote: OpenRemote) -> None:
    listed = [["gpt-oss-20b", "gpt-oss-120b"]]

    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            handler.send_json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in listed[0]]})
        else:
            listed[0] = ["gpt-oss-120b"]
            status(404, {"error": {"message": "model not found"}})(handler, request)

    with fault_server() as server:
        server.respond = respond
        engine = remote(box(server.base_url))
        engine.load("gpt-oss-20b")
        with pytest.raises(ServerError) as gone:
            engine.generate(HELLO)
    assert one_line(gone.value).endswith(
        "does not serve gpt-oss-20b (HTTP 404). It serves: gpt-oss-120b. Pick one of those."
    )


def test_a_server_without_a_model_list_is_taken_at_its_word(remote: OpenRemote) -> None:
    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            status(404)(handler, request)
        else:
            stream([chunk("Hi.", finish="stop")])(handler, request)

    with fault_server() as server:
        server.respond = respond
        engine = remote(box(server.base_url))
        info = engine.load("openai.gpt-oss-120b-1:0")  # Bedrock has no /models
        assert engine.generate(HELLO).content == "Hi."
    assert info.supports_reasoning_effort
    assert "The server lists no models: the model's name was taken as given." in info.plan


@pytest.mark.parametrize(
    ("code", "headers", "expected"),
    [
        (403, {}, "refused access (HTTP 403): the API key is not allowed to use gpt-oss-20b. It said: status 403"),
        (429, {"Retry-After": "7"}, "is limiting how often it may be asked (HTTP 429). Try again in 7 s."),
        (500, {}, "failed with an error of its own (HTTP 500). It said: status 500 Try again; if it keeps failing"),
        (503, {}, "failed with an error of its own (HTTP 503)."),
        (400, {}, "refused the request (HTTP 400). It said: status 400 Check the model's name and the server's"),
    ],
)
def test_statuses_in_one_line(remote: OpenRemote, code: int, headers: dict[str, str], expected: str) -> None:
    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            stream([])(handler, request)
        else:
            status(code, headers=headers)(handler, request)

    with fault_server() as server:
        server.respond = respond
        engine = remote(box(server.base_url))
        engine.load("gpt-oss-20b")
        with pytest.raises(ServerError) as failed:
            engine.generate(HELLO)
    assert expected in one_line(failed.value)
    assert failed.value.partial is None
    if code == 429:
        assert failed.value.retry_after_s == 7


def test_retry_after_in_its_forms() -> None:
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "30"}) == 30
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # a date gone by: at once
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_garbage_instead_of_the_api(remote: OpenRemote) -> None:
    with fault_server() as server:
        server.respond = lambda handler, request: handler.send_text(200, "<html><body>Router login</body></html>")
        engine = remote(box(server.base_url))
        with pytest.raises(ServerError) as garbage:
            engine.load("gpt-oss-20b")
    assert "answered with something that is not an OpenAI-compatible reply" in one_line(garbage.value)
    assert "it usually ends in /v1" in str(garbage.value)


def test_garbage_inside_the_stream(remote: OpenRemote) -> None:
    def respond(handler: Handler, request: Request) -> None:
        if request.method == "GET":
            stream([])(handler, request)
            return
        handler.start_stream()
        handler.send_event('{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": '
                           '{"content": "Hel"}, "finish_reason": null}]}')  # fmt: skip
        handler.send_event("this is not JSON")
        handler.end_stream()

    with fault_server() as server:
        server.respond = respond
        engine = remote(box(server.base_url))
        engine.load("gpt-oss-20b")
        with pytest.raises(ServerError) as garbage:
            engine.generate(HELLO)
    assert garbage.value.partial is not None and garbage.value.partial.content == "Hel"
    assert "not an OpenAI-compatible reply. What had arrived is kept." in one_line(garbage.value)


def test_connection_refused(remote: OpenRemote) -> None:
    port = free_port()
    with pytest.raises(ServerError) as refused:
        remote(box(f"http://127.0.0.1:{port}/v1")).load("gpt-oss-20b")
    assert one_line(refused.value) == (
        f"box (127.0.0.1:{port}) refused the connection: nothing is listening at 127.0.0.1:{port}. Check that the "
        "server is running, and the port in its URL."
    )


def test_a_name_that_does_not_resolve(remote: OpenRemote) -> None:
    with pytest.raises(ServerError) as unknown:
        remote(box("http://gpu-box.invalid:8000/v1")).load("gpt-oss-20b")
    assert one_line(unknown.value).startswith(
        "Moss cannot find the server gpu-box.invalid: its name does not resolve (DNS)."
    )


@pytest.fixture(scope="module")
def company_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "company-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def _tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def test_an_untrusted_certificate_points_to_the_ca_file(
    remote: OpenRemote, company_ca: tuple[trustme.CA, Path]
) -> None:
    ca, ca_file = company_ca
    with fault_server(tls=_tls(ca)) as server:
        server.respond = stream([chunk("Secure.", finish="stop")])
        with pytest.raises(ServerError) as untrusted:
            remote(box(server.base_url)).load("gpt-oss-20b")
        trusting = remote(box(server.base_url, ca_file=str(ca_file)))
        trusting.load("gpt-oss-20b")
        assert trusting.generate(HELLO).content == "Secure."
    message = one_line(untrusted.value)
    assert "certificate is not trusted by this computer (" in message
    assert "add the server with that authority's CA file (--ca-file CA.pem" in message


def test_tls_to_a_plain_http_server(remote: OpenRemote) -> None:
    with fault_server() as server:
        server.respond = stream([])
        https = server.base_url.replace("http://", "https://")
        with pytest.raises(ServerError) as failed:
            remote(box(https)).load("gpt-oss-20b")
    assert "The secure (TLS) connection to box" in one_line(failed.value)
    assert "its URL starts with http:// rather than https://" in str(failed.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "is missing"),
        ("not a certificate", "holds no certificate Moss can read"),
    ],
)
def test_a_ca_file_that_cannot_be_used(remote: OpenRemote, tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ServerError) as refused:
        remote(box("https://gpu-box:8000/v1", ca_file=str(path)))
    assert expected in one_line(refused.value)
