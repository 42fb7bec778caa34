"""A script, not a library: it exits when imported (a user error memreplay must report in one line)."""

import sys

sys.exit(3)
