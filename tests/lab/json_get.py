#!/usr/bin/env python3
"""json_get.py - read JSON on stdin and print one value, for lab tests of
mxctl's --json output (stdlib only):

  json_get.py PATH           PATH = dotted keys, array indexes as numbers
                             ("total.smtp_messages_total.accepted",
                             "0.client"); "" = the whole document
  json_get.py --lines        JSON Lines: check every line parses, print the count
  json_get.py --len PATH     the length of the array or object at PATH

Strings print as they are, anything else as JSON. Exit 1 when the input is
not JSON or PATH is missing (with the reason on stderr)."""
import json
import sys


def walk(doc, path):
    """The value at a dotted path."""
    cur = doc
    for part in [p for p in path.split(".") if p != ""]:
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur


def main():
    args = sys.argv[1:]
    text = sys.stdin.read()
    try:
        if args and args[0] == "--lines":
            lines = [l for l in text.splitlines() if l.strip()]
            for l in lines:
                json.loads(l)
            print(len(lines))
            return 0
        doc = json.loads(text)
        if args and args[0] == "--len":
            print(len(walk(doc, args[1] if len(args) > 1 else "")))
            return 0
        v = walk(doc, args[0] if args else "")
    except (ValueError, KeyError, IndexError, TypeError) as e:
        sys.stderr.write("json_get: %s: %r\n" % (type(e).__name__, e))
        return 1
    print(v if isinstance(v, str) else json.dumps(v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
