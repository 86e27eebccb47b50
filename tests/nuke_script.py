"""A small reader for Nuke's TCL-like script format (.nk / .gizmo), enough to test our gizmo: node blocks
with their knobs and addUserKnob lines, and the input wiring from `set`/`push`/`inputs` stack semantics.
(The PyPI parsers fail on real Group/gizmo syntax.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Node:
    cls: str
    knobs: dict[str, str] = field(default_factory=dict)
    user_knobs: dict[str, dict] = field(default_factory=dict)  # name -> {"type": int, "label", "script", "flags"}
    inputs: list[Node | None] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)  # for Group/Gizmo

    @property
    def name(self) -> str:
        return self.knobs.get("name", "")


def tokens(text: str) -> list[str]:
    """Words, quoted strings (backslash escapes kept), and braces; `{...}` values stay one token."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#" and (i == 0 or text[i - 1] == "\n"):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c in "{}":
            out.append(c)
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '{}"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j])
            i = j
    return out


def unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), token[1:-1])
    return token


def _braced(toks: list[str], i: int) -> tuple[str, int]:
    """The raw text of a `{...}` value starting at toks[i] == '{' (nested braces kept)."""
    depth, parts = 0, []
    while True:
        t = toks[i]
        depth += t == "{"
        depth -= t == "}"
        parts.append(t)
        i += 1
        if depth == 0:
            return " ".join(parts)[2:-2], i


def _user_knob(spec: str) -> tuple[str, dict]:
    toks = tokens(spec)
    kind, name, info, i = int(toks[0]), toks[1], {"flags": []}, 2
    while i < len(toks):
        t = toks[i]
        if t in ("l", "t", "T") and i + 1 < len(toks):
            if toks[i + 1] == "{":
                value, i = _braced(toks, i + 1)
            else:
                value, i = unquote(toks[i + 1]), i + 2
            info[{"l": "label", "t": "tooltip", "T": "script"}[t]] = value
        elif t == "M" and toks[i + 1] == "{":
            value, i = _braced(toks, i + 1)
            info["menu"] = value.split()
        elif t == "R":
            info["range"], i = (float(toks[i + 1]), float(toks[i + 2])), i + 3
        else:
            info["flags"].append(t)
            i += 1
    return name, {"type": kind, **info}


def parse(text: str) -> list[Node]:
    """Top-level nodes of a script; a Gizmo/Group's inner nodes are in `.children`, wired by the stack."""
    toks = tokens(text)
    top: list[Node] = []
    frames = [(top, [], {})]  # (node list, stack, set variables) for each open group
    i = 0
    while i < len(toks):
        t = toks[i]
        nodes, stack, saved = frames[-1]
        if t == "set" and toks[i + 2] == "[stack":
            saved[toks[i + 1]] = stack[-1 - int(toks[i + 3].rstrip("]"))]
            i += 4
        elif t == "push":
            stack.append(None if toks[i + 1] == "0" else saved[toks[i + 1].lstrip("$")])
            i += 2
        elif t == "end_group":
            frames.pop()
            i += 1
        elif t == "version":  # version 14.0 v5
            i += 3
        elif t == "add_layer":
            i = _braced(toks, i + 1)[1]
        elif i + 1 < len(toks) and toks[i + 1] == "{":
            node, i = Node(t), i + 2
            while toks[i] != "}":
                key = toks[i]
                if toks[i + 1] == "{":
                    value, i = _braced(toks, i + 1)
                else:
                    value, i = unquote(toks[i + 1]), i + 2
                if key == "addUserKnob":
                    name, info = _user_knob(value)
                    node.user_knobs[name] = info
                else:
                    node.knobs[key] = value
            i += 1
            count = int(node.knobs.get("inputs", 1))
            node.inputs = [stack.pop() if stack else None for _ in range(count)]  # top of stack = input 0
            nodes.append(node)
            stack.append(node)
            if t in ("Gizmo", "Group"):
                frames.append((node.children, [], {}))
        else:
            i += 1
    return top
