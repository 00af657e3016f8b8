"""Your own code (custom metrics) and configs, used only when no other user can change them.

A metric's module runs as you: in `moelab metric add|compute` and in the training worker.
So its file, its folder (the path recorded with it) and any package folder must belong to
you (or root) and be writable by nobody else, not even your group; the folders above may
also be world-writable with the sticky bit, as /tmp, since others cannot rename what is
yours there. A module that lies in /tmp itself is refused. Modules of that folder are
compiled from their source every time: a bytecode cache (`__pycache__/*.pyc`) is never
read, so a cache planted to match the source's size and time cannot run in its place.

A `--config` file names metrics (code), so it must be yours (or root's) and not writable by
others. Standard library only.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import stat
import sys

from .service.safefiles import user_name

FIX = ("moelab runs a metric's code as you and will not load code another user could change:"
       " move it to a folder only you can write (e.g. `mkdir -m 700 ~/moelab-metrics`)")


class UntrustedCode(ImportError):
    """Code or a config that another user owns or can change. One line."""


def file_problem(path: str, st: os.stat_result, writable: int = 0o022,
                 sticky_ok: bool = False) -> str | None:
    """Why `path` (with its stat) is not safe to run or read as code; None when it is."""
    if st.st_uid not in (os.getuid(), 0):
        return f"{path} belongs to {user_name(st.st_uid)}, not you"
    if st.st_mode & writable and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        who = "anyone" if st.st_mode & writable & 0o002 else "its group"
        return f"{path} can be changed by {who}"
    return None


def folder_problem(folder: str) -> str | None:
    """Why code in `folder` is not safe: it, or a folder above it, is another user's or
    writable by others (folders above may be sticky, as /tmp). None when it is safe."""
    current = os.path.realpath(folder)
    strict = True
    while True:
        try:
            st = os.stat(current)
        except OSError as err:
            return f"cannot use {current}: {err.strerror or err}"
        problem = file_problem(current, st, sticky_ok=not strict)
        if problem:
            return problem
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current, strict = parent, False


def check_folder(folder: str) -> None:
    problem = folder_problem(folder)
    if problem:
        raise UntrustedCode(f"{problem}; {FIX}")


class SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles the source each time, never reading or writing __pycache__, and refuses a
    source file that another user owns or can write."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        with open(path, "rb") as fh:
            problem = file_problem(path, os.fstat(fh.fileno()))
            if problem:
                raise UntrustedCode(f"{problem}; {FIX}", name=fullname, path=path)
            source = fh.read()
        return compile(source, path, "exec", dont_inherit=True)


def _finder(folder: str):
    return importlib.machinery.FileFinder(
        folder, (SourceOnlyLoader, importlib.machinery.SOURCE_SUFFIXES))


def _trust(folder: str) -> None:
    """Check `folder` and make every module found in it load from source only."""
    check_folder(folder)
    sys.path_importer_cache[folder] = _finder(folder)


def found_in(folder: str, name: str) -> bool:
    """Whether the top-level module `name` is in `folder` (nothing is run)."""
    return os.path.isdir(folder) and _finder(folder).find_spec(name) is not None


def import_module(module_name: str, path: str = ""):
    """Import `module_name`, from the folder `path` when it is there (its modules from their
    source, after the checks above), else from sys.path (its file and folders checked too).
    Raises UntrustedCode, ImportError or whatever the module raises."""
    parts = module_name.split(".")
    if path:
        if not os.path.isabs(path):
            raise UntrustedCode(f"a metric's path must be an absolute folder, not {path!r}")
        path = os.path.realpath(path)
    top = None
    if path and os.path.isdir(path):
        top = _finder(path).find_spec(parts[0])
    if top is not None and top.loader is None:
        raise ImportError(f"{path}/{parts[0]} is a folder without __init__.py; make it a "
                          "package or name a module", name=parts[0])
    if top is not None:
        _trust(path)
        if path not in sys.path:
            sys.path.append(path)  # modules beside it (helpers) import as before
    else:
        top = importlib.machinery.PathFinder.find_spec(parts[0])
        if top is None:
            return importlib.import_module(module_name)  # built in, or ModuleNotFoundError
        _check_installed(top)
    module = _load(top)
    for i in range(1, len(parts)):
        name = ".".join(parts[:i + 1])
        if name in sys.modules:
            module = sys.modules[name]
            continue
        where = getattr(module, "__path__", None)
        spec = None if where is None else importlib.machinery.PathFinder.find_spec(name, where)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if not isinstance(spec.loader, SourceOnlyLoader):
            _check_installed(spec)
        module = _load(spec)
    return module


def _check_installed(spec) -> None:
    """A module from sys.path: its file and the folders above it."""
    if spec.origin and os.path.isfile(spec.origin):
        problem = folder_problem(os.path.dirname(spec.origin))
        problem = problem or file_problem(spec.origin, os.stat(spec.origin))
        if problem:
            raise UntrustedCode(f"{problem}; {FIX}", name=spec.name)


def _load(spec):
    """Execute the module of `spec` (a fresh module unless the same file is loaded)."""
    loaded = sys.modules.get(spec.name)
    if loaded is not None and getattr(loaded, "__file__", None) == spec.origin:
        return loaded
    if isinstance(spec.loader, importlib.machinery.SourcelessFileLoader):
        raise UntrustedCode(f"{spec.origin} is compiled bytecode; give the module's source")
    if isinstance(spec.loader, SourceOnlyLoader):
        for folder in spec.submodule_search_locations or ():
            _trust(folder)  # a package's own modules: from source too
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    parent, _, child = spec.name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def check_config_file(path, st: os.stat_result) -> str | None:
    """Why a --config file is not safe to use (its metrics are code); None when it is."""
    return file_problem(str(path), st, writable=0o002)
