"""End-to-end fixtures: the real app under `streamlit run` on a free loopback port, and headless Chromium.

Every test here is marked ``e2e``. They need Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
(``apt-get install -y chromium chromium-driver``; ``.ci/run`` installs them when missing) and fail, rather
than skip, when those are missing: a skipped end-to-end test proves nothing.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from .fake_camera import astronaut_bgr, build_fake_camera

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
WINDOW = (1280, 1600)
STARTUP_TIMEOUT = 120  # seconds for `streamlit run` to answer its health check (a cold start on a busy machine)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# ---------------------------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end_process_group(proc: subprocess.Popen, grace: float = 0) -> None:
    """End the process group that ``proc`` leads (started with ``start_new_session=True``): SIGTERM and
    up to ``grace`` seconds to exit, then SIGKILL (at once when ``grace`` is 0, as when a server crashes)."""
    if proc.poll() is not None:
        return

    def signal_group(sig) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    if grace > 0:
        signal_group(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    signal_group(signal.SIGKILL)
    proc.wait(timeout=10)


class StreamlitServer:
    """`streamlit run app.py` in its own process group, logging to a file; stop() ends the group."""

    running: list["StreamlitServer"] = []  # for failure reports: every server's log

    def __init__(self, app_dir: Path, python: str, log_path: Path, env: dict | None = None):
        self.app_dir = Path(app_dir)
        self.python = python
        self.log_path = Path(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "StreamlitServer":
        cmd = [self.python, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=self.app_dir, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        StreamlitServer.running.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"`streamlit run` exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"`streamlit run` did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if self in StreamlitServer.running:
            StreamlitServer.running.remove(self)
        end_process_group(proc, grace=15)
        self._log.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app of this checkout, served by this interpreter's streamlit."""
    if not (REPO / "app.py").is_file():
        pytest.fail(f"{REPO / 'app.py'} is missing")
    server = StreamlitServer(REPO, sys.executable, tmp_path_factory.mktemp("streamlit") / "streamlit.log")
    server.start()
    # One visit to the home page first: it loads the model once, so that the tests' own visits don't
    # race a cold start. (test_e2e_pages checks separately that a direct link works on a fresh server.)
    try:
        driver = new_browser(tmp_path_factory.mktemp("warmup") / "chromedriver.log")
        try:
            open_page(driver, server, "")
            wait_for(driver, '[data-testid="stSidebar"] [data-testid="stSelectbox"]', 90)
        finally:
            driver.quit()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()
    # The app must not print tracebacks while the end-to-end tests use it.
    assert "Traceback (most recent call last)" not in server.log_tail(200_000), server.log_tail()


# --------------------------------------------------------------------------------------------- the browser

