"""Keeping people's photos off the disk.

Streamlit keeps uploaded files in memory (its MemoryUploadedFileManager), but the web server under it
(Starlette) parses each upload request with a multipart parser that spools any file part larger than
1 MB to a temporary file in $TMPDIR before Streamlit gets the bytes. An unnamed, deleted-on-close file,
but the photo's bytes still go through the filesystem (a disk, on most servers). Raising the spool
threshold above the upload limit (.streamlit/config.toml server.maxUploadSize) keeps every accepted
upload in memory from the socket to the analysis; larger requests are refused before they are parsed.
"""

from __future__ import annotations

MULTIPART_MARGIN = 1024 * 1024  # bytes of multipart framing allowed on top of the file itself


def upload_limit_bytes() -> int:
    """The largest upload the server accepts (server.maxUploadSize, in MB)."""
    from streamlit import config

    return int(config.get_option("server.maxUploadSize")) * 1024 * 1024


def keep_uploads_in_memory() -> bool:
    """Make the web server keep whole uploads in memory instead of spooling them to a temporary file.
    Idempotent (app.py calls it on every run). Returns False when the server is not Starlette's."""
    try:
        from starlette.formparsers import MultiPartParser
    except ImportError:  # Streamlit's older Tornado server reads uploads in memory
        return False
    needed = upload_limit_bytes() + MULTIPART_MARGIN
    if MultiPartParser.spool_max_size < needed:
        MultiPartParser.spool_max_size = needed
    return True
