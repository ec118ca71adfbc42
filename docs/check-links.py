#!/usr/bin/env python3
"""Fails on a broken internal link in the book and the repository's markdown.

Run after `mdbook build docs` (CI: .ci/run):  python3 docs/check-links.py

Checked: every relative link and image (`[t](target)`, `![a](target)`, `[r]: target`) of every
markdown file git tracks (the book's chapters, README.md, CONTRIBUTING.md, the stacks' READMEs...),
outside code blocks and code spans. A target must be a file or folder of the repository; a
`#anchor` must be a heading id of the file it points at:
- in a book chapter (docs/src/), the heading ids mdBook wrote into the built page
  (docs/book/...html), so the check follows the mdBook version in use;
- in any other markdown file, the ids GitHub gives its headings (lowercased, spaces to `-`,
  punctuation but `-` and `_` dropped, `-1`, `-2`... for repeats).
Also: every chapter under docs/src is listed in SUMMARY.md (mdBook leaves others out), and every
page SUMMARY.md lists was built. Web addresses (`http:`, `https:`, `mailto:`) are not fetched.
"""
import html.parser
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "docs" / "src"
BUILT = ROOT / "docs" / "book"

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def outside_fences(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        yield number, line


def prose_lines(text):
    """(line number, line) outside fenced code blocks, code spans blanked."""
    for number, line in outside_fences(text):
        yield number, CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def github_ids_of(path):
    ids, seen = set(), {}
    # The raw heading line: a code span's text is part of the id (its backticks are not).
    for _, line in outside_fences(path.read_text(encoding="utf-8")):
        heading = HEADING.match(line)
        if not heading:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(2))  # a link: its text
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


class Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        if tag not in ("h1", "h2", "h3", "h4", "h5", "h6"):
            return  # the theme's own ids (menus, scripts) are no chapter anchors
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)


def built_ids(chapter):
    page = BUILT / chapter.relative_to(SRC).with_suffix(".html")
    if not page.is_file():
        return None
    parser = Ids()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.ids


def ids_of(path, cache={}):
    if path not in cache:
        in_book = SRC in path.parents
        cache[path] = built_ids(path) if in_book else github_ids_of(path)
    return cache[path]


def markdown_files():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()
    return sorted(ROOT / name for name in listed if (ROOT / name).is_file())


def links(path):
    """(line number, target) of every link, a link's text may run over several lines."""
    lines = dict(prose_lines(path.read_text(encoding="utf-8")))
    text = "\n".join(lines.get(n, "") for n in range(1, max(lines, default=0) + 1))
    for match in INLINE.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1)
    for number, line in lines.items():
        match = REFERENCE.match(line)
        if match:
            yield number, match.group(1)


def check_link(source, target):
    """None, or what is wrong with `target` written in `source`."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # a web address (or mailto:): not ours to check
    path_part, _, anchor = target.partition("#")
    if path_part.startswith("/"):
        return "absolute path: write it relative to this file"
    goal = (source.parent / path_part).resolve() if path_part else source
    if ROOT != goal and ROOT not in goal.parents:
        return "leads out of the repository"
    if not goal.exists():
        return "no such file"
    if anchor:
        if goal.suffix != ".md":
            return "an anchor into a file that is not markdown"
        ids = ids_of(goal)
        if ids is None:
            return f"{goal.relative_to(ROOT)} is not in the built book (is it in SUMMARY.md? run mdbook build docs first)"
        if anchor not in ids:
            return f"no heading #{anchor} in {goal.relative_to(ROOT)}"
    return None


def summary_problems():
    summary = SRC / "SUMMARY.md"
    listed = set()
    for _, target in links(summary):
        listed.add((SRC / target.partition("#")[0]).resolve())
    problems = []
    for chapter in sorted(SRC.rglob("*.md")):
        if chapter.name != "SUMMARY.md" and chapter.resolve() not in listed:
            problems.append(f"{chapter.relative_to(ROOT)}: not listed in docs/src/SUMMARY.md")
    for chapter in sorted(listed):
        if built_ids(chapter) is None:
            problems.append(
                f"docs/src/SUMMARY.md: {chapter.relative_to(ROOT)} has no built page in docs/book "
                "(run mdbook build docs first)"
            )
    return problems


def main():
    problems = summary_problems()
    count = 0
    for path in markdown_files():
        for number, target in links(path):
            count += 1
            wrong = check_link(path, target)
            if wrong:
                problems.append(f"{path.relative_to(ROOT)}:{number}: {target}: {wrong}")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"check-links: {count} links checked, {len(problems)} broken", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
