#!/usr/bin/env python3
"""Check the Markdown documentation: links resolve and tested examples run.

Checks README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md (or the files given):

* Links. Every relative link outside code (inline `[text](target)`, images
  `![alt](target)`, reference definitions `[label]: target`, and HTML `href`/`src`)
  must name a file or folder inside the repository, relative to the Markdown
  file's folder (`/path` is relative to the repository root). A `#anchor` must
  match a heading of the target Markdown file by GitHub's slug rules, or an
  explicit `<a id="...">` / `<a name="...">`. Links with a scheme (https:,
  mailto:, ...) are not checked.

* Tested blocks. A fenced block whose info string is exactly `sh tested` is run
  with `bash -euo pipefail -c BODY` from the repository root, stdin from
  /dev/null, and must exit 0 within the timeout. If the next fenced block (only
  blank lines between) has the info string `output`, the block's stdout must
  match it; `...` in the expected text matches any text, newlines included
  (like doctest's ELLIPSIS). Trailing whitespace and trailing blank lines are
  ignored on both sides.

* The README is at most README_MAX_LINES lines: details go to the guide in docs/.

Usage: scripts/check-docs.py [--links-only | --list] [--timeout S] [--root DIR] [FILE.md ...]
Prints one line per problem and a summary; exits 1 if there is any problem.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from collections import namedtuple
from pathlib import Path
from urllib.parse import unquote

README_MAX_LINES = 250
FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
LIST = re.compile(r"\s*([-*+>|<]|\d+[.)])")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
TEXT = r"((?:[^\[\]]|\[(?:[^\[\]]|\[[^\[\]]*\])*\])*)"
DEST = r"(<[^<>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)"
TITLE = r"""(?:\s+(?:"[^"]*"|'[^']*'|\([^()]*\)))?"""
INLINE = re.compile(r"(?<!\\)!?\[" + TEXT + r"\]\(\s*" + DEST + TITLE + r"\s*\)")
REFDEF = re.compile(r"^ {0,3}\[(?!\^)[^\]\n]+\]:[ \t]*(?=\S)" + DEST + TITLE + r"[ \t]*$", re.M)
HTML_LINK = re.compile(r"""<(?:a|img|source)\b[^>]*?\s(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
HTML_ID = re.compile(r"""<[a-z][a-z0-9]*\b[^>]*?\s(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")


Block = namedtuple("Block", "line info body end closed")


class Doc:
    """A Markdown file: its prose (code masked out), fenced blocks and anchors."""

    def __init__(self, path):
        self.path = path
        self.lines = path.read_text(encoding="utf-8").split("\n")
        self.blocks, self.anchors, counts = [], set(), {}
        prose, prev, fence = [], "", None  # fence: [line, info, marker, indent, body lines]
        for i, line in enumerate(self.lines, 1):
            m = FENCE.match(line)
            if fence and m and m.group(2)[0] == fence[2][0] and len(m.group(2)) >= len(fence[2]) \
                    and not m.group(3).strip():
                self.blocks.append(Block(fence[0], fence[1], "\n".join(fence[4]), i, True))
                fence = None
            elif fence:
                fence[4].append(re.sub("^[ \t]{0,%d}" % len(fence[3]), "", line))
            elif m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
                fence = [i, m.group(3).strip(), m.group(2), m.group(1), []]
            else:
                h, s = ATX.match(line), SETEXT.match(line)
                if h:
                    self.anchors.add(slug(h.group(2) or "", counts))
                elif s and prev.strip() and not ATX.match(prev) and not LIST.match(prev):
                    self.anchors.add(slug(prev.strip(), counts))
                prose.append(line)
                prev = line
                continue
            prose.append("")
            prev = ""
        if fence:  # an unclosed fence runs to the end of the file
            self.blocks.append(Block(fence[0], fence[1], "\n".join(fence[4]), i, False))
        self.prose = CODE_SPAN.sub(blank, COMMENT.sub(blank, "\n".join(prose)))
        self.anchors |= set(HTML_ID.findall(self.prose))

    def tested(self):
        """Yield (block, expected output or None) for each `sh tested` block."""
        for block, nxt in zip(self.blocks, self.blocks[1:] + [None]):
            if block.info == "sh tested":
                between = self.lines[block.end:nxt.line - 1] if nxt else ["x"]
                output = nxt and nxt.info == "output" and not "".join(between).strip()
                yield block, nxt.body if output else None

    def links(self):
        """Yield (line, target) for every link outside code."""
        found = []

        def inline(text, offset):
            for m in INLINE.finditer(text):
                found.append((offset + m.start(2), m.group(2)))
                inline(m.group(1), offset + m.start(1))  # an image inside a link's text

        inline(self.prose, 0)
        found += [(m.start(1), m.group(1)) for m in REFDEF.finditer(self.prose)]
        found += [(m.start(1), m.group(1)) for m in HTML_LINK.finditer(self.prose)]
        for pos, target in sorted(found):
            yield self.prose.count("\n", 0, pos) + 1, target.strip("<>")


def blank(m):
    return re.sub(r"[^\n]", " ", m.group())


def slug(heading, counts):
    """GitHub's heading anchor, made unique with -1, -2, ... as GitHub does."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images -> text
    parts = re.split(r"(`+)(.+?)\1", text)  # keep code spans verbatim
    for i in range(0, len(parts), 3):
        part = re.sub(r"<[^>]+>|\*+|(?<!\w)_+|_+(?!\w)", "", parts[i])
        parts[i] = re.sub(r"\\(.)", r"\1", part)
        if i + 1 < len(parts):
            parts[i + 1] = ""
    text = "".join(parts).strip().lower()
    base = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    base = result = base.replace(" ", "-")
    while result in counts:
        counts[base] += 1
        result = "%s-%d" % (base, counts[base])
    counts[result] = 0
    return result


class Checker:
    def __init__(self, root, timeout):
        self.root, self.timeout = root, timeout
        self.docs, self.problems, self.links, self.ran = {}, 0, 0, 0

    def doc(self, path):
        if path not in self.docs:
            self.docs[path] = Doc(path)
        return self.docs[path]

    def rel(self, path):
        return path.relative_to(self.root).as_posix()

    def report(self, doc, line, message, detail=""):
        self.problems += 1
        print("%s:%d: %s" % (self.rel(doc.path), line, message) + detail, flush=True)

    def check_links(self, doc):
        for block in doc.blocks:
            if not block.closed:
                self.report(doc, block.line, "unclosed code fence")
        for line, target in doc.links():
            if SCHEME.match(target):
                continue
            self.links += 1
            path, _, anchor = target.partition("#")
            path = unquote(path.split("?")[0])
            if not path and not anchor:
                self.report(doc, line, "broken link `%s`: empty target" % target)
                continue
            base = self.root if path.startswith("/") else doc.path.parent
            dest = Path(os.path.normpath(base / path.lstrip("/"))) if path else doc.path
            if dest != self.root and self.root not in dest.parents:
                self.report(doc, line, "broken link `%s`: outside the repository" % target)
            elif not dest.exists():
                self.report(doc, line, "broken link `%s`: no such file" % target)
            elif anchor and (dest.is_dir() or dest.suffix.lower() not in (".md", ".markdown")):
                self.report(doc, line, "broken link `%s`: anchor into non-Markdown %s"
                            % (target, self.rel(dest)))
            elif anchor and unquote(anchor) not in self.doc(dest).anchors:
                self.report(doc, line, "broken link `%s`: no heading #%s in %s"
                            % (target, unquote(anchor), self.rel(dest)))

    def run(self, doc, block, expected):
        line, body = block.line, block.body
        name = "%s:%d" % (self.rel(doc.path), line)
        print("%s: running `%s`" % (name, first_line(body)), flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", body], cwd=self.root,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=self.timeout)
            why = "failed (exit %d)" % proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            why = "timed out after %g s" % self.timeout
        self.ran += 1
        print("%s: finished in %.1f s" % (name, time.monotonic() - start), flush=True)
        if proc.returncode != 0:
            tail = (err.strip() or out.strip()).split("\n")[-20:]
            self.report(doc, line, "tested block " + why, "".join("\n    " + t for t in tail if t))
        elif expected is not None and not matches(expected, out):
            self.report(doc, line, "output differs", diff(expected, out))


def normalize(text):
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def pattern(expected):
    return ".*?".join(re.escape(piece) for piece in expected.split("..."))


def matches(expected, actual):
    return re.fullmatch(pattern(normalize(expected)), normalize(actual), re.S) is not None


def diff(expected, actual):
    expected, actual = normalize(expected), normalize(actual)
    shown = actual if len(actual) <= 2000 else actual[:2000] + "\n[... truncated]"
    text = "\n  expected:\n" + indent(expected) + "\n  actual:\n" + indent(shown)
    exp, act = expected.split("\n"), actual.split("\n")
    for i in range(len(exp)):  # first expected line after which the output cannot match
        if not re.fullmatch(pattern("\n".join(exp[: i + 1])) + r"(?:\n.*)?", actual, re.S):
            text += "\n  first differing line %d: expected `%s`" % (i + 1, exp[i])
            if "..." not in "\n".join(exp[:i]):
                text += ", actual `%s`" % (act[i] if i < len(act) else "<end of output>")
            break
    else:
        text += "\n  the output goes on after the expected text"
    return text


def first_line(text):
    return text.strip().split("\n")[0]


def indent(text):
    return "\n".join("    " + line for line in text.split("\n"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="Markdown files to check (default: all)")
    parser.add_argument("--links-only", action="store_true", help="check links, run nothing")
    parser.add_argument("--list", action="store_true", help="list the tested blocks, run nothing")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per block (600)")
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path,
                        help="repository root (default: this script's parent folder's parent)")
    args = parser.parse_args()
    root = args.root.resolve()
    if args.files:
        paths = [Path(f).resolve() for f in args.files]
    else:
        paths = [root / f for f in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
        paths = [p for p in paths if p.exists()] + sorted(root.glob("docs/**/*.md"))
    checker = Checker(root, args.timeout)
    docs = [checker.doc(p) for p in paths]
    if args.list:
        for doc in docs:
            for block, expected in doc.tested():
                print("%s:%d: %s%s" % (checker.rel(doc.path), block.line, first_line(block.body),
                                       "  [+ output]" if expected is not None else ""))
        return 0
    blocks = []
    for doc in docs:
        if doc.path == root / "README.md":
            lines = len(doc.lines) - (doc.lines[-1] == "")
            if lines > README_MAX_LINES:
                checker.report(doc, lines, "the README has %d lines, over %d: move details to "
                               "the guide in docs/" % (lines, README_MAX_LINES))
        checker.check_links(doc)
        blocks += [(doc, block, expected) for block, expected in doc.tested()]
    if not args.links_only:
        for doc, block, expected in blocks:
            checker.run(doc, block, expected)
    note = " (--links-only: %d not run)" % len(blocks) if args.links_only else ""
    print("check-docs: %d links, %d tested blocks, %d problems%s"
          % (checker.links, checker.ran, checker.problems, note), flush=True)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
