#!/usr/bin/env python3
"""The house rules the test command checks: no Rust file over the line limit and
no import cycle between sibling modules, in every crate of the workspace.

A reference from module a::x to module b::y (with a and b siblings under one
parent) is an edge a -> b at that parent. A module may always use its ancestors
(`super::`) and its own descendants; sibling edges must form no cycle at any level.
Exit status 1 with a report when a rule is broken.
"""
import re
import sys
from pathlib import Path

MAX_LINES = 400
ROOT = Path(__file__).resolve().parent.parent
# Crate roots: (source folder, root file). Tests are checked for size only.
CRATES = [
    ("host/src", "lib.rs"),
    ("guest/src", "lib.rs"),
    ("guest/sdk/src", "lib.rs"),
]
SIZE_ONLY = ["tests", "host/build.rs", "guest/examples", "guest/tests"]

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
USE_RE = re.compile(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*" + IDENT + r")+)")
COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING_RE = re.compile(r'"(?:\\.|[^"\\])*"')


def module_path(src: Path, file: Path, root_file: str) -> tuple:
    rel = file.relative_to(src)
    parts = list(rel.parts)
    if parts == [root_file]:
        return ()
    last = parts[-1][:-3]
    return tuple(parts[:-1]) if last == "mod" else tuple(parts[:-1] + [last])


def expand_use(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"] (whitespace removed)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+" + IDENT, "", tree))
    out = []

    def walk(prefix: str, text: str):
        depth, start, items = 0, 0, []
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(text[start:i])
                start = i + 1
        items.append(text[start:])
        for item in filter(None, items):
            if "{" in item:
                head, rest = item.split("{", 1)
                walk(prefix + head, rest[: rest.rindex("}")])
            else:
                out.append(prefix + item)

    walk("", tree)
    return out


def resolve(here: tuple, path: str) -> tuple:
    segs = [s for s in re.sub(r"\s+", "", path).split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs.pop(0) == "super":
                if not base:
                    return None
                base.pop()
    else:
        return None
    return tuple(base + segs)


def crate_edges(src: Path, root_file: str):
    files = sorted(src.rglob("*.rs"))
    modules = {module_path(src, f, root_file): f for f in files}
    edges = {}  # parent -> {(a, b): example}
    for module, file in modules.items():
        text = STRING_RE.sub('""', COMMENT_RE.sub("", file.read_text()))
        paths = []
        for m in USE_RE.finditer(text):
            paths += expand_use(m.group(1))
        text_wo_use = USE_RE.sub("", text)
        paths += [m.group(1) + m.group(2) for m in PATH_RE.finditer(text_wo_use)]
        for p in paths:
            target = resolve(module, p)
            if target is None:
                continue
            while target and target not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(module), len(target)) and module[common] == target[common]:
                common += 1
            if common == len(module) or common == len(target):
                continue  # an ancestor or a descendant
            parent = module[:common]
            a, b = module[common], target[common]
            edges.setdefault(parent, {}).setdefault((a, b), f"{file.relative_to(ROOT)} uses {p.strip()}")
    return modules, edges


def cycles(pairs) -> list:
    graph = {}
    for a, b in pairs:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return comps


def main() -> int:
    problems = []
    checked = []
    for folder, root_file in CRATES:
        src = ROOT / folder
        if not (src / root_file).exists():
            continue
        checked.append(src)
        _, edges = crate_edges(src, root_file)
        for parent, pairs in sorted(edges.items()):
            for comp in cycles(pairs):
                where = "::".join(parent) or "crate"
                problems.append(f"import cycle in {folder} under {where}: {' <-> '.join(comp)}")
                for (a, b), example in sorted(pairs.items()):
                    if a in comp and b in comp:
                        problems.append(f"    {a} -> {b}: {example}")
    sized = [f for src in checked for f in src.rglob("*.rs")]
    for extra in SIZE_ONLY:
        p = ROOT / extra
        sized += [p] if p.is_file() else [f for f in p.rglob("*.rs") if "target" not in f.parts]
    for f in sorted(set(sized)):
        n = len(f.read_text().splitlines())
        if n > MAX_LINES:
            problems.append(f"{f.relative_to(ROOT)}: {n} lines (limit {MAX_LINES})")
    for p in problems:
        print(p)
    if problems:
        print(f"check-structure: {sum(not p.startswith(' ') for p in problems)} problem(s)")
        return 1
    print(f"check-structure: {len(sized)} files within {MAX_LINES} lines, no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
