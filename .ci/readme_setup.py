"""Print the README's set-up lines, one a line, for `.ci/run` (and the clean-install test) to run as written.

The set-up lines are the commands of the first ```bash block under the README's "## Set up and run"
heading, without the line that starts the app (`streamlit run ...`). One source of truth: what a
new user copies from the README is what CI proves on a fresh machine.

    python .ci/readme_setup.py [README.md]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HEADING = "## Set up and run"
README = Path(__file__).resolve().parent.parent / "README.md"


class SetupBlockError(ValueError):
    """The README has no set-up block where CI looks for it."""


def setup_lines(readme: str) -> list[str]:
    """The commands of the set-up block (comments and blank lines dropped, `streamlit run` left out)."""
    heading = re.search(rf"^{re.escape(HEADING)}[ \t]*$", readme, re.M)
    if heading is None:
        raise SetupBlockError(f"the README has no '{HEADING}' heading")
    section = readme[heading.end():]
    section = section[: m.start()] if (m := re.search(r"^## ", section, re.M)) else section
    block = re.search(r"^```bash\n(.*?)^```", section, re.M | re.S)
    if block is None:
        raise SetupBlockError(f"the README's '{HEADING}' section has no ```bash block")
    lines = []
    for raw in block.group(1).splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("streamlit run"):
            continue
        lines.append(line)
    if not lines:
        raise SetupBlockError(f"the README's '{HEADING}' block has no set-up command")
    return lines


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else README
    try:
        print("\n".join(setup_lines(path.read_text(encoding="utf-8"))))
    except (OSError, SetupBlockError) as exc:
        sys.exit(f"error: {path}: {exc}")
