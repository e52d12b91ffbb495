"""Runs the README's examples as written, in the order they appear.

What counts as an example:
  - a ```python block: run with python3 in the work folder (the demo calls);
  - a ```sh block, or a plain ``` block whose first line starts with "$ ":
    every line that starts with "recbandit ", "head " or "curl " ("$ "
    stripped) is a command, with "\\" continuation lines; the lines after it up to the next
    command are its documented output ("# stderr" lines are not stdout).
A command with "[" in it (outside single quotes, where a JSON body may have
one) is a synopsis (optional parts), listed and not run.
The substitutions: the documented address 127.0.0.1:50051 becomes the
test server's, and 127.0.0.1:8080 (the HTTP/JSON API of `./build.sh demo`)
its HTTP port. Each command must exit 0; where the documented output is a
JSON line, the real line must have the same top-level keys and every key the
documented line names (values differ from run to run); other documented
lines must match the real ones field for field (same number of
comma-separated fields, the first line exactly: a header).

Usage: readme_examples.py <README.md> <recbandit binary> <work dir> <port> <http port>
Runs in <work dir>, where `recbandit serve --demo --data_dir=demo_data
--http_port=-1` listens on <port> (gRPC) and <http port> and ../shared/data resolves to the Open Bandit Dataset
sample.
"""
import json
import os
import re
import subprocess
import sys

DOCUMENTED_ADDRESS = "127.0.0.1:50051"
DOCUMENTED_HTTP_ADDRESS = "127.0.0.1:8080"
COMMANDS = ("recbandit ", "head ", "curl ")
COMMAND_TIMEOUT = 300


def blocks(readme):
    """(first line number, language, lines) of each fenced block."""
    found, lang, start, body = [], None, 0, None
    for number, line in enumerate(open(readme, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("```"):
            if body is None:
                lang, start, body = line[3:].strip(), number + 1, []
            else:
                found.append((start, lang, body))
                body = None
        elif body is not None:
            body.append(line)
    return found


def examples(readme):
    """(line, kind, text, documented output lines) in README order."""
    result = []
    for start, lang, body in blocks(readme):
        if lang == "python":
            result.append((start, "python", "\n".join(body), []))
            continue
        prompted = lang == "" and body and body[0].startswith("$ ")
        if lang != "sh" and not prompted:
            continue
        i = 0
        while i < len(body):
            line = body[i]
            text = line[2:] if prompted and line.startswith("$ ") else line
            is_command = (line.startswith("$ ") if prompted
                          else text.startswith(COMMANDS))
            if not is_command:
                i += 1
                continue
            first = start + i
            command = text
            while command.endswith("\\") and i + 1 < len(body):
                i += 1
                command = command[:-1] + " " + body[i].strip()
            i += 1
            output = []
            while i < len(body):
                nxt = body[i]
                if (nxt.startswith("$ ") if prompted
                        else nxt.startswith(COMMANDS)):
                    break
                if nxt.strip() and not nxt.rstrip().endswith("# stderr"):
                    output.append(nxt)
                i += 1
            result.append((first, "sh", command, output))
    return result


def keys_named(line):
    return set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)":', line))


def check_output(where, documented, actual):
    real = [l for l in actual.splitlines() if l.strip()]
    if not documented:
        return
    if len(real) < len(documented):
        raise AssertionError("%s: documented %d output lines, got %d:\n%s" %
                             (where, len(documented), len(real), actual))
    for n, (doc, got) in enumerate(zip(documented, real)):
        if doc.startswith("{"):
            try:
                got_json = json.loads(got)
            except ValueError:
                raise AssertionError("%s: expected a JSON line, got: %s" % (where, got[:300]))
            missing = keys_named(doc) - keys_named(got)
            if missing:
                raise AssertionError("%s: keys %s documented but not printed: %s" %
                                     (where, sorted(missing), got[:300]))
            try:
                doc_json = json.loads(doc)
            except ValueError:
                continue  # abbreviated with "...": the named keys suffice
            if set(doc_json) != set(got_json):
                raise AssertionError("%s: documented keys %s, printed %s" %
                                     (where, sorted(doc_json), sorted(got_json)))
        elif n == 0 and doc != got:
            raise AssertionError("%s: documented first line %r, printed %r" % (where, doc, got))
        elif doc.count(",") != got.count(","):
            raise AssertionError("%s: documented %r, printed %r" % (where, doc, got))


def main():
    readme, binary, work, port, http_port = sys.argv[1:6]
    address = "127.0.0.1:%s" % port
    http_address = "127.0.0.1:%s" % http_port
    env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(binary)) + ":" + os.environ["PATH"])
    ran = skipped = 0
    for line, kind, text, documented in examples(readme):
        where = "README.md:%d" % line
        text = text.replace(DOCUMENTED_ADDRESS, address).replace(DOCUMENTED_HTTP_ADDRESS,
                                                                 http_address)
        if kind == "python":
            argv = [sys.executable, "-c", text]
        elif "[" in re.sub(r"'[^']*'", "", text):
            print("%s: synopsis, not run: %s" % (where, text[:80]))
            skipped += 1
            continue
        else:
            argv = ["bash", "-c", "set -o pipefail; " + text]
        print("%s: %s" % (where, text.splitlines()[0][:100]), flush=True)
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
        if proc.returncode != 0:
            raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" %
                                 (where, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
        check_output(where, documented, proc.stdout)
        ran += 1
    if ran < 10:
        raise AssertionError("only %d examples found in %s" % (ran, readme))
    print("ok: %d examples ran as written, %d synopses skipped" % (ran, skipped))


if __name__ == "__main__":
    main()
