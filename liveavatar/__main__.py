"""`python -m liveavatar` opens the desktop app (same as `liveavatar app`)."""

import sys

from liveavatar.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
