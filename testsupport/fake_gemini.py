"""One fake Gemini API on 127.0.0.1 speaking the real REST wire format of both endpoints the site
calls through google-genai: ``POST /v1[beta]/models/<model>:batchEmbedContents`` (search
embeddings) and ``POST /v1[beta]/models/<model>:generateContent`` (the evaluator's comment).
Scripted failures: ``failures`` (status codes returned first, by any endpoint) and, for
generateContent, ``script``/``default`` replies (a JSON comment, an error status, a slow reply, a
malformed body). Tests point ``GEMINI_BASE_URL`` at it; nothing reaches Google."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_NAMES = {
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
}


def fake_vector(text: str, dimension: int) -> list[float]:
    """A deterministic, not normalised vector per text (so the client must normalise)."""
    seed = hashlib.sha256(text.encode()).digest()
    return [((seed[i % len(seed)] + i) % 17 - 8) * 0.5 for i in range(dimension)]


@dataclass
class Reply:
    """One scripted generateContent reply: ``status`` with a Gemini error body, or 200 with
    ``output`` (any JSON object) or else ``comment`` as the model's JSON text, or a raw ``body``;
    after ``delay`` seconds."""

    status: int = 200
    comment: str | None = "A grounded comment from the fake Gemini."
    body: str | None = None
    delay: float = 0.0
    output: dict[str, Any] | None = None


def candidate_response(text: str) -> dict[str, Any]:
    """The real response shape: candidates[0].content.parts[0].text holds the JSON output."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 321, "candidatesTokenCount": 54, "totalTokenCount": 375},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "fake-response",
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": ERROR_NAMES.get(status, "UNKNOWN")}}


@dataclass
class FakeGemini:
    failures: list[int] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def embed(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        embeddings = []
        for request in body.get("requests", []):
            text = "".join(part.get("text", "") for part in request["content"]["parts"])
            dimension = int(request.get("outputDimensionality") or 3072)
            embeddings.append({"values": fake_vector(text, dimension)})
        return 200, {"embeddings": embeddings}

    def generate(self) -> tuple[int, bytes]:
        reply = self.script.pop(0) if self.script else self.default
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            return reply.status, json.dumps(error_body(reply.status, "scripted failure")).encode()
        if reply.body is not None:
            return 200, reply.body.encode()
        output = reply.output if reply.output is not None else {"comment": reply.comment, "unsure": False}
        text = json.dumps(output)
        return 200, json.dumps(candidate_response(text)).encode()

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                fake.paths.append(self.path)
                fake.api_keys.append(self.headers.get("x-goog-api-key", ""))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                fake.requests.append(body)
                if fake.failures:
                    status = fake.failures.pop(0)
                    self._send(status, json.dumps(error_body(status, "scripted failure")).encode())
                    return
                route = self.path.split("?")[0]
                if route.endswith(":batchEmbedContents"):
                    status, answer = fake.embed(body)
                    self._send(status, json.dumps(answer).encode())
                elif route.endswith(":generateContent"):
                    self._send(*fake.generate())
                else:
                    self._send(404, json.dumps(error_body(404, f"no route {self.path}")).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
