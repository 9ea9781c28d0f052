#!/usr/bin/env python3
"""Run a program and append what it cost as one JSON line (deno task bench's process meter).

    rusage.py OUT PROGRAM [ARGS...]

PROGRAM is exec'ed exactly as given (argv[0] unchanged, stdin/stdout/stderr inherited), and
waited for with wait4(2), which reports the CPU time of the process and of every descendant it
waited for (host commands included) and the peak resident set of the largest of them. The line:
{"wall_ms", "user_ms", "sys_ms", "maxrss_kib", "code"}. The exit code is passed on.
Deno has no wait4; this is the smallest stand-in with microsecond CPU times.
"""
import json
import os
import sys
import time


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    line = {
        "wall_ms": round(wall * 1000, 3),
        "user_ms": round(ru.ru_utime * 1000, 3),
        "sys_ms": round(ru.ru_stime * 1000, 3),
        "maxrss_kib": ru.ru_maxrss,
        "code": code,
    }
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
