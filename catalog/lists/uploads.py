"""The uploaded export's bytes, from the site's memory-only upload handler
(``animesite.uploads``)."""

from __future__ import annotations

from typing import Any

from animesite.uploads import upload_too_large
from catalog.lists.parsing import ListFileError, too_large


def uploaded_bytes(request: Any, name: str = "file") -> bytes:
    """The uploaded file's bytes; ``ListFileError`` when it is missing or too large."""
    upload = request.FILES.get(name)
    if upload_too_large(request):
        raise too_large()
    if upload is None:
        raise ListFileError("Choose your MyAnimeList export file (.xml or .xml.gz).")
    return upload.read()
