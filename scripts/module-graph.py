#!/usr/bin/env python3
"""The crate's module dependency picture, from `crate::` paths in src/.

    scripts/module-graph.py [--depth N] [--dot]

Prints every arrow between modules at the given depth (1: `rules`,
`notify`; 2: `rules::engine`), then every cycle (strongly connected set of
modules). Exits non-zero when there is a cycle, so the test command can
keep the crate free of them. Test modules (`#[cfg(test)]` blocks and
`testing.rs`/`fuzzing.rs`) are left out: they may reach anywhere.
Standard library only.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# Top-level files that sit outside the layered modules: the binary, the
# crate root, and the wiring that starts every role.
ROOTS = {"main", "lib", "app", "fuzzing"}
TEST_ONLY = {"testing", "fuzzing"}


def module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod … { … }` blocks by brace counting."""
    out, i = [], 0
    marker = re.compile(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{")
    while True:
        m = marker.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def crate_paths(text: str, here: list[str]) -> list[list[str]]:
    """Every `crate::a::b` or `super::b` path, made absolute, with
    `use crate::{a, b::c}` groups expanded."""
    paths = []
    pattern = r"\b((?:crate|(?:super::)*super)::)((?:\w+::)*)(\{|\w+)"
    for m in re.finditer(pattern, text):
        if m.group(1) == "crate::":
            base = []
        else:
            base = here[: len(here) - m.group(1).count("super")]
        prefix = base + [p for p in m.group(2).split("::") if p]
        if m.group(3) != "{":
            paths.append(prefix + [m.group(3)])
            continue
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        for item in split_group(text[m.end() : j - 1]):
            names = [p for p in re.split(r"::", item.split("{")[0]) if p.strip()]
            paths.append(prefix + [n.strip() for n in names])
    return paths


def split_group(body: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, c in enumerate(body):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    return [i.strip() for i in items if i.strip()]


def modules() -> set[tuple[str, ...]]:
    return {tuple(module_of(p)) for p in SRC.rglob("*.rs")}


def graph(depth: int) -> dict[str, set[str]]:
    known = modules()
    arrows = defaultdict(set)
    for path in sorted(SRC.rglob("*.rs")):
        here = module_of(path)
        if here[0] in ROOTS or here[-1] in TEST_ONLY:
            continue
        source = here[:depth]
        text = strip_comments(strip_tests(path.read_text()))
        for target in crate_paths(text, here):
            # The longest prefix that names a module file.
            while target and tuple(target) not in known:
                target = target[:-1]
            if not target or target[0] in ROOTS or target[-1] in TEST_ONLY:
                continue
            target = target[:depth]
            if target != source[: len(target)] and source != target[: len(source)]:
                arrows["::".join(source)].add("::".join(target))
    return arrows


def cycles(arrows: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(arrows.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(set(arrows) | {w for ws in arrows.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    depth = 1
    if "--depth" in sys.argv:
        depth = int(sys.argv[sys.argv.index("--depth") + 1])
    arrows = graph(depth)
    if "--dot" in sys.argv:
        print("digraph ishara {")
        for a in sorted(arrows):
            for b in sorted(arrows[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    for a in sorted(arrows):
        print(f"{a} -> {', '.join(sorted(arrows[a]))}")
    total = sum(len(b) for b in arrows.values())
    found = cycles(arrows)
    print(f"\n{total} arrows between {len(arrows)} modules at depth {depth}")
    for component in found:
        pairs = [
            f"{a} -> {b}"
            for a in component
            for b in sorted(arrows[a])
            if b in component
        ]
        print(f"cycle: {' '.join(component)}  ({'; '.join(pairs)})")
    print(f"{len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
