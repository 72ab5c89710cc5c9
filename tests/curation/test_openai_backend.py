"""The OpenAI-compatible backend against a tiny chat server on 127.0.0.1 (no network)."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curation.backends import Sampling, load_backend, reported_model_name
from schemas.errors import ConfigError, ModelError


class FakeChatServer(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChatServer.requests.append({"body": body, "auth": self.headers.get("Authorization")})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            return
        question = body["messages"][-1]["content"]
        top = [{"token": t, "logprob": math.log(0.5), "bytes": None} for t in ("a", "b")]
        choices = [{
            "index": i, "finish_reason": "length" if i else "stop",
            "message": {"role": "assistant", "content": f"reply {i} to {question}"},
            "logprobs": {"content": [{"token": "x", "logprob": -0.1, "bytes": None,
                                      "top_logprobs": top if body.get("top_logprobs") else []}] * (i + 2)}}
            for i in range(body["n"])]
        payload = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": choices, "usage": {"prompt_tokens": 5, "completion_tokens": 9,
                                                            "total_tokens": 14}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_chat_completions_with_n_choices(server_url, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sekret")
    FakeChatServer.requests.clear()
    backend = load_backend("openai", "served-model", options={"base_url": server_url, "api_key_env": "MY_KEY"})
    chats = [[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]]
    done = []
    results = backend.generate(chats, 2, Sampling(temperature=0.5, max_tokens=7), progress=done.append)
    assert [[c.text for c in r] for r in results] == [["reply 0 to q1", "reply 1 to q1"],
                                                      ["reply 0 to q2", "reply 1 to q2"]]
    assert [(c.n_tokens, c.finish_reason) for c in results[0]] == [(2, "stop"), (3, "length")]
    assert done == [1, 2] and backend.model_name == reported_model_name("openai", "served-model") == "served-model"
    body = FakeChatServer.requests[0]["body"]
    assert (body["n"], body["temperature"], body["max_tokens"], "seed" in body) == (2, 0.5, 7, False)
    assert FakeChatServer.requests[0]["auth"] == "Bearer sekret"


def test_prefix_and_entropy(server_url):
    FakeChatServer.requests.clear()
    backend = load_backend("openai", "served-model", options={"base_url": server_url})
    chats = [[{"role": "user", "content": "q"}]]
    (completion,), = backend.generate(chats, 1, Sampling(temperature=1.0), prefixes=["Let me"], want_entropy=True)
    assert completion.mean_entropy == pytest.approx(math.log(2))  # two equally likely tokens
    body = FakeChatServer.requests[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "Let me"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_errors_are_typed(server_url, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        load_backend("openai", "gpt-x")
    backend = load_backend("openai", "broken", options={"base_url": server_url})
    backend._client = backend._client.with_options(max_retries=0)
    with pytest.raises(ModelError, match="request failed"):
        backend.generate([[{"role": "user", "content": "q"}]], 1, Sampling())


def test_identity_is_the_served_name_and_the_server_without_secrets(server_url):
    from curation.model_identity import public_url, remote_fingerprint

    backend = load_backend("openai", "served-model", options={"base_url": server_url})
    assert backend.identity().fingerprint == remote_fingerprint("served-model", server_url)
    assert not backend.supports_request_seeds
    other = load_backend("openai", "served-model", options={"base_url": server_url + "/other"})
    assert other.identity() != backend.identity()
    assert public_url("https://user:pw@host:8000/v1/?api_key=x") == "https://host:8000/v1"
    assert remote_fingerprint("m", "https://user:pw@host/v1?k=1") == remote_fingerprint("m", "https://host/v1")
