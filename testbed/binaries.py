"""The servers the testbed runs come from Debian packages; a missing one is a one-line error."""

from __future__ import annotations

import os
import shutil

from chaos.errors import PrerequisiteError

PACKAGES = {
    "redis-server": "redis-server",
    "haproxy": "haproxy",
    "prometheus": "prometheus",
    "prometheus-node-exporter": "prometheus-node-exporter",
}
"""Binary name -> the Debian package that installs it."""
_SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class MissingBinaryError(PrerequisiteError):
    """A server binary the testbed needs is not installed."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(f"{binary} is not installed (not on PATH nor in {', '.join(_SYSTEM_DIRS)})")
        self.binary, self.package = binary, package
        self.hint = f"install the Debian package: sudo apt-get install {package}"


def find_binary(name: str) -> str:
    """Absolute path of `name`; raises MissingBinaryError naming the package to install."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + os.pathsep.join(_SYSTEM_DIRS)
    found = shutil.which(name, path=path)
    if found is None:
        raise MissingBinaryError(name, PACKAGES.get(name, name))
    return found


def find_all(names: tuple[str, ...] = tuple(PACKAGES)) -> dict[str, str]:
    """Paths of every named binary; the error names the first one missing."""
    return {name: find_binary(name) for name in names}
