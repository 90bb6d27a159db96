"""Reading YAML files into plain data, turning every I/O, encoding or syntax problem into a one-line error.

A file is read only when it is a regular file of at most `MAX_BYTES`, its bytes are UTF-8 text, and
its YAML nests at most `MAX_DEPTH` levels deep with aliases that stand for at most `MAX_ALIASED`
nodes in all. Each limit keeps a damaged or hostile file from costing unbounded time or memory (a
"billion laughs" alias bomb is a few hundred bytes); the seed's files are far inside all of them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import Node, ScalarNode

from chaos.errors import InvalidSpecError, Problem

MAX_BYTES = 1024 * 1024
"""Largest file read (1 MiB; Kubernetes objects are at most about 1.5 MiB)."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists."""
MAX_ALIASED = 10_000
"""Most nodes that the aliases (`*name`) of one document may stand for, counted as if written out."""


def path_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file (as the rest of a message: "does not exist"), or None."""
    if "\0" in str(path):
        return "is not a usable path (it holds a NUL byte)"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:  # a name longer than the system allows, a file in the way, no permission
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def is_folder(path: Path) -> bool:
    """Whether `path` names a folder (False when it cannot be looked at: reading it then says why)."""
    try:
        return path.is_dir()
    except OSError:  # a name longer than the system allows, say
        return False


def read_text(path: Path) -> str:
    """The UTF-8 text of the file at `path`; raises InvalidSpecError when it cannot be had."""
    file = str(path)
    reason = path_problem(path)
    if reason:
        raise InvalidSpecError([Problem(file, "", file, reason)])
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidSpecError([Problem(file, "", file, f"cannot be read: {exc.strerror or exc}")]) from exc
    if len(data) > MAX_BYTES:
        too_big = f"is larger than {MAX_BYTES // 1024 // 1024} MiB; chaoslab reads no file that big"
        raise InvalidSpecError([Problem(file, "", None, too_big)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        raise InvalidSpecError(
            [Problem(file, f"line {line}, column {column}", None, f"is not UTF-8 text (byte 0x{byte:02x})")]
        ) from exc


def read_documents(path: Path) -> list[Any]:
    """All YAML documents in `path` (empty documents dropped)."""
    text = read_text(path)
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.reader.ReaderError as exc:
        where = _line_column(text, exc.position)
        reason = f"holds character #x{exc.character:04x}, which YAML does not allow"
        raise InvalidSpecError([Problem(str(path), where, None, f"is not valid YAML: {reason}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidSpecError([Problem(str(path), where, None, f"is not valid YAML: {reason}")]) from exc


def read_document(path: Path) -> Any:
    """The single YAML document in `path`."""
    docs = read_documents(path)
    if len(docs) != 1:
        raise InvalidSpecError([Problem(str(path), "", len(docs), "must hold exactly one YAML document")])
    return docs[0]


def _line_column(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the nesting and alias limits, and with scalars that the safe loader
    cannot make into values (`2001-02-30`, `!!int ""`, a 5000-digit number) reported as YAML errors
    rather than raised as whatever Python raised while trying."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._written = 0  # nodes so far in this document, aliases counted as what they stand for
        self._aliased = 0  # the part of _written that aliases stand for
        self._sizes: dict[int, int] = {}  # id(anchored node) -> its size written out

    def compose_document(self) -> Node | None:
        self._written, self._aliased, self._sizes = 0, 0, {}
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        alias = isinstance(event, yaml.AliasEvent)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nests deeper than {MAX_DEPTH} levels", event.start_mark)
            start = self._written
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            size = self._sizes.get(id(node), 1)  # not yet known: an alias inside its own anchor
            self._written += size
            self._aliased += size
            if self._aliased > MAX_ALIASED:
                raise ComposerError(
                    None, None, f"has aliases that stand for more than {MAX_ALIASED} nodes", event.start_mark
                )
        else:
            self._written += 1
            if getattr(event, "anchor", None) is not None:
                self._sizes[id(node)] = self._written - start
        return node


def _scalar(construct: Callable[[yaml.SafeLoader, ScalarNode], Any], what: str) -> Any:
    """Wrap a safe-loader scalar constructor: a value it cannot make becomes a ConstructorError."""

    def checked(loader: yaml.SafeLoader, node: ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError, KeyError, IndexError, AttributeError) as exc:
            # What PyYAML's constructors raise for such text: int()/float()/date() errors for
            # `0x_`, `2001-02-30` or too many digits, and lookups that miss for `!!bool x`,
            # `!!int ""` or `!!timestamp x`.
            message = f"cannot read {node.value[:40]!r} as {what}"
            raise ConstructorError(None, None, message, node.start_mark) from exc

    return checked


_SCALARS = {"int": "an integer", "float": "a number", "bool": "true or false", "timestamp": "a date"}
for _tag, _what in _SCALARS.items():
    _constructor = getattr(yaml.SafeLoader, f"construct_yaml_{_tag}")
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _scalar(_constructor, _what))
