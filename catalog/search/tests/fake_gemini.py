"""A fake Gemini API on 127.0.0.1 speaking the real REST wire format of
``POST /v1beta/models/<model>:batchEmbedContents`` (what google-genai sends), with scripted
failures. Tests point ``GEMINI_BASE_URL`` at it; nothing reaches Google."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_vector(text: str, dimension: int) -> list[float]:
    """A deterministic, not normalised vector per text (so the client must normalise)."""
    seed = hashlib.sha256(text.encode()).digest()
    return [((seed[i % len(seed)] + i) % 17 - 8) * 0.5 for i in range(dimension)]


@dataclass
class FakeGemini:
    """``failures``: status codes returned, in order, before requests succeed."""

    failures: list[int] = field(default_factory=list)
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

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.paths.append(self.path)
                fake.requests.append(body)
                fake.api_keys.append(self.headers.get("x-goog-api-key", ""))
                if fake.failures:
                    status = fake.failures.pop(0)
                    self._reply(
                        status, {"error": {"code": status, "message": "scripted failure", "status": "UNAVAILABLE"}}
                    )
                    return
                if not self.path.split("?")[0].endswith(":batchEmbedContents"):
                    self._reply(
                        404, {"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}}
                    )
                    return
                embeddings = []
                for request in body.get("requests", []):
                    text = "".join(part.get("text", "") for part in request["content"]["parts"])
                    dimension = int(request.get("outputDimensionality") or 3072)
                    embeddings.append({"values": fake_vector(text, dimension)})
                self._reply(200, {"embeddings": embeddings})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
