#!/usr/bin/env python3
"""policyrules.py — the rules of a test's policies, for tests/tools/wireaudit.

    policyrules.py LIST

LIST has one line per policy a test wrote (tests/lib.sh's policy() adds
them): "TIME FILE", TIME in seconds since the epoch, FILE a copy of the
policy as it was then.  Prints, for every rule of every policy, in order:

    TIME GROUP ACTION PORTS CIDR

GROUP numbers a policy file and direction (accept or connect): within a
group the first matching rule wins, as in the shim.  ACTION is tls (the
default), plain or deny; PORTS "*" (no port key: any port) or "P1,P2";
CIDR "*" or the rule's address.  A file this parser does not understand
(tests write deliberately broken policies too; the shim refuses those and
the program never runs) is reported on standard error and skipped.

The parser knows the libconfig subset policies use: settings "name = value;"
or "name : value," with integers, strings, booleans, floats, lists [..],
(..) and groups {..}; comments #, // and /* */.
"""
import re
import sys

TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)L{0,2})
  | (?P<word>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
''', re.X | re.S)


class Bad(Exception):
    pass


def tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise Bad("cannot read %r" % text[pos:pos + 20])
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        v = m.group(kind)
        if kind == "string":
            # adjacent strings concatenate in libconfig
            s = bytes(v[1:-1], "utf-8").decode("unicode_escape")
            if out and out[-1][0] == "string":
                out[-1] = ("string", out[-1][1] + s)
                continue
            out.append(("string", s))
        elif kind == "num":
            n = v.rstrip("L")
            out.append(("num", int(n, 0) if re.fullmatch(r"[-+]?(0[xX][0-9a-fA-F]+|[0-9]+)", n) else float(n)))
        elif kind == "word":
            low = v.lower()
            if low in ("true", "false"):
                out.append(("bool", low == "true"))
            else:
                out.append(("word", v))
        else:
            out.append(("punct", v))
    return out


class Parser:
    def __init__(self, toks):
        self.t = toks
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else ("eof", None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise Bad("expected %s got %r" % (value or kind, tok[1]))
        self.i += 1
        return tok

    def settings(self, end):
        d = {}
        while True:
            tok = self.peek()
            if tok == end or (end is None and tok[0] == "eof"):
                return d
            name = self.take("word")[1]
            if self.peek()[1] not in ("=", ":"):
                raise Bad("expected = after %s" % name)
            self.i += 1
            d[name] = self.value()
            if self.peek()[1] in (";", ","):
                self.i += 1

    def value(self):
        tok = self.peek()
        if tok[0] in ("string", "num", "bool"):
            self.i += 1
            return tok[1]
        if tok == ("punct", "{"):
            self.i += 1
            d = self.settings(("punct", "}"))
            self.take("punct", "}")
            return d
        if tok[1] in ("[", "("):
            close = "]" if tok[1] == "[" else ")"
            self.i += 1
            items = []
            while self.peek() != ("punct", close):
                items.append(self.value())
                if self.peek() == ("punct", ","):
                    self.i += 1
            self.take("punct", close)
            return items
        raise Bad("unexpected %r" % (tok[1],))


def parse(text):
    p = Parser(tokens(text))
    return p.settings(None)


def rules_of(conf):
    rules = conf.get("rules", [])
    if not isinstance(rules, list):
        raise Bad("rules is not a list")
    out = []
    for r in rules:
        if not isinstance(r, dict):
            raise Bad("a rule is not a group")
        direction = r.get("direction")
        if direction not in ("accept", "connect"):
            raise Bad("rule without a valid direction")
        action = r.get("action", "tls")
        if action not in ("tls", "plain", "deny"):
            raise Bad("unknown action %r" % (action,))
        port = r.get("port")
        if port is None:
            ports = "*"
        else:
            plist = port if isinstance(port, list) else [port]
            if not plist or not all(isinstance(x, int) and not isinstance(x, bool) for x in plist):
                raise Bad("port is not an integer or a list of integers")
            ports = ",".join(str(x) for x in plist)
        addr = r.get("address", "*")
        if not isinstance(addr, str):
            raise Bad("address is not a string")
        out.append((direction, action, ports, addr or "*"))
    return out


def main():
    group = 0
    with open(sys.argv[1]) as f:
        entries = [l.split(None, 1) for l in f if l.strip()]
    for when, path in entries:
        path = path.strip()
        try:
            with open(path, encoding="utf-8", errors="replace") as pf:
                rules = rules_of(parse(pf.read()))
        except (OSError, Bad, ValueError, UnicodeError) as e:
            print("policyrules: %s: not understood, skipped (%s)" % (path, e), file=sys.stderr)
            continue
        for d in ("accept", "connect"):
            for direction, action, ports, addr in rules:
                if direction == d:
                    print(when, group, action, ports, addr)
            group += 1


if __name__ == "__main__":
    main()