def chrome_options(fake_video: Path | None = None):
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--no-first-run",
                "--disable-default-apps", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        opts.add_argument(arg)
    if fake_video is not None:
        opts.add_argument(f"--use-file-for-fake-video-capture={fake_video}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return opts


def new_browser(log_path: Path, fake_video: Path | None = None):
    """A headless Chromium driven by Debian's chromedriver; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install Debian's browser with `apt-get install -y chromium chromium-driver`")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(log_path))
    driver = webdriver.Chrome(service=service, options=chrome_options(fake_video))
    driver.set_window_size(*WINDOW)
    driver.set_page_load_timeout(60)
    return driver


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def make_browser(request, tmp_path):
    """make_browser(fake_video=None) -> a headless Chromium WebDriver; every one is quit after the test.

    When the test fails, each browser's last view is saved next to the test's tmp_path and its text
    printed, with its console messages and the end of every running server's log.
    """
    drivers = []

    def make(fake_video: Path | None = None):
        driver = new_browser(tmp_path / f"chromedriver{len(drivers)}.log", fake_video)
        drivers.append(driver)
        return driver

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for i, driver in enumerate(drivers):
            try:
                driver.switch_to.default_content()
                driver.save_screenshot(str(tmp_path / f"failure{i}.png"))
                print(f"\n--- browser {i} at failure ({tmp_path / f'failure{i}.png'}) ---\n{page_text(driver)[-3000:]}")
                console = "\n".join(f"{m.get('level')} {m.get('message')}" for m in driver.get_log("browser"))
                print(f"--- browser {i}'s console ---\n{console[-3000:]}")
            except Exception:  # noqa: BLE001
                pass
        for server in StreamlitServer.running:
            print(f"\n--- end of the log of the server at {server.url} ---\n{server.log_tail(3000)}")
    for driver in drivers:
        try:
            driver.quit()
        except Exception:  # noqa: BLE001 - a dead browser must not hide the test's own result
            pass


# ------------------------------------------------------------------------------------------- the inputs

@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory) -> Path:
    """10 s of the astronaut moving across a 640×480, 30 fps frame, as the browser's camera."""
    return build_fake_camera(tmp_path_factory.mktemp("camera") / "astronaut.y4m")


@pytest.fixture(scope="session")
def astronaut_jpeg(tmp_path_factory) -> Path:
    """A real photo as a user would upload it: the astronaut portrait as a JPEG file."""
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    assert cv2.imwrite(str(path), astronaut_bgr(), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


# ------------------------------------------------------------------------------------------- page helpers

def wait_for(driver, css: str, timeout: float = 60, visible: bool = True, root=None):
    """The first element matching ``css`` (inside ``root`` if given), waiting for it to appear.

    An element found while Streamlit re-renders the page can be gone before it is asked whether it is
    displayed (StaleElementReferenceException: it failed once, in a fresh-clone run, just after a
    sidebar link was followed from the live page); such a poll counts as "not yet", and the next one
    looks again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def find(_):
        for el in (root or driver).find_elements(By.CSS_SELECTOR, css):
            if not visible or el.is_displayed():
                return el
        return False

    return WebDriverWait(driver, timeout, poll_frequency=0.25,
                         ignored_exceptions=[StaleElementReferenceException]).until(find, f"no {css!r} after {timeout} s")


def wait_until(predicate, timeout: float, message: str, interval: float = 0.25):
    """Poll ``predicate()`` until it returns something (not None, False or empty); return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value.size > 0 if isinstance(value, np.ndarray) else bool(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def app_idle(driver, timeout: float = 90) -> None:
    """Wait until the page has rendered its title and the app's script is not running any more."""
    from selenium.webdriver.common.by import By

    wait_for(driver, '[data-testid="stMain"] h1', timeout)

    def idle():
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        return not any(el.is_displayed() and "running" in el.text.lower() for el in running) and \
            driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMainBlockContainer"], [data-testid="stMain"]')

    wait_until(idle, timeout, "the app kept running its script")


def open_page(driver, server: StreamlitServer, path: str = "", timeout: float = 90) -> None:
    driver.get(f"{server.url}/{path.lstrip('/')}")
    app_idle(driver, timeout)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def assert_no_exception(driver) -> None:
    """The page shows no Streamlit exception box (a traceback or an error type)."""
    from selenium.webdriver.common.by import By

    boxes = [el.text for el in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]
    assert not boxes, f"the page shows an exception: {boxes}"


def screenshot(driver, name: str, min_height: int = 700) -> Path:
    """Save the browser's view as docs/<name>.png (the README's pictures), cut below the page's content."""
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"{name}.png"
    image = cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.size, "the browser gave no screenshot"
    bottom = driver.execute_script("""
        const m = document.querySelector('[data-testid="stMainBlockContainer"]');
        return m ? Math.ceil(m.getBoundingClientRect().bottom * window.devicePixelRatio) : null;""")
    if bottom:
        image = image[: max(min_height, min(image.shape[0], int(bottom) + 24))]
    assert cv2.imwrite(str(path), image), f"could not save {path}"
    return path


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)]


PLOTLY_TRACES_JS = """
const plain = v => (v == null ? null : (ArrayBuffer.isView(v) || Array.isArray(v)) ? Array.from(v, plain) : v);
return Array.from(arguments[0].querySelectorAll('.js-plotly-plot')).map(gd => ({
    title: (gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title)) || null,
    traces: (gd._fullData || gd.data || []).map(t => ({
        type: t.type, name: t.name, orientation: t.orientation || null,
        x: plain(t.x), y: plain(t.y), z: plain(t.z)}))}));
"""


def plotly_charts(driver, root=None) -> list[dict]:
    """Every rendered plotly chart under ``root`` (default: the page) with its traces' data, as plotly.js holds it."""
    from selenium.webdriver.common.by import By

    root = root or driver.find_element(By.TAG_NAME, "body")
    return driver.execute_script(PLOTLY_TRACES_JS, root)
