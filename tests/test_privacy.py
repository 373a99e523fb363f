"""Privacy and safety settings that must not regress: the server's configuration (XSRF protection on,
uploads limited, no tracebacks shown), uploads parsed in memory, and models loaded only from the
models folder — never from an upload or a path a browser sends.

tests/e2e/test_e2e_privacy.py checks the same with the real server: an uploaded photo and live frames
leave no file and no log line behind, and an oversized upload is refused.
"""

from __future__ import annotations

import ast
import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from dashboard.privacy import MULTIPART_MARGIN, keep_uploads_in_memory, upload_limit_bytes
from fer_core.registry import MODELS_DIR, list_models

from .conftest import REPO

APP_FILES = [REPO / "app.py", *sorted((REPO / "app_pages").glob("*.py")), *sorted((REPO / "dashboard").glob("*.py"))]
MODEL_SUFFIXES = {"tflite", "keras", "h5", "hdf5", "pb", "onnx", "pt", "pth", "pkl", "pickle", "joblib", "npz",
                  "npy", "zip", "tar", "gz", "bin", "safetensors", "ckpt", "xml"}


# ------------------------------------------------------------------------------- the server's settings

@pytest.fixture
def repo_config(monkeypatch, tmp_path):
    """Streamlit's configuration as `streamlit run app.py` in the repo reads it (.streamlit/config.toml),
    without a user-level ~/.streamlit/config.toml interfering."""
    from streamlit import config

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HOME", str(tmp_path))
    config.get_config_options(force_reparse=True)
    yield config
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def _from_repo_file(config, key: str) -> bool:
    where = config._config_options[key].where_defined
    return Path(str(where)).resolve() == (REPO / ".streamlit" / "config.toml").resolve()


def test_xsrf_and_cors_protection_stay_on(repo_config):
    for key in ("server.enableXsrfProtection", "server.enableCORS"):
        assert repo_config.get_option(key) is True, key
        assert _from_repo_file(repo_config, key), f"{key} should be set explicitly in .streamlit/config.toml"


def test_uploads_are_limited(repo_config):
    limit = repo_config.get_option("server.maxUploadSize")
    assert _from_repo_file(repo_config, "server.maxUploadSize")
    assert 1 <= limit <= 25, f"server.maxUploadSize is {limit} MB; photos need a few MB, not Streamlit's 200 MB"
    assert repo_config.get_option("server.maxMessageSize") <= 200


def test_errors_never_show_a_traceback_to_the_browser(repo_config):
    assert repo_config.get_option("client.showErrorDetails") in ("type", "none", False)
    assert repo_config.get_option("server.runOnSave") is False
    assert repo_config.get_option("browser.gatherUsageStats") is False


# ----------------------------------------------------------------------------------- uploads in memory

def _multipart(data: bytes, filename: str = "photo.jpg") -> tuple[dict, bytes]:
    boundary = "----fer-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return {"content-type": f"multipart/form-data; boundary={boundary}"}, body


def _parse(data: bytes):
    """Parse an upload request as Streamlit's web server (Starlette) does; returns the file's bytes."""
    from starlette.datastructures import Headers
    from starlette.formparsers import MultiPartParser

    headers, body = _multipart(data)

    async def stream():
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    async def run():
        form = await MultiPartParser(Headers(headers), stream()).parse()
        upload = form["file"]
        try:
            return await upload.read()
        finally:
            await upload.close()

    return asyncio.run(run())


@pytest.fixture
def no_temp_files(monkeypatch):
    """Any temporary file created while parsing fails the test (the spool's rollover uses TemporaryFile)."""
    def refuse(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)


def test_starlette_alone_spools_a_photo_over_1_mb_to_disk(monkeypatch, no_temp_files):
    """Why keep_uploads_in_memory exists: the web server's own default writes a 3 MB photo to $TMPDIR."""
    from starlette.formparsers import MultiPartParser

    monkeypatch.setattr(MultiPartParser, "spool_max_size", 1024 * 1024)  # Starlette's default
    with pytest.raises(AssertionError, match="temporary file"):
        _parse(b"\xff\xd8\xff" + bytes(3 * 1024 * 1024))


