"""Text the lm family trains on, found on the machine: nothing is downloaded.

Built-in domains (README.md: "Small language models" gives sizes and licences):
  code  the Python standard library's own .py source (sysconfig's stdlib path; its tests,
        site-packages and caches left out)
  docs  the Python Language Reference's topics as English text (pydoc_data.topics, which
        every Python ships for `help()`)
  data  matplotlib's (a dependency) configuration and data text: matplotlibrc, its style
        sheets and its AFM font-metric files
A domain of your own is a text file or a folder of them (data.files). A domain is a list of
documents in a fixed order (by a hash of each document's name, so a budget takes a spread of
them, not the alphabet's first); every document whose position is a multiple of
round(1 / heldout) is held out, the others train, until the training text reaches the
domain's character budget (and the held-out text its share of it). The split depends only
on the documents, so it is the same on every run.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ...config import ConfigError

_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
_MAX_FILE = 4 << 20  # a file bigger than this in a folder corpus is no text a model learns from


@dataclass(frozen=True)
class Domain:
    name: str
    source: str  # where the text came from, for the store and the README
    train: tuple[str, ...]  # documents
    heldout: tuple[str, ...]

    @property
    def train_chars(self) -> int:
        return sum(map(len, self.train))

    @property
    def heldout_chars(self) -> int:
        return sum(map(len, self.heldout))

    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (self.train, self.heldout):
            for doc in part:
                h.update(doc.encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
            h.update(b"\x01")
        return h.hexdigest()[:16]


def load(domains: tuple[str, ...], files: dict[str, str], chars: int,
         heldout: float) -> list[Domain]:
    """Every domain's split text; a ConfigError naming each corpus that is missing or empty."""
    out, problems = [], []
    for name in domains:
        try:
            source, docs = _documents(name, files.get(name))
        except OSError as err:
            problems.append(f"data: the {name!r} corpus cannot be read ({err.strerror or err})")
            continue
        if source is None:
            problems.append(f"data: the {name!r} corpus is missing: no {docs} here")
            continue
        domain = _split(name, source, docs, chars, heldout)
        if domain is None:
            problems.append(f"data: the {name!r} corpus ({source}) is empty")
            continue
        out.append(domain)
    for d in out:
        if not d.train or not d.heldout:
            problems.append(f"data: the {d.name!r} corpus ({d.source}) has too few documents "
                            "to hold some out; give it more text")
    if problems:
        raise ConfigError(problems)
    return out


def _split(name: str, source: str, docs: list, chars: int, heldout: float) -> Domain | None:
    """docs: (key, text or a function that reads it), read only as far as the budget goes;
    None when no document has text."""
    docs = sorted(docs, key=lambda kd: hashlib.blake2b(kd[0].encode(), digest_size=8).digest())
    every = max(2, round(1 / heldout))
    held_chars = int(chars * heldout / (1 - heldout))  # held-out text in the same share
    train, held, n_train, n_held, i = [], [], 0, 0, 0
    for _, text in docs:
        if n_train >= chars and n_held >= held_chars:
            break
        text = text() if callable(text) else text
        if text is None or not text.strip():
            continue
        i += 1
        if i % every == 0:
            if n_held < held_chars:
                held.append(text[:held_chars - n_held])
                n_held += len(held[-1])
        elif n_train < chars:
            train.append(text[:chars - n_train])  # the budget may cut the last document
            n_train += len(train[-1])
    if not train and not held:
        return None
    if not held and len(train) == 1:  # one document (a single file): its tail is held out
        text = train[0]
        cut = int(len(text) * (1 - heldout))
        train, held = [text[:cut]], [text[cut:]]
    return Domain(name, source, tuple(train), tuple(held))


def _documents(name: str, path: str | None) -> tuple[str | None, object]:
    """(source, [(key, text)]), or (None, what was looked for) when the corpus is missing."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            return None, f"file or folder {path}"
        return str(p), list(_folder(p) if p.is_dir() else [(p.name, _read(p) or "")])
    if name == "code":
        root = Path(sysconfig.get_paths()["stdlib"])
        if not root.is_dir():
            return None, f"Python standard library at {root}"
        return f"Python {sysconfig.get_python_version()} standard library, {root}", \
            list(_folder(root, "*.py"))
    if name == "docs":
        try:
            from pydoc_data.topics import topics
        except ImportError:
            return None, "pydoc_data (the Language Reference's topics)"
        return "the Python Language Reference (pydoc_data.topics)", \
            [(k, str(v)) for k, v in topics.items()]
    if name == "data":
        import importlib.util
        spec = importlib.util.find_spec("matplotlib")
        if spec is None or not spec.submodule_search_locations:
            return None, "matplotlib data (mpl-data)"
        root = Path(list(spec.submodule_search_locations)[0]) / "mpl-data"
        if not root.is_dir():
            return None, f"matplotlib data at {root}"
        docs = [d for pattern in ("matplotlibrc", "*.mplstyle", "*.afm")
                for d in _folder(root, pattern)]
        return f"matplotlib's rc file, style sheets and AFM font metrics, {root}", docs
    return None, f"domain {name}"


def _folder(root: Path, pattern: str = "*"):
    """(relative path, reader) of the files matching pattern under root; the skipped folders
    are never entered (the stdlib's tests and site-packages are most of its files)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        found += [Path(dirpath, f) for f in filenames if fnmatch.fnmatch(f, pattern)]
    for p in sorted(found):
        if p.is_file() and not p.is_symlink() and p.stat().st_size <= _MAX_FILE:
            yield str(p.relative_to(root)), (lambda p=p: _read(p))


def _read(p: Path) -> str | None:
    try:
        return p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):  # not text (or not UTF-8): not part of the corpus
        return None
