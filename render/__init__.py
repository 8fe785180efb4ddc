"""Pure functions that render the files landing on the host: plain values in, text out."""

from pathlib import Path

# The scripts and templates shipped to the host as they are (or filled in).
HOST_FILES = Path(__file__).resolve().parents[1] / "host-files"
