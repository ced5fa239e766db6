#!/usr/bin/env python3
"""layers — check the dependency graph of the tree against its layering.

Two graphs are checked:

1. Folders, from `#include "..."` lines: a file may include headers of its
   own folder and of the folders LAYERS puts below its own, never above.
   This runs on sources alone (make lint).

2. Files, from the objects' symbols (`nm`): file A depends on file B when A
   uses a function or variable that B defines.  This is what "A calls B"
   means to the linker, whatever headers say, so a header shared by two
   files that call each other cannot hide a cycle.  Any cycle is reported
   with the symbols that close it.  Needs a build (BUILD=build).

Usage: scripts/layers.py [--objects BUILD] [--graph]
Exit status 1 when a rule is broken.
"""
import collections
import os
import re
import subprocess
import sys

# Lowest first.  A folder may use every folder of an earlier rank; folders of
# one rank do not use each other.  bench/ and tests/ sit on top.
LAYERS = [
    ["core"],
    ["core/mfi", "core/tenant", "core/trace"],
    ["tls", "queue"],
    ["net"],
    ["core/ctl"],
    ["core/http", "core/cluster"],
    ["core/daemon"],
    ["bench"],
]
RANK = {f: i for i, row in enumerate(LAYERS) for f in row}
ROOTS = ["core", "net", "tls", "queue", "bench"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    for root in ROOTS:
        for d, _, fs in os.walk(root):
            for f in sorted(fs):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def check_folders():
    bad = []
    edges = collections.defaultdict(set)
    for p in sources():
        src = os.path.dirname(p)
        if src not in RANK:
            bad.append(f"{p}: folder {src} has no place in LAYERS (scripts/layers.py)")
            continue
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        for inc in INCLUDE.findall(text):
            dst = os.path.dirname(inc)
            if dst == src or not dst:
                continue
            edges[src].add(dst)
            if dst not in RANK:
                bad.append(f"{p}: includes {inc}, a folder with no place in LAYERS")
            elif RANK[dst] >= RANK[src]:
                bad.append(f"{p}: includes {inc}: {dst} is not below {src}")
    return edges, bad


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True,
                         text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True,
                         check=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, used


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_files(build):
    # one program's main files (sluiced.c, sluice_sink.c, ...) are leaves
    objs = {}
    for p in sources():
        if p.endswith(".c"):
            o = os.path.join(build, p[:-2] + ".o")
            if os.path.exists(o):
                objs[p] = o
    if not objs:
        return {}, [f"no objects under {build}/: build first"]
    defs, uses = {}, {}
    owner = {}
    for p, o in objs.items():
        defs[p], uses[p] = symbols(o)
        for s in defs[p]:
            if s != "main":
                owner.setdefault(s, p)
    graph = collections.defaultdict(set)
    why = collections.defaultdict(set)
    for p in objs:
        for s in uses[p]:
            q = owner.get(s)
            if q is not None and q != p:
                graph[p].add(q)
                why[(p, q)].add(s)
    bad = []
    for comp in sccs(graph):
        lines = [f"cycle among {', '.join(comp)}:"]
        for a in comp:
            for b in sorted(graph[a]):
                if b in comp:
                    syms = sorted(why[(a, b)])
                    more = f" (+{len(syms) - 3})" if len(syms) > 3 else ""
                    lines.append(f"    {a} -> {b}: {', '.join(syms[:3])}{more}")
        bad.append("\n".join(lines))
    return graph, bad


def main():
    args = sys.argv[1:]
    build = None
    if "--objects" in args:
        build = args[args.index("--objects") + 1]
    edges, bad = check_folders()
    if "--graph" in args:
        print("folder -> folders it includes:")
        for a in sorted(edges, key=lambda f: (RANK.get(f, 99), f)):
            print(f"  {a:12} -> {' '.join(sorted(edges[a], key=lambda f: RANK.get(f, 99)))}")
    nfiles = 0
    if build is not None:
        graph, fbad = check_files(build)
        nfiles = len(graph)
        bad += fbad
    for b in bad:
        print("layers:", b, file=sys.stderr)
    what = "folders" + (f" and {nfiles} files' symbols" if build else "")
    print(f"layers: {what}: {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
