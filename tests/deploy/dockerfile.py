"""The Dockerfile read as data, so the tests replay the image's own steps rather than a copy of them."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for name, argument in self.instructions if name == keyword]

    def last(self, keyword: str) -> str:
        return self.all(keyword)[-1]


def stages(path: Path) -> list[Stage]:
    """The build stages in order, each a list of (INSTRUCTION, arguments) with continuation lines joined."""
    found: list[Stage] = []
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _space, argument = line.partition(" ")
        keyword, argument = keyword.upper(), argument.strip()
        if keyword == "FROM":
            words = argument.split()
            found.append(Stage(words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        found[-1].instructions.append((keyword, argument))
    return found


def copied_sources(stage: Stage) -> list[str]:
    """What the stage's COPY instructions take from the build context (not from another stage)."""
    sources: list[str] = []
    for argument in stage.all("COPY"):
        words = shlex.split(argument)
        if not any(word.startswith("--from") for word in words):
            sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def environment(stage: Stage) -> dict[str, str]:
    """The stage's ENV KEY=VALUE pairs."""
    pairs: dict[str, str] = {}
    for argument in stage.all("ENV"):
        for word in shlex.split(argument):
            key, _equals, value = word.partition("=")
            pairs[key] = value
    return pairs


def exec_form(argument: str) -> list[str]:
    """A CMD or ENTRYPOINT in JSON (exec) form."""
    value = json.loads(argument)
    assert isinstance(value, list) and all(isinstance(word, str) for word in value), argument
    return value
