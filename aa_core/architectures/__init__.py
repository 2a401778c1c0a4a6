"""The versioned architecture registry: immutable ``name@version`` → spec tables (torch-free)."""
from ._registry import (
    LOCK_NAME,
    Architecture,
    ArchitectureDeprecationWarning,
    Registry,
    core_dir,
    folder_architectures,
    folders,
    lock_problems,
    read_architecture_dir,
    read_lock,
    registry,
    reset,
    write_lock,
)

__all__ = [
    "LOCK_NAME", "Architecture", "ArchitectureDeprecationWarning", "Registry", "core_dir", "folder_architectures", "folders",
    "lock_problems", "read_architecture_dir", "read_lock", "registry", "reset", "write_lock",
]
