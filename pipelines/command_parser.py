"""The argument parser of every `affectflow` command: a mistake in its arguments is one
line and exit 2 (argparse's own prints the whole usage before it), its values escaped."""

from __future__ import annotations

import argparse
from typing import NoReturn

from affectflow.schemas.printable import printable


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose error is one line: `affectflow CMD: what (CMD --help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, printable(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")
