#!/usr/bin/env python3
"""Prints the crate's import graph and its cycles, at two levels.

Top level: `a -> b` when a file of module `a` (or its children) names `crate::b`.
Submodules: `auth::s3 -> auth::sigv4` when a file names an item of that module (through
`crate::`, `super::` or a `use` group `crate::{x, y}`). Edges between a module and its own
children are left out of the submodule cycles: a `mod.rs` and the files under it are one
module seen from outside. Test code (`#[cfg(test)]` onwards, `tests.rs`) is not counted.

Usage: python3 tools/modgraph.py [src]
"""
import collections
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"


def modname(path):
    parts = os.path.relpath(path, root)[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1] if parts[-1] != "main" else ["main"]
    return "::".join(parts) or "crate"


mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs") and f != "tests.rs" and "/bin" not in d:
            mods[modname(os.path.join(d, f))] = os.path.join(d, f)
known = set(mods)


def resolve(path):
    """The longest known module a `::` path starts with."""
    parts = path.split("::")
    for i in range(len(parts), 0, -1):
        m = "::".join(parts[:i])
        if m in known:
            return m
    return None


def expand(prefix, rest):
    """Paths named by `prefix::rest`, where rest may be a `{a, b::c, self}` group."""
    rest = rest.strip()
    if not rest.startswith("{"):
        return [prefix + "::" + rest if rest else prefix]
    depth, items, cur = 0, [], ""
    for ch in rest[1:]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for it in items:
        it = it.strip().split(" as ")[0].strip()
        if not it:
            continue
        if it == "self":
            out.append(prefix)
            continue
        head, _, tail = it.partition("::{")
        if tail:
            out += expand(prefix + "::" + head, "{" + tail)
        else:
            out.append(prefix + "::" + it)
    return out


PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z_0-9]*)*)(::\{[^;]*?\}|)(?=[^a-z_0-9{]|$)", re.S)

edges = collections.defaultdict(set)
for m, p in mods.items():
    if m == "crate":
        continue
    src = open(p).read().split("#[cfg(test)]")[0]
    src = re.sub(r"//[^\n]*", "", src)
    is_mod_rs = os.path.basename(p) in ("mod.rs",)
    for kw, path, group in PATH.findall(src):
        if kw == "crate":
            base = ""
        else:
            here = m.split("::")
            # `super` of `a::b` (in a/b.rs) is `a`; of a mod.rs `a` it is a's parent.
            base = "::".join(here[:-1])
        full = (base + path).strip(":")
        targets = expand(full, group[2:]) if group else [full]
        for t in targets:
            r = resolve(t.strip(":"))
            if r and r != m and r != "main":
                edges[m].add(r)


def scc(nodes, edge):
    idx, low, st, on, out, c = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def go(v):
        idx[v] = low[v] = c[0]
        c[0] += 1
        st.append(v)
        on.add(v)
        for w in edge(v):
            if w not in idx:
                go(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in nodes:
        if v not in idx:
            go(v)
    return [x for x in out if len(x) > 1]


def top(m):
    return m.split("::")[0]


top_edges = collections.defaultdict(set)
for a, bs in edges.items():
    for b in bs:
        if top(a) != top(b) and top(a) != "main":
            top_edges[top(a)].add(top(b))
tops = sorted({top(k) for k in mods if k not in ("main", "crate")})
print("crate level:")
for v in tops:
    print(f"  {v:12} -> {', '.join(sorted(top_edges[v]))}")
print("crate-level cycles:", scc(tops, lambda v: top_edges[v]))


def related(a, b):
    return a.startswith(b + "::") or b.startswith(a + "::")


subs = sorted(k for k in mods if k not in ("main", "crate"))
print("submodules (edges inside one top-level module):")
for v in subs:
    inner = sorted(w for w in edges[v] if top(w) == top(v))
    if inner:
        print(f"  {v:20} -> {', '.join(inner)}")
print(
    "submodule cycles:",
    scc(subs, lambda v: [w for w in edges[v] if not related(v, w)]),
)
