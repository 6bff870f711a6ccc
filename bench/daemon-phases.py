#!/usr/bin/env python3
"""Reduces bench/daemon-phases.bt's lines to the phases of each mycat run through myopend, and
prints min, median and max of each phase as a Markdown table.

    daemon-phases.py TRACE

The runs must not overlap (bench/daemon.sh paces them): each mycat exec opens a window, and the
window's listener, worker and client events are taken in time order.
"""

import statistics
import sys

def events_of(path):
    events = []
    with open(path) as trace:
        for line in trace:
            fields = line.split()
            if len(fields) != 5 or not fields[0].isdigit():
                continue
            tid, comm, event, value, ns = fields
            events.append((int(ns), int(tid), comm, event, int(value)))
    events.sort()
    return events


def first(events, after, predicate):
    """The time of the first event at or after `after` that matches, else None."""
    for ns, tid, comm, event, value in events:
        if ns >= after and predicate(tid, comm, event, value):
            return ns, tid
    return None, None


def phases_of(window):
    exec_ns, client = window[0][0], window[0][1]
    mine = lambda name, nth=1: nth_of(window, lambda t, c, e, v: t == client and e == name, nth)
    connect = mine("connect")
    hello = nth_of(window, lambda t, c, e, v: t == client and e == "received" and v > 0, 1)
    request = mine("send")
    reply = nth_of(window, lambda t, c, e, v: t == client and e == "received" and v > 0, 2)
    ended = mine("exit")
    if None in (connect, hello, request, reply, ended):
        return None
    accepted, listener = first(window, connect, lambda t, c, e, v: e == "accept" and v >= 0)
    if accepted is None:
        return None
    handover, _ = first(window, accepted, lambda t, c, e, v: t == listener and e == "send")
    fork, _ = first(window, handover or 0, lambda t, c, e, v: t == listener and e == "fork")
    woke, worker = first(
        window, handover or 0,
        lambda t, c, e, v: c == "myopend" and t != listener and e == "received" and v == 1)
    if worker is None:
        return None
    theirs = lambda name, after=0: first(
        window, after, lambda t, c, e, v: t == worker and e == name)[0]
    became = theirs("became", woke)
    landlock = theirs("landlock", woke)
    landlocked = theirs("landlocked", woke)
    seccomp = theirs("seccomp", woke)
    seccomped = theirs("seccomped", woke)
    hello_sent = theirs("send", woke)
    # An armed worker (issue 11) made its audit socket before the connection came: none here.
    if None in (became, landlock, landlocked, seccomp, seccomped, hello_sent):
        return None
    phases = {
        "mycat: exec to connect (start-up, its own open refused)": connect - exec_ns,
        "listener: connect to accept (wake-up)": accepted - connect,
        "listener: accept to hand-over (SO_PEERCRED, limits, sendmsg)": handover - accepted,
        "worker: hand-over to running": woke - handover,
        "worker: peer credentials and credential switch": became - woke,
        "worker: switch to Landlock (user name; policy load, or its fstat check when armed)":
            landlock - became,
        "worker: Landlock (ruleset, roots, restrict_self)": landlocked - landlock,
        "worker: seccomp filter install (armed: the switch-closing filter)": seccomped - seccomp,
        "worker: seccomp to hello": hello_sent - seccomped,
        "hello: sent to received by mycat": hello - hello_sent,
        "first request: sent to reply received (resolve, audit, open)": reply - request,
        "mycat: reply to exit (copy, exit)": ended - reply,
        "connect to hello received (set-up as mycat sees it)": hello - connect,
        "whole mycat: exec to exit": ended - exec_ns,
    }
    # Whether the listener's replacement fork ran before the hello reached the client (on two
    # cores it then competes with the worker's set-up).
    phases["(replacement fork before the hello: 1, after: 0)"] = (
        1 if fork is not None and fork < hello else 0)
    return phases


def nth_of(window, predicate, nth):
    seen = 0
    for ns, tid, comm, event, value in window:
        if predicate(tid, comm, event, value):
            seen += 1
            if seen == nth:
                return ns
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    events = events_of(sys.argv[1])
    starts = [i for i, (_, _, comm, event, _) in enumerate(events) if event == "exec"]
    runs = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(events)
        phases = phases_of(events[start:end])
        if phases is not None:
            runs.append(phases)
    if not runs:
        sys.exit("daemon-phases.py: no complete mycat run in the trace")
    print(f"\n## Where one mycat through myopend spends its time ({len(runs)} runs, "
          "syscall tracepoints)\n")
    print("| phase | min (us) | median (us) | max (us) |")
    print("| --- | ---: | ---: | ---: |")
    for name in runs[0]:
        values = [run[name] for run in runs]
        if name.startswith("("):
            print(f"| {name} | | {sum(values)} of {len(values)} | |")
            continue
        print(f"| {name} | {min(values) / 1e3:.1f} | {statistics.median(values) / 1e3:.1f} | "
              f"{max(values) / 1e3:.1f} |")


if __name__ == "__main__":
    main()
