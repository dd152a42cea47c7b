"""The site's only upload handler (``FILE_UPLOAD_HANDLERS``): an uploaded file stays in memory and
is never written to disk, and reading stops past ``FILE_UPLOAD_MAX_BYTES`` (the rest of that file
is skipped; ``too_large`` tells the view). The one upload the site takes is a list export."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class MemoryOnlyUploadHandler(FileUploadHandler):
    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.too_large = False

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()
        self.size = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > settings.FILE_UPLOAD_MAX_BYTES:
            self.too_large = True
            self.buffer = BytesIO()
            raise SkipFile
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def upload_too_large(request: Any) -> bool:
    """Whether a file of ``request`` was skipped for its size (read the files first)."""
    handlers = getattr(getattr(request, "_request", request), "upload_handlers", [])
    return any(getattr(h, "too_large", False) for h in handlers)
