#!/usr/bin/env python3
"""gen-api-doc.py — writes docs/api.md from the comments of include/inception.h.

    python3 scripts/gen-api-doc.py include/inception.h > docs/api.md   (make api-doc)

The header is the source of truth: its opening comment becomes the general
rules, each banner comment (/* ---- */ framed) a section, and the comment
directly above each declaration (INC_API function, typedef enum, a
descriptor's typedef struct with its fields, a callback's function-pointer
typedef, #define) that declaration's text. A function without a comment is an error (exit
status 1), so the reference always covers every public function. `make
check-api-doc` regenerates into build/ and fails when docs/api.md differs.

Formatting of comment text: lines indented by two or more spaces become a
code block (formulas, the Inception branches), "- " lines become list
items, identifiers with underscores and calls become `code`, and the
remaining Markdown specials are escaped. Standard library only.
"""
import re
import sys

APPENDIX = """\
## Appendix: the GoogLeNet of `inc_googlenet_create`

The D2L GoogLeNet ("Dive into Deep Learning", ch. "Multi-Branch Networks"),
a `sequential` of six children named by index. `Inc(c1, (c2r, c2), (c3r, c3), c4)`
is `inc_inception_create(ctx, c1, c2r, c2, c3r, c3, c4, &block)`.

| child | contents | output for a 1×96×96 input |
| --- | --- | --- |
| `0` (b1) | conv 7×7 64 s2 p3, ReLU, max pool 3 s2 p1 | 64×24×24 |
| `1` (b2) | conv 1×1 64, ReLU, conv 3×3 192 p1, ReLU, max pool 3 s2 p1 | 192×12×12 |
| `2` (b3) | Inc(64, (96, 128), (16, 32), 32), Inc(128, (128, 192), (32, 96), 64), max pool 3 s2 p1 | 480×6×6 |
| `3` (b4) | Inc(192, (96, 208), (16, 48), 64), Inc(160, (112, 224), (24, 64), 64), Inc(128, (128, 256), (24, 64), 64), Inc(112, (144, 288), (32, 64), 64), Inc(256, (160, 320), (32, 128), 128), max pool 3 s2 p1 | 832×3×3 |
| `4` (b5) | Inc(256, (160, 320), (32, 128), 128), Inc(384, (192, 384), (48, 128), 128), global average pool, flatten | 1024 |
| `5` | dense `classes` | `classes` |

With 10 classes it has 5,977,530 parameters (`inc_layer_param_numel`). It
ends in global average pooling and binds only channel counts, so a network
bound at 96×96 also runs 64×64 or 28×28 images (the feature maps shrink to
1×1 on the way).

## Appendix: parameter names

`inc_layer_param`, the safetensors files and checkpoints name a parameter by
the path of layer names from the layer asked, joined by `.`, plus `weight` or
`bias`. A layer's default name is its index in its parent; the Inception
builder names its four branches `p1`..`p4`, each a `sequential` (p1: conv,
ReLU; p2 and p3: conv, ReLU, conv, ReLU; p4: max pool, conv, ReLU). So in the
GoogLeNet `2.0.p2.2.weight` is b3's first block, path 2, the 3×3 convolution,
of shape (128, 96, 3, 3); `5.weight` is the dense layer's (classes, 1024).
Buffers (`inc_layer_buffer`: untrained tensors such as running statistics)
are named the same way with their own last part (`2.0.running_mean`).
Checkpoints add the optimizer's momentum buffers as `momentum/<name>`.
"""


def fail(msg):
    sys.stderr.write("gen-api-doc: %s\n" % msg)
    sys.exit(1)


def comment_text(lines):
    """The text of a comment's lines, without /*, */ and leading ' * '."""
    out = []
    for line in lines:
        s = line.rstrip()
        s = re.sub(r"^\s*/\*+", "", s)
        s = re.sub(r"\s*\*+/\s*$", "", s)
        s = re.sub(r"^\s*\* ?", "", s) if re.match(r"^\s*\*(\s|$)", s) else s
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    # a one-line comment starts right after "/* ": drop that single space
    return [re.sub(r"^ (?=\S)", "", l) for l in out]


CODE_TOKEN = re.compile(
    r"`[^`]*`"                                   # already code
    r"|\b[A-Za-z0-9]*_[A-Za-z0-9_]*\([^()]*\)"  # calls: inc_tensor_numel(t)
    r"|\b[A-Za-z_][A-Za-z0-9_]*\(\)"            # calls: inc_tensor_create()
    r"|(?<![A-Za-z0-9])\*[A-Za-z_][A-Za-z0-9_]*"  # *out
    r"|\b_*[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*\b"  # identifiers with underscores
    r"|__[A-Za-z0-9]+__")                         # __metadata__


