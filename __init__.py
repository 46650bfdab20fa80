"""affectflow: public social-media videos -> face emotion tables -> cohort statistics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("affectflow")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"
