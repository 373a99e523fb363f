"""Training a model from the app: `python -m fer_core train` in a subprocess that survives reruns.

TensorFlow must never be imported in the app process (it segfaults next to streamlit-webrtc), so
training always runs as a separate process. Its per-epoch history.json under runs/NAME is the
progress source; the CLI publishes models/NAME atomically only at the very end, and the app refuses
names that already exist, so a failed or cancelled run never touches an existing model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fer_core import registry

REPO_ROOT = Path(__file__).resolve().parent.parent
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Shipped models (and the name of the long default run) can never be trained over from the app.
RESERVED_NAMES = frozenset(n.lower() for n in registry.SHIPPED)
ARCHITECTURES = {
    "seed": "seed (small, fast)",
    "compact_vgg": "compact_vgg (deeper, slower, more accurate)",
}
ARCHITECTURE_HELP = (
    "seed: the original small CNN, two convolution blocks; about 55% accuracy after 20 epochs, "
    "minutes per run. compact_vgg: a VGG-style CNN with batch normalization, trained with "
    "augmentation and a cosine learning rate; more accurate, much slower on a CPU."
)
# The CLI preset that goes with each architecture (learning rate, augmentation, loss).
PRESET_FOR = {"seed": "seed", "compact_vgg": "default"}


def training_time(seconds: float) -> str:
    """A training time as the page says it: seconds under a minute (a head trained on precomputed
    features takes seconds, which "0 min" would hide), minutes under two hours, else hours."""
    if seconds < 59.5:
        return f"{max(1, round(seconds))} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def validate_name(name: str, models_dir: Path, runs_dir: Path) -> str | None:
    """A plain-language reason why ``name`` cannot be used for a new model, or None when it can."""
    name = name.strip()
    if not name:
        return "Please give the new model a name."
    if not NAME_PATTERN.match(name):
        return "The model name may only use letters, digits, '-' and '_' (at most 40 characters, no spaces)."
    if name.lower() in RESERVED_NAMES:
        return f"'{name}' is the name of a shipped model and cannot be replaced from the app. Choose a new name."
    if (Path(models_dir) / name).exists():
        return f"A model named '{name}' already exists. Choose a new name, so that it is not overwritten."
    if (Path(runs_dir) / name).exists():
        return f"A training run named '{name}' already exists (it may still be running). Choose a new name."
    return None


DATA_DIR_VARIABLE = "FER_DATA_DIR"  # the operator's folder of training data the page may offer
DATA_SUFFIXES = (".csv", ".npz")  # fer2013.csv, fer2013.npz (and Kaggle's train/ + test/ folders)


class ServerDatasets:
    """The training data this server offers to the page, by name only: the file or folder $FER2013_PATH
    names, and the FER-2013 files (.csv, .npz) and Kaggle folders (with train/) directly in the
    operator's data folder $FER_DATA_DIR. A visitor picks one of these names; nothing a browser sends is
    ever opened as a path, and no path on the server is shown."""

    def __init__(self, environ=os.environ):
        self._paths: dict[str, Path] = {}
        fer = environ.get("FER2013_PATH")
        if fer and Path(fer).exists():
            self._add(Path(fer))
        folder = environ.get(DATA_DIR_VARIABLE)
        if folder and Path(folder).is_dir():
            for entry in sorted(Path(folder).iterdir()):
                if entry.name.startswith("."):
                    continue
                if (entry.is_file() and entry.suffix.lower() in DATA_SUFFIXES) or (entry / "train").is_dir():
                    self._add(entry)

    def _add(self, path: Path) -> None:
        path = path.resolve()
        if path in self._paths.values():  # $FER2013_PATH may lie in the data folder too
            return
        name, n = path.name, 2
        while name in self._paths:  # two files of one name (one from each place)
            name, n = f"{path.name} ({n})", n + 1
        self._paths[name] = path

    def names(self) -> list[str]:
        return list(self._paths)

    def path(self, name: str) -> Path:
        """The file or folder offered as ``name``; ValueError with a plain message for anything else."""
        try:
            return self._paths[name]
        except (KeyError, TypeError):
            raise ValueError("That dataset is not one this server offers. Pick one from the list, "
                             "or upload a CSV.") from None


def without_path(text: str, path: str | os.PathLike, name: str) -> str:
    """``text`` (a log, an error) with the server path ``path`` (as given, or resolved) replaced by ``name``."""
    for form in sorted({str(path), str(Path(path).resolve())}, key=len, reverse=True):
        text = text.replace(form, name)
    return text


def last_error_line(stderr: str) -> str:
    """The line that explains a failure: the CLI's 'error: …' line, else the last line printed."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return lines[-1] if lines else ""


