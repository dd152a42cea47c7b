"""A fake Gemini API on 127.0.0.1 speaking the real REST wire format of
``POST /v1beta/models/<model>:generateContent`` (what google-genai sends and parses), with a
script of replies: a JSON comment, an error status, a slow reply, or a malformed body. Tests
point ``GEMINI_BASE_URL`` at it; nothing reaches Google."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply: ``status`` with a Gemini error body, or 200 with ``comment`` as the
    model's JSON text, or a raw ``body``; after ``delay`` seconds."""

    status: int = 200
    comment: str | None = "A grounded comment from the fake Gemini."
    body: str | None = None
    delay: float = 0.0


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


@dataclass
class FakeGemini:
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
                    fake.requests.append(json.loads(raw or b"{}"))
                except ValueError:
                    fake.requests.append({"unparsable": raw.decode("utf-8", "replace")})
                reply = fake.script.pop(0) if fake.script else fake.default
                if reply.delay:
                    time.sleep(reply.delay)
                if not self.path.split("?")[0].endswith(":generateContent"):
                    error = {"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}}
                    self._send(404, json.dumps(error).encode())
                elif reply.status != 200:
                    names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 400: "INVALID_ARGUMENT"}
                    error = {
                        "error": {
                            "code": reply.status,
                            "message": "scripted failure",
                            "status": names.get(reply.status, "UNKNOWN"),
                        }
                    }
                    self._send(reply.status, json.dumps(error).encode())
                elif reply.body is not None:
                    self._send(200, reply.body.encode())
                else:
                    text = json.dumps({"comment": reply.comment, "unsure": False})
                    self._send(200, json.dumps(candidate_response(text)).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
