"""The README's path on a fresh machine: clone the committed repo, run the README's set-up lines
(`pip install -r requirements.txt`, then BlazeFace) in a new venv, `streamlit run app.py` from there, and use it in a browser. A dependency missing from
requirements.txt, or a file that is not committed (a model, a page), fails here before a user finds it.

Select it alone with `python -m pytest -m clean_install`. pip reuses its wheel cache, so the second
install on a machine is mostly unpacking.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, StreamlitServer, assert_no_exception, open_page, page_text, wait_for
from .test_e2e_photo import upload_astronaut_and_check

pytestmark = pytest.mark.clean_install

INSTALL_TIMEOUT = 20 * 60  # seconds; a cold pip cache downloads TensorFlow


def _clean_env(venv: Path) -> dict:
    """This environment minus everything that could leak the developer's packages or checkout into the clone."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "FER_MODELS_DIR", "PYTHONSTARTUP")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd, cwd, env, timeout):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"{' '.join(map(str, cmd[:4]))} …: {time.monotonic() - started:.0f} s")
    return proc


@pytest.fixture(scope="module")
def clean_install(tmp_path_factory):
    """(clone folder, venv python) of a fresh clone of the committed HEAD with its own venv."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to clone the repository")
    root = tmp_path_factory.mktemp("clean_install")
    clone, venv = root / "repo", root / "venv"
    env = _clean_env(venv)
    _run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], root, env, 300)
    _run([sys.executable, "-m", "venv", str(venv)], root, env, 300)
    python = venv / "bin" / "python"
    # The README's set-up lines as written (what .ci/run runs too), `pip` being the venv's.
    lines = subprocess.run([str(python), ".ci/readme_setup.py"], cwd=clone, env=env, capture_output=True, text=True,
                           timeout=60, check=True).stdout.splitlines()
    assert lines and lines[0] == "pip install -r requirements.txt", lines
    for line in lines:
        _run(["nice", "-n", "10", "bash", "-c", f"set -eu; export PIP_PROGRESS_BAR=off; {line}"], clone, env,
             INSTALL_TIMEOUT)
    # The clone is what a user gets: nothing from this checkout's working tree.
    assert not (clone / "runs").exists()
    return clone, python, env


def test_fresh_clone_runs_the_app_and_analyzes_a_photo(clean_install, make_browser, astronaut_jpeg, tmp_path):
    clone, python, env = clean_install
    # The clone imports its own code, from its own venv.
    where = subprocess.run([str(python), "-c", "import fer_core, streamlit, streamlit_webrtc; print(fer_core.__file__)"],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr[-3000:]
    assert Path(where.stdout.strip()).is_relative_to(clone), where.stdout
    # The set-up block gives BlazeFace too, and the photo page uses it by default.
    blaze = subprocess.run([str(python), "-c", "from fer_core.faces import default_still_detector; print(default_still_detector())"],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert blaze.returncode == 0 and blaze.stdout.strip() == "blazeface", (blaze.stdout, blaze.stderr[-3000:])

    server = StreamlitServer(clone, str(python), tmp_path / "streamlit.log", env=env)
    server.env = env  # exactly the clean environment, not this process's
    server.start()
    try:
        driver = make_browser()
        open_page(driver, server, "")
        assert "Facial emotion recognition" in page_text(driver)
        wait_for(driver, '[data-testid="stSidebar"] [data-testid="stSelectbox"]', 60)  # a shipped model is there
        assert_no_exception(driver)
        upload_astronaut_and_check(driver, server, astronaut_jpeg)
        for path in ("live", "training"):
            open_page(driver, server, path)
            assert_no_exception(driver)
    finally:
        server.stop()
    log = server.log_tail(200_000)
    assert "Traceback (most recent call last)" not in log, log[-4000:]