@dataclass
class TrainingJob:
    name: str
    architecture: str
    epochs: int
    batch_size: int
    data_path: str
    models_dir: Path
    runs_dir: Path
    uploaded_file: Path | None = None  # a temporary copy of an uploaded CSV, removed at the end
    data_name: str = ""  # what the page calls the data (never its path on the server)
    process: subprocess.Popen | None = field(default=None, repr=False)
    started: float = field(default_factory=time.time)
    cancelled: bool = False
    _stdout: object = field(default=None, repr=False)
    _stderr: object = field(default=None, repr=False)
    _outcome: tuple[str, str] | None = None  # (state, message) once finished
    _final: tuple[str, str] | None = None  # the output's tails once finished (the files are closed)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.name

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "fer_core", "train",
            "--data", self.data_path, "--name", self.name,
            "--preset", PRESET_FOR[self.architecture], "--architecture", self.architecture,
            "--epochs", str(self.epochs), "--polish-epochs", "0", "--batch-size", str(self.batch_size),
            "--models-dir", str(self.models_dir), "--fresh",
        ]

    def start(self) -> "TrainingJob":
        self._stdout = tempfile.TemporaryFile(prefix="fer-train-out-")
        self._stderr = tempfile.TemporaryFile(prefix="fer-train-err-")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FER_MODELS_DIR": str(self.models_dir)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=self._stdout, stderr=self._stderr,
        )
        # Lower priority, so the live stream and other users keep the CPU they need. (Set from here:
        # preexec_fn is unsafe in a process with threads, as a Streamlit server is.)
        try:
            os.setpriority(os.PRIO_PROCESS, self.process.pid, 10)
        except (AttributeError, OSError):
            pass
        return self

    # --- reading its state --------------------------------------------------------------

    def _read(self, handle, tail: int = 65536) -> str:
        """The last ``tail`` bytes the process wrote. pread leaves the shared file offset alone, so
        the child keeps appending where it was."""
        if handle is None:
            return ""
        try:
            fd = handle.fileno()
            size = os.fstat(fd).st_size
            start = max(0, size - tail)
            return os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""

    def stdout(self) -> str:
        return self._read(self._stdout) if self._final is None else self._final[0]

    def stderr(self) -> str:
        return self._read(self._stderr) if self._final is None else self._final[1]

    def public(self, text: str) -> str:
        """``text`` (its log, its outcome) with the data's path on the server replaced by its name."""
        return without_path(text, self.data_path, self.data_name or Path(self.data_path).name)

    def history(self) -> dict | None:
        """The per-epoch history the CLI rewrites after each epoch (None before the first one ends)."""
        for path in (self.run_dir / "history.json", self.models_dir / self.name / "history.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):  # not written yet, or caught mid-write
                continue
            if isinstance(data, dict) and data.get("epoch"):
                return data
        return None

    def epochs_done(self) -> int:
        h = self.history()
        return len(h["epoch"]) if h else 0

    def phase(self) -> str:
        """What the run is doing now, in words."""
        state, message = self.state()
        if state != "running":
            return message
        done = self.epochs_done()
        if done == 0:
            out = self.stdout()
            return "Loading the data…" if "images; per split" not in out else "Training the first epoch…"
        if done >= self.epochs:
            return "Exporting the model and measuring it on PublicTest and PrivateTest…"
        return f"Epoch {done} of {self.epochs} done; training epoch {done + 1}…"

    def state(self) -> tuple[str, str]:
        """('running' | 'succeeded' | 'failed' | 'cancelled', message)."""
        if self._outcome is not None:
            return self._outcome
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return "running", "Training…"
        if self.cancelled:
            outcome = ("cancelled", f"Training of '{self.name}' was cancelled. No model was changed.")
        elif code == 0 and (self.models_dir / self.name / "model.tflite").exists():
            outcome = ("succeeded", f"The model '{self.name}' is ready. Pick it in the sidebar's model selector.")
        else:
            reason = last_error_line(self.stderr()) or (
                f"the training process stopped with exit code {code}" if code > 0 else
                f"the training process was stopped by signal {-code}")
            outcome = ("failed", f"Training of '{self.name}' failed: {reason.rstrip('.')}. "
                                 "No existing model was changed.")
        self._finish(outcome)
        return self._outcome

    def _finish(self, outcome: tuple[str, str]) -> None:
        with self._lock:
            if self._outcome is not None:
                return
            if self.uploaded_file is not None:
                self.uploaded_file.unlink(missing_ok=True)
            self._final = (self._read(self._stdout), self._read(self._stderr))
            for handle in (self._stdout, self._stderr):
                if handle is not None:
                    handle.close()
            if outcome[0] != "succeeded":
                # The run folder was created by this job (the name was new): leave no half-run behind.
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self._outcome = outcome

    @property
    def running(self) -> bool:
        return self.state()[0] == "running"

    def cancel(self, grace: float = 10.0) -> None:
        """Stop the run. The CLI publishes only at the very end, so nothing is written to models/."""
        if self.process is None or self.process.poll() is not None:
            return
        self.cancelled = True
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.state()


class JobRegistry:
    """All training jobs of this server process (one at a time: the machine has few cores)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.jobs: dict[str, TrainingJob] = {}
        self.latest: str | None = None

    def current(self) -> TrainingJob | None:
        return self.jobs.get(self.latest) if self.latest else None

    def running(self) -> TrainingJob | None:
        with self._lock:
            return next((j for j in self.jobs.values() if j.running), None)

    def start(self, job: TrainingJob) -> TrainingJob:
        with self._lock:
            busy = next((j for j in self.jobs.values() if j.running), None)
            if busy is not None:
                raise RuntimeError(f"The model '{busy.name}' is being trained. Wait for it or cancel it first.")
            if job.name in self.jobs and self.jobs[job.name].running:
                raise RuntimeError(f"A run named '{job.name}' is already in progress.")
            job.start()
            self.jobs[job.name] = job
            self.latest = job.name
            return job


def save_upload(data: bytes, suffix: str = ".csv") -> Path:
    """An uploaded training CSV as a private temporary file for the subprocess (deleted when it ends)."""
    fd, path = tempfile.mkstemp(prefix="fer-upload-", suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(path)