def test_uploads_up_to_the_limit_stay_in_memory(monkeypatch, no_temp_files):
    from starlette.formparsers import MultiPartParser

    monkeypatch.setattr(MultiPartParser, "spool_max_size", 1024 * 1024)
    assert keep_uploads_in_memory() is True
    assert MultiPartParser.spool_max_size >= upload_limit_bytes() + MULTIPART_MARGIN
    for size in (3 * 1024 * 1024, upload_limit_bytes()):  # a phone photo, and the largest accepted upload
        data = b"\xff\xd8\xff" + bytes(range(256)) * ((size - 3) // 256)
        assert _parse(data) == data


def test_app_keeps_uploads_in_memory_before_any_page_runs():
    tree = ast.parse((REPO / "app.py").read_text())
    calls = [n.value.func.id for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
             and isinstance(n.value.func, ast.Name)]
    assert "keep_uploads_in_memory" in calls, "app.py must call keep_uploads_in_memory() on every run"
    runs = [i for i, n in enumerate(tree.body) if "page.run()" in ast.unparse(n)]
    first = next(i for i, n in enumerate(tree.body) if "keep_uploads_in_memory()" in ast.unparse(n))
    assert runs and first < runs[0], "keep_uploads_in_memory() must run before the page"


# ------------------------------------------------------------------------- models come from models/ only

def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_uploaders_take_photos_csv_and_videos_only():
    """Every file uploader in the app names its types, and they are only photos, CSV and videos (the
    suffixes fer_core reads as such): never a model, an archive that could hold one, or anything else."""
    from fer_core.images import PHOTO_SUFFIXES
    from fer_core.video import VIDEO_SUFFIXES

    allowed = {s.lstrip(".") for s in (*PHOTO_SUFFIXES, *VIDEO_SUFFIXES)} | {"csv"}
    assert not allowed & MODEL_SUFFIXES
    uploaders = []
    for path in APP_FILES:
        for node, name in _calls(path):
            if name.endswith("file_uploader"):
                kinds = next((k.value for k in node.keywords if k.arg == "type"), None)
                assert kinds is not None, f"{path.name}: a file_uploader without a type list accepts anything"
                value = ast.literal_eval(kinds) if not isinstance(kinds, ast.Name) else _constant(path, kinds.id)
                assert value, f"{path.name}: a file_uploader with an empty type list accepts anything"
                other = {str(v).lower().lstrip(".") for v in value} - allowed
                assert not other, f"{path.name}: a file_uploader accepts {other}"
                uploaders.append(path.name)
    assert {"photo.py", "training.py", "video.py"} <= set(uploaders), uploaders  # else it looks in the wrong place


def _constant(path: Path, name: str):
    """The literal value of ``name`` in ``path``: assigned there, or imported there from a module of
    this repo (``from dashboard.video import VIDEO_TYPES``), followed to where it is assigned."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = REPO.joinpath(*node.module.split(".")).with_suffix(".py")
                    assert source.is_file(), f"{path.name}: {name} comes from outside the app ({node.module})"
                    return _constant(source, alias.name)
    raise AssertionError(f"{path.name}: {name} is not a literal constant")


def test_models_are_loaded_in_one_place_from_the_models_folder():
    """The app's only model loader is dashboard.state._load_recognizer, given a listed name and the
    models folder; nothing in the app reads a model file, an interpreter or a pickle itself."""
    loaders = []
    for path in APP_FILES:
        for node, name in _calls(path):
            if name.split(".")[-1] in {"TFLiteClassifier", "Interpreter", "load_model", "CascadeClassifier"} or \
                    name in {"pickle.load", "pickle.loads", "joblib.load", "np.load", "numpy.load", "torch.load"}:
                pytest.fail(f"{path.name} loads something itself: {ast.unparse(node)}")
            if name == "EmotionRecognizer.load":
                loaders.append((path.name, ast.unparse(node)))
    assert loaders == [("state.py", "EmotionRecognizer.load(name, models_dir=folder)")], loaders


@pytest.fixture
def models_folder(tmp_path, monkeypatch):
    """A models folder with two real models, plus things that are not models; and, outside it, a
    'model' such as an upload could leave behind (damaged, so loading it would show an error)."""
    seed = Path(MODELS_DIR) / list_models()[0]
    models = tmp_path / "models"
    for name in ("alpha", "beta"):
        shutil.copytree(seed, models / name)
    (models / "model.tflite").write_bytes((seed / "model.tflite").read_bytes())  # a stray file, no folder
    (models / "empty").mkdir()
    (models / ".hidden").mkdir()
    (models / ".hidden" / "model.tflite").write_bytes((seed / "model.tflite").read_bytes())
    (models / "notes.txt").write_text("not a model")
    outside = tmp_path / "uploads" / "evil"
    outside.mkdir(parents=True)
    (outside / "model.tflite").write_bytes(b"\x00" * 64)
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    return models, outside


def test_selector_lists_only_model_folders(open_page, models_folder):
    at = open_page("app_pages/photo.py")
    selector = at.sidebar.selectbox(key="model_name")
    assert list(selector.options) == ["alpha", "beta"]
    assert selector.value == "alpha"
    assert not at.error


@pytest.mark.parametrize("sent", ["evil", "../uploads/evil", "ABSOLUTE", "beta/../../uploads/evil"])
def test_a_model_name_sent_by_the_browser_cannot_point_outside_the_folder(open_page, models_folder, sent,
                                                                          monkeypatch):
    """A crafted widget value (the browser sends the selectbox's value) is not a way to load a file:
    anything that is not a listed model falls back to a listed one, and nothing else is opened."""
    import streamlit_webrtc.component
    from streamlit.testing.v1 import AppTest

    from fer_core import recognizer as recognizer_module

    models, outside = models_folder
    value = str(outside) if sent == "ABSOLUTE" else sent
    opened = []
    original = recognizer_module.EmotionRecognizer.load.__func__

    def spy(cls, name="default", models_dir=MODELS_DIR, *args, **kwargs):
        opened.append(Path(models_dir) / str(name))
        return original(cls, name, models_dir, *args, **kwargs)

    monkeypatch.setattr(recognizer_module.EmotionRecognizer, "load", classmethod(spy))
    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["model_name"] = value
    at.run()
    at.switch_page("app_pages/photo.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="model_name").value in ("alpha", "beta")
    assert not at.error, [e.value for e in at.error]
    for path in opened:
        assert path.resolve().parent == models.resolve(), f"the app opened {path}"
