"""The uploaded export's bytes, from the site's memory-only upload handler
(``animesite.uploads``)."""

from __future__ import annotations

from typing import Any

from animesite.uploads import upload_too_large
from catalog.lists.parsing import MAX_UPLOAD_BYTES, ListFileError


def uploaded_bytes(request: Any, name: str = "file") -> bytes:
    """The uploaded file's bytes; ``ListFileError`` when it is missing or too large."""
    upload = request.FILES.get(name)
    if upload_too_large(request):
        raise ListFileError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if upload is None:
        raise ListFileError("Choose your MyAnimeList export file (.xml or .xml.gz).")
    return upload.read()
