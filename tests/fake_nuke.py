"""A minimal stand-in for the `nuke` module that records what the plugin does. `execute` renders a Write by
writing the image its input node provides (test nodes carry a `render(frame) -> (pixels, channels)`)."""

from __future__ import annotations

import types

from videomatte_client import sequence_path
from videomatte_hq.io.images import write_image


class Knob:
    def __init__(self, value=None) -> None:
        self._value = value
        self.executed = 0

    def value(self):
        return self._value

    evaluate = value  # no TCL in the fakes' knob values

    def setValue(self, value) -> None:
        self._value = value

    def execute(self) -> None:
        self.executed += 1


class Node:
    def __init__(self, cls: str, name: str, knobs: dict | None = None, inputs=(), frames=(1, 1), render=None,
                 children: dict | None = None) -> None:
        self._cls, self._name, self._inputs, self._frames = cls, name, list(inputs), frames
        self.knobs = {k: Knob(v) for k, v in (knobs or {}).items()}
        self.render = render
        self.children = children or {}

    def __getitem__(self, name: str) -> Knob:
        return self.knobs[name]

    def knob(self, name: str):
        return self.knobs.get(name)

    def Class(self) -> str:
        return self._cls

    def name(self) -> str:
        return self._name

    def input(self, i: int):
        return self._inputs[i] if i < len(self._inputs) else None

    def setInput(self, i: int, node) -> None:
        self._inputs[i:i + 1] = [node]

    def firstFrame(self) -> int:
        return self._frames[0]

    def lastFrame(self) -> int:
        return self._frames[1]

    def node(self, name: str):
        return self.children[name]


def make_module(current_frame: int = 1, proxy: bool = False, cancel_after: int | None = None,
                root_knobs: dict | None = None):
    """The fake module; `calls` records (function, args) in order. `root_knobs`: the Root's colour management."""
    nuke = types.ModuleType("nuke")
    calls: list[tuple] = []
    root = Node("Root", "root", {"proxy": proxy, **(root_knobs or {})})
    nuke.calls = calls

    def write(**knobs):
        node = Node("Write", f"Write{len(calls)}", knobs, inputs=[None])
        calls.append(("nodes.Write", knobs))
        return node

    def execute(node, first, last):
        calls.append(("execute", node.name(), first, last))
        source = node.input(0)
        for frame in range(first, last + 1):
            pixels, channels = source.render(frame)
            write_image(sequence_path(node["file"].value(), frame), pixels, "half", channels)

    class ProgressTask:
        instances: list = []

        def __init__(self, name: str) -> None:
            self.progress, self.messages, self.polls = [], [], 0
            ProgressTask.instances.append(self)

        def setProgress(self, value: int) -> None:
            self.progress.append(value)

        def setMessage(self, text: str) -> None:
            self.messages.append(text)

        def isCancelled(self) -> bool:
            self.polls += 1
            return cancel_after is not None and self.polls > cancel_after

    nuke.nodes = types.SimpleNamespace(Write=write)
    nuke.execute = execute
    nuke.delete = lambda node: calls.append(("delete", node.name()))
    nuke.root = lambda: root
    nuke.frame = lambda: current_frame
    nuke.message = lambda text: calls.append(("message", text))
    nuke.executeInMainThread = lambda fn, args=(), kwargs=None: fn(*args, **(kwargs or {}))  # inline, recorded
    nuke.ProgressTask = ProgressTask
    return nuke
