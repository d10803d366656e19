"""Secret detection in built artifacts: provider rules as data (`rules`), a one-pass multi-pattern
engine with hyperscan or `re` (`engine`). The check module `hardnut.checks.secrets` applies them to
every file of an artifact, to archives inside it and to Nuitka's constants blob."""

from hardnut.secrets.engine import Engine, EngineUnavailable, FileScan, RawMatch, scan_paths
from hardnut.secrets.rules import SECRET_RULES, SecretRule

__all__ = ["Engine", "EngineUnavailable", "FileScan", "RawMatch", "SECRET_RULES", "SecretRule", "scan_paths"]