def inline(text):
    """Markdown for a line of prose: code spans for C tokens, escapes."""
    out, pos = [], 0
    for m in CODE_TOKEN.finditer(text):
        out.append(escape(text[pos:m.start()]))
        tok = m.group(0)
        out.append(tok if tok.startswith("`") else "`%s`" % tok)
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def escape(text):
    """Escapes what Markdown would take for emphasis or HTML."""
    text = re.sub(r"([\\*_])", r"\\\1", text)
    return re.sub(r"<(?=[A-Za-z/!?])", r"&lt;", text)


def prose(lines):
    """Markdown for comment lines: paragraphs, lists, code blocks."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            out.append("")
            i += 1
        elif re.match(r"^\s*- ", line):  # a list item and its continuation lines
            indent = len(line) - len(line.lstrip())
            item = [line.strip()[2:]]
            i += 1
            while i < len(lines) and lines[i].strip() and not re.match(r"^\s*- ", lines[i]) \
                    and len(lines[i]) - len(lines[i].lstrip()) > indent:
                item.append(lines[i].strip())
                i += 1
            out.append("- " + inline(" ".join(item)))
        elif line.startswith("  "):  # an indented block: code
            block = []
            while i < len(lines) and lines[i].startswith("  "):
                block.append(lines[i])
                i += 1
            dedent = min(len(b) - len(b.lstrip()) for b in block)
            if out and out[-1] != "":
                out.append("")
            out.append("```")
            out.extend(b[dedent:] for b in block)
            out.append("```")
            out.append("")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("  ") \
                    and not re.match(r"^\s*- ", lines[i]):
                para.append(lines[i].strip())
                i += 1
            if out and out[-1].startswith("- "):
                out.append("")
            out.append(inline(" ".join(para)))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def parse(path):
    """[(kind, ...)] items of the header in order."""
    lines = open(path, encoding="utf-8").read().split("\n")
    items, i, comment, depth = [], 0, None, 0
    banner = re.compile(r"^/\* -{10,} \*/$")
    first_comment = True
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("#if"):
            depth += 1
        elif stripped.startswith("#endif"):
            depth -= 1
        if banner.match(stripped):  # a section: banner, title comment lines, banner
            title = []
            i += 1
            while i < len(lines) and not banner.match(lines[i].strip()):
                title.append(lines[i].strip())
                i += 1
            text = " ".join(comment_text([t]) [0] if comment_text([t]) else "" for t in title)
            items.append(("section", " ".join(text.split())))
            comment = None
            i += 1
            continue
        if stripped.startswith("/*"):
            block = [line]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            if first_comment:
                items.append(("intro", comment_text(block)))
                first_comment = False
            else:
                comment = comment_text(block)
            i += 1
            continue
        if not stripped:
            comment = None
            i += 1
            continue
        if stripped.startswith("INC_API "):
            decl = [line]
            while not decl[-1].rstrip().endswith(";"):
                i += 1
                decl.append(lines[i])
            name = re.search(r"\b(inc_[a-z0-9_]+)\s*\(", decl[0]).group(1)
            items.append(("function", name, decl, comment))
        elif stripped.startswith("typedef enum"):
            decl = [line]
            while not re.match(r"^\}\s*\w+\s*;", lines[i].strip()):
                i += 1
                decl.append(lines[i])
            name = re.search(r"\}\s*(\w+)\s*;", decl[-1]).group(1)
            items.append(("enum", name, decl, comment))
        elif re.match(r"^typedef struct \w+ \{$", stripped):  # a descriptor struct
            decl = [line]
            while not re.match(r"^\}\s*\w+\s*;", lines[i].strip()):
                i += 1
                decl.append(lines[i])
            name = re.search(r"\}\s*(\w+)\s*;", decl[-1]).group(1)
            items.append(("struct", name, decl, comment))
        elif re.match(r"^typedef .*\(\*\w+\)\s*\(", stripped):  # a callback's type
            decl = [line]
            while not decl[-1].rstrip().endswith(";"):
                i += 1
                decl.append(lines[i])
            name = re.search(r"\(\*(\w+)\)", stripped).group(1)
            items.append(("callback", name, decl, comment))
        elif re.match(r"^typedef struct (\w+) \1;$", stripped):
            items.append(("handle", stripped.split()[2], [line], comment))
        elif stripped.startswith("#define INC_") and depth <= 1 and "INC_API" not in stripped:
            decl = [line]
            while decl[-1].rstrip().endswith("\\"):
                i += 1
                decl.append(lines[i])
            name = stripped.split()[1]
            items.append(("macro", name, decl, comment))
        comment = None if not stripped.startswith("#if") and not stripped.startswith("#endif") \
            else comment
        i += 1
    return items


def code(decl, kind):
    if kind == "function":
        first = decl[0].replace("INC_API ", "", 1)
        rest = [re.sub(r"^ {8}", "", l) for l in decl[1:]]
        decl = [first] + rest
    return "```c\n" + "\n".join(l.rstrip() for l in decl) + "\n```"


def section_title(text):
    m = re.match(r"^([^.:]+)[.:]\s+(.*)$", text)
    if not m:
        return text, ""
    rest = m.group(2)
    return m.group(1), rest[:1].upper() + rest[1:]


def merge_macros(its):
    """Runs of macros where only the first has a comment become one item."""
    out = []
    for it in its:
        prev = out[-1] if out else None
        if it[0] == "macro" and not it[3] and prev is not None and prev[0] == "macro":
            out[-1] = ("macro", prev[1] + ", " + it[1], prev[2] + it[2], prev[3])
        else:
            out.append(it)
    return out


def main():
    if len(sys.argv) != 2:
        fail("usage: gen-api-doc.py include/inception.h")
    path = sys.argv[1]
    items = parse(path)
    undocumented = [it[1] for it in items if it[0] == "function" and not it[3]]
    if undocumented:
        fail("%s: functions without a comment: %s" % (path, ", ".join(undocumented)))
    functions = [it for it in items if it[0] == "function"]
    if not functions:
        fail("%s: no INC_API function found" % path)

    # sections with their items
    sections, current = [], None
    intro = []
    for it in items:
        if it[0] == "intro":
            intro = it[1]
        elif it[0] == "section":
            current = [it[1], []]
            sections.append(current)
        else:
            if current is None:
                current = ["Macros", []]
                sections.append(current)
            current[1].append(it)

    out = []
    out.append("# libinception API reference")
    out.append("")
    out.append("<!-- Generated from include/inception.h by scripts/gen-api-doc.py: do not edit;")
    out.append("     change the header's comments and run `make api-doc`. -->")
    out.append("")
    version = {m.group(1): m.group(2) for m in
               re.finditer(r"#define INC_VERSION_(MAJOR|MINOR|PATCH) (\d+)", open(path).read())}
    out.append("Version %s.%s.%s; %d functions. Include `<inception.h>`; link with "
               "`pkg-config --cflags --libs libinception`. The ABI rules are in "
               "[ABI.md](ABI.md), the design in [architecture.md](architecture.md)."
               % (version.get("MAJOR", "?"), version.get("MINOR", "?"), version.get("PATCH", "?"),
                  len(functions)))
    out.append("")
    # the intro comment, minus its first line (the file's one-line title)
    body = intro[1:] if intro and "inception.h" in intro[0] else intro
    out.append("## General rules")
    out.append("")
    out.append(prose(body))
    out.append("")
    out.append("## Contents")
    out.append("")
    for title, its in sections:
        head, _ = section_title(title)
        names = [it[1] for it in its if it[0] == "function"]
        anchor = re.sub(r"[^a-z0-9 -]", "", head.lower()).replace(" ", "-")
        out.append("- [%s](#%s)%s" % (head, anchor, ": " + ", ".join(
            "[`%s`](#%s)" % (n, n) for n in names) if names else ""))
    out.append("- [Appendix: the GoogLeNet of `inc_googlenet_create`]"
               "(#appendix-the-googlenet-of-inc_googlenet_create)")
    out.append("- [Appendix: parameter names](#appendix-parameter-names)")
    out.append("")
    for title, its in sections:
        head, rest = section_title(title)
        out.append("## " + head)
        out.append("")
        if rest:
            out.append(prose([rest]))
            out.append("")
        its = merge_macros(its)
        handles = [it for it in its if it[0] == "handle"]
        if handles:
            out.append("Opaque handles (no public layout; made and freed by the functions "
                       "below):")
            out.append("")
            out.append(code([l for it in handles for l in it[2]], "handle"))
            out.append("")
        for it in its:
            kind, name, decl, comment = it
            if kind == "handle":
                continue
            out.append("### " + name)
            out.append("")
            out.append(code(decl, kind))
            out.append("")
            if comment:
                out.append(prose(comment))
                out.append("")
    out.append(APPENDIX.rstrip("\n"))
    text = "\n".join(out).rstrip("\n") + "\n"
    sys.stdout.write(re.sub(r"\n{3,}", "\n\n", text))


if __name__ == "__main__":
    main()
