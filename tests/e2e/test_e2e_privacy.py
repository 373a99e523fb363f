"""Privacy and safety with the real server and a real browser.

A copy of the app runs from its own folder with an empty $HOME and $TMPDIR. A person uploads a photo
whose file name carries a unique marker, and streams the live camera; afterwards no file anywhere the
server could write (its folder, $HOME, $TMPDIR, /tmp) holds an image, a video, the photo's bytes or
its name, and the server's log mentions neither. An oversized photo is refused by the page, and the
upload endpoint refuses a request without the XSRF token.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.registry import MODELS_DIR, list_models

from .conftest import REPO, StreamlitServer, assert_no_exception, open_page, page_text, wait_for, wait_until
from .fake_camera import astronaut_bgr
from .live_stream import start_stream, stop_stream
from .test_e2e_photo import FOUND_RE

APP_PATHS = ["app.py", "app_pages", "dashboard", "fer_core", ".streamlit"]
MAGIC = {  # how image and video files begin
    b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"GIF8": "GIF", b"BM": "BMP", b"RIFF": "WebP/AVI",
    b"\x1aE\xdf\xa3": "WebM/Matroska", b"YUV4MPEG2": "Y4M", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
}
ANALYSED_RE = re.compile(r"Found \d+ faces?: .*Happy")  # the astronaut smiles (grain may add a false face)
SKIP_TMP = (".org.chromium.", ".com.google.Chrome", "pytest-of-")  # the browser's own profile; pytest's files


def _copy_app(dest: Path) -> Path:
    """The app files of this checkout (tracked or new, not ignored) and one model, copied into ``dest``."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *APP_PATHS],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert "app.py" in files, files
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    model = list_models()[0]
    shutil.copytree(Path(MODELS_DIR) / model, dest / "models" / model)
    return dest


def _files(root: Path, since: float):
    """Files under ``root`` modified at or after ``since`` (walks without following links)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not any(d.startswith(s) for s in SKIP_TMP) and d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if st.st_mtime >= since and path.is_file() and not path.is_symlink():
                yield path, st.st_size


def _kind(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


def _contains(path: Path, needles: list[bytes], limit: int = 64 * 1024 * 1024) -> bool:
    try:
        if path.stat().st_size > limit:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    return any(n in data for n in needles)


@pytest.fixture
def private_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    app = _copy_app(root / "app")
    home, tmpdir = root / "home", root / "tmp"
    home.mkdir()
    tmpdir.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(tmpdir), "FER_MODELS_DIR": str(app / "models"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config")}
    # The copy's own packages, not the checkout's (an inherited PYTHONPATH could point at it).
    env["PYTHONPATH"] = str(app)
    server = StreamlitServer(app, sys.executable, root / "streamlit.log", env=env)
    server.since = time.time() - 1  # everything the server writes is newer than this
    server.start()
    server.dirs = {"app": app, "home": home, "tmpdir": tmpdir}
    yield server
    server.stop()


def test_photos_and_frames_leave_no_trace(private_server, make_browser, tmp_path, fake_camera):
    server = private_server
    marker = f"fer-privacy-{uuid.uuid4().hex}"
    # A phone-sized photo (over 1 MB: the size a web server starts spooling to disk) with one face.
    photo = tmp_path / f"{marker}.jpg"
    big = cv2.resize(astronaut_bgr(), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(0, 12, big.shape, dtype=np.uint8)  # camera grain: a bigger file
    assert cv2.imwrite(str(photo), cv2.add(big, noise), [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = photo.read_bytes()
    assert len(data) > 1024 * 1024, len(data)
    needles = [marker.encode(), data[len(data) // 2:len(data) // 2 + 4096], data[-4096:]]
    since = server.since

    # Upload through the page, as a person does; the face is found.
    driver = make_browser(fake_video=fake_camera)
    open_page(driver, server, "photo")
    wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]', 60, visible=False).send_keys(str(photo))
    wait_until(lambda: ANALYSED_RE.search(page_text(driver)), 120, "the uploaded photo was not analysed")
    assert_no_exception(driver)

    # Stream the camera for a while on the same server.
    open_page(driver, server, "live")
    start_stream(driver, timeout=180)
    time.sleep(8)
    stop_stream(driver)
    driver.quit()
    time.sleep(2)

    # The server's folder, $HOME and $TMPDIR: nothing written but Python's bytecode caches.
    own = [(path, size) for root in server.dirs.values() for path, size in _files(root, since)]
    for path, size in own:
        kind = _kind(path)
        assert kind is None, f"the server left a {kind} file: {path} ({size} bytes)"
        assert not _contains(path, needles), f"{path} holds the uploaded photo or its name"
    assert all(path.suffix == ".pyc" for path, _ in own), f"the server wrote files: {own}"
    # The machine's shared /tmp (where a library could write despite $TMPDIR; other programs use it
    # too, so only the photo's own bytes and name count there).
    for path, size in _files(Path("/tmp"), since):
        assert not _contains(path, needles), f"{path} holds the uploaded photo or its name"

    server.stop()
    log = server.log_path.read_bytes()
    assert marker.encode() not in log, "the server's log names the uploaded file"
    assert not any(n in log for n in needles[1:]), "the server's log holds the photo's bytes"
    assert b"Traceback" not in log, log.decode(errors="replace")[-3000:]


def test_an_oversized_photo_is_refused_by_the_page(app_server, make_browser, tmp_path):
    """server.maxUploadSize (20 MB): the uploader refuses a bigger file with a message and nothing is
    analysed; the page takes the next, normal photo."""
    big = tmp_path / "huge-photo.jpg"
    with big.open("wb") as f:  # a JPEG start, then 21 MB
        f.write(b"\xff\xd8\xff\xe0")
        f.write(os.urandom(21 * 1024 * 1024))
    driver = make_browser()
    open_page(driver, app_server, "photo")
    wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]', 60, visible=False).send_keys(str(big))
    message = wait_until(lambda: [t for t in [page_text(driver)] if "20" in t and "MB" in t and
                                  ("smaller" in t.lower() or "too large" in t.lower() or "exceeds" in t.lower())],
                         60, f"no size message after a 21 MB upload: {page_text(driver)[-1500:]}")
    assert message
    assert not FOUND_RE.search(page_text(driver))
    assert_no_exception(driver)


def test_upload_endpoint_requires_the_xsrf_token(app_server):
    """A cross-site form cannot post a file: without the token from the XSRF cookie the server refuses."""
    boundary = "fer-xsrf-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff" + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{app_server.url}/_stcore/upload_file/some-session/some-file", data=body,
                                     method="PUT", headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                            "Origin": "https://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403, refused.value.code
