#!/usr/bin/env python3
"""Django's command-line utility for tapebackup."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tapebackup.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except BrokenPipeError:
        # `manage.py jobs list | head`: the reader went away. Say nothing (as ls and tar do);
        # point stdout at /dev/null so that Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a program killed by it


if __name__ == "__main__":
    main()
