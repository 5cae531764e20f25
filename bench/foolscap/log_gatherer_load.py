#!/usr/bin/env python3
"""Load-test foolscap's own log gatherer: the baseline for flog's gatherer (issue 12, "Speed").

One run:
  1. `flogtool create-gatherer` makes a gatherer directory, and `twistd -n -y gatherer.tac` runs
     it exactly as foolscap documents; foolscap's code writes its own
     `from-...---to-present.flog` file there.
  2. N publisher processes start (this file with `--publisher`): each is a Tub whose logport is
     handed to the gatherer through the `log-gatherer-furl` option. Each waits until the
     gatherer has subscribed, then all start at one shared wall-clock instant and log R events/s
     for S seconds, paced in 10 ms batches (100 ms at low rates), with
     `log.msg(format=..., a=, b=, c=, d=)`.
  3. When every publisher has finished logging, the gatherer is given time to drain (its file
     stops growing), then everything is stopped and the flogfile is read back with foolscap's
     own reader (`foolscap.logging.flogfile.get_events`, what `flogtool dump` uses).

Printed: one JSON line (machine-readable) and a short readable summary.
"""

import argparse
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

FACILITY = "bench.load"
FORMAT = "bench event %(a)d from %(b)s: %(c)d %(d)s"
TICK_S = 0.010
# A starved publisher catches up at most this much (or 5 ticks) of its schedule per tick, so it
# still logs in small batches; what it could not log shows as logged < offered, not as a burst.
MAX_CATCH_UP_S = 0.050
BIN = os.path.dirname(sys.executable)


# --------------------------------------------------------------------------- publisher process


def run_publisher(args):
    """One publishing application: a Tub with a logport given to the gatherer, logging R ev/s."""
    from twisted.internet import reactor
    from foolscap.api import Tub
    from foolscap.logging import log
    from foolscap.util import allocate_tcp_port

    tub = Tub()
    port = allocate_tcp_port()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % port)
    tub.setLocation("tcp:127.0.0.1:%d" % port)
    tub.startService()
    tub.setOption("log-gatherer-furl", args.furl)
    name = "pub%03d" % args.index
    state = {"logged": 0, "t0": None}
    # Batches every 10 ms, but not so often that a batch is under one event: at low rates 50
    # processes waking 100 times a second would cost more CPU than the events themselves.
    tick_s = max(TICK_S, min(0.1, 1.0 / max(1, args.rate)))

    def emit(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def wait_subscribed():
        # foolscap gives no public "the gatherer has subscribed" signal; its Subscription adds an
        # immediate observer to the logger when it does, so that is what we wait for. Logging
        # before it would only measure events the gatherer never asked for.
        if log.theLogger._immediate_observers:
            emit("READY")
            reactor.callLater(TICK_S, wait_start)
        else:
            reactor.callLater(TICK_S, wait_subscribed)

    def wait_start():
        try:
            with open(args.start_file) as f:
                t0 = float(f.read().strip())
        except (OSError, ValueError):
            reactor.callLater(TICK_S, wait_start)
            return
        state["t0"] = t0
        reactor.callLater(max(0.0, t0 - time.time()), tick)

    def tick():
        elapsed = min(time.time() - state["t0"], args.seconds)
        due = int(args.rate * elapsed)
        cap = state["logged"] + max(1, int(args.rate * max(MAX_CATCH_UP_S, 5 * tick_s)))
        end = min(due, cap)
        msg = log.msg
        for seq in range(state["logged"], end):
            msg(format=FORMAT, a=seq, b=name, c=seq * 7, d="payload",
                facility=FACILITY, level=log.OPERATIONAL)
        state["logged"] = max(state["logged"], end)
        if elapsed >= args.seconds:
            cpu = os.times()
            emit("DONE " + json.dumps({
                "index": args.index, "tubid": tub.getTubID(), "logged": state["logged"],
                "offered": int(args.rate * args.seconds),
                "cpu_s_since_spawn": cpu.user + cpu.system,
                "finished_late_s": time.time() - (state["t0"] + args.seconds),
            }))
            # Stay alive: the Subscription's queue still has to drain to the gatherer. The
            # controller ends us with SIGTERM, which the reactor's signal handler turns into stop.
            return
        reactor.callLater(tick_s, tick)

    reactor.callWhenRunning(wait_subscribed)
    reactor.run()


# --------------------------------------------------------------------------- measurement helpers


def proc_cpu_s(pid):
    """utime + stime of a process, in seconds (from /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_runqueue_wait_s(pid):
    """Time the process spent runnable but waiting for a CPU (/proc/PID/schedstat, field 2)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[1]) / 1e9


def proc_status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def wait_for(predicate, deadline_s, what):
    end = time.time() + deadline_s
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (deadline_s, what))


def flog_files(gdir):
    return sorted(glob.glob(os.path.join(gdir, "from-*.flog")))


def flog_bytes(gdir):
    return sum(os.path.getsize(p) for p in flog_files(gdir))


def read_gathered(gdir):
    """Read the gatherer's flogfiles with foolscap's own reader; count our events per publisher."""
    from foolscap.logging import flogfile

    per_pub = {}
    other = 0
    delays = []
    for path in flog_files(gdir):
        for wrapper in flogfile.get_events(path):
            if "d" not in wrapper:
                continue  # the file header
            ev = wrapper["d"]
            if ev.get("facility") != FACILITY:
                other += 1  # foolscap's own events (connection negotiation etc.)
                continue
            per_pub.setdefault(wrapper["from"], set()).add(ev["a"])
            delays.append(wrapper["rx_time"] - ev["time"])
    return per_pub, other, delays


def line_reader(proc, lines):
    for line in proc.stdout:
        lines.put((proc.pid, line.rstrip("\n")))


# --------------------------------------------------------------------------- controller


def start_gatherer(gdir, profile):
    from foolscap.util import allocate_tcp_port

    port = allocate_tcp_port()
    subprocess.run([os.path.join(BIN, "flogtool"), "create-gatherer", "--quiet",
                    "--port", "tcp:%d:interface=127.0.0.1" % port,
                    "--location", "tcp:127.0.0.1:%d" % port, gdir], check=True)
    log_path = os.path.join(gdir, "twistd.log")
    cmd = [os.path.join(BIN, "twistd"), "-n", "-l", log_path,
           "--pidfile", os.path.join(gdir, "twistd.pid")]
    if profile:
        # twistd's own profiler; the stats are written when the gatherer stops.
        cmd += ["--profile", os.path.abspath(profile), "--profiler", "cprofile", "--savestats"]
    proc = subprocess.Popen(cmd + ["-y", "gatherer.tac"], cwd=gdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    furl_file = os.path.join(gdir, "log_gatherer.furl")
    wait_for(lambda: os.path.exists(furl_file) and os.path.getsize(furl_file) > 0, 60,
             "the gatherer's log_gatherer.furl")
    with open(furl_file) as f:
        furl = f.read().strip()
    return proc, furl


def run_controller(args):
    workdir = args.workdir or tempfile.mkdtemp(prefix="foolscap-gatherer-load-")
    gdir = os.path.join(workdir, "gatherer")
    start_file = os.path.join(workdir, "start")
    load_before = loadavg()
    gatherer, furl = start_gatherer(gdir, args.gatherer_profile)
    pubs = []
    lines = queue.Queue()
    try:
        for i in range(args.publishers):
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--publisher",
                                  "--furl", furl, "--index", str(i), "--rate", str(args.rate),
                                  "--seconds", str(args.seconds), "--start-file", start_file],
                                 stdout=subprocess.PIPE, text=True)
            pubs.append(p)
            threading.Thread(target=line_reader, args=(p, lines), daemon=True).start()
        ready = set()
        done = {}
        collect(lines, pubs, ready, done, lambda: len(ready) == len(pubs),
                args.setup_timeout, "every publisher to be subscribed")
        # Every publisher starts at this instant (in the near future, so slow ones see it).
        t0 = time.time() + 1.0
        with open(start_file + ".tmp", "w") as f:
            f.write(repr(t0))
        os.rename(start_file + ".tmp", start_file)
        wait_for(lambda: time.time() >= t0, 5, "start")
        cpu0 = proc_cpu_s(gatherer.pid)
        wait0 = proc_runqueue_wait_s(gatherer.pid)
        pubs_cpu0 = sum(proc_cpu_s(p.pid) for p in pubs)
        collect(lines, pubs, ready, done, lambda: len(done) == len(pubs),
                args.seconds + args.setup_timeout, "every publisher to finish logging")
        t_logged = time.time()
        t_drained = drain(gdir, args.quiet_s, args.drain_timeout)
        cpu1 = proc_cpu_s(gatherer.pid)
        wait1 = proc_runqueue_wait_s(gatherer.pid)
        hwm_kib = proc_status_kib(gatherer.pid, "VmHWM")
        # Publisher CPU from the start of logging until drained (logging + sending the
        # backlog), to show where the time goes besides the gatherer.
        pubs_cpu_s = sum(proc_cpu_s(p.pid) for p in pubs) - pubs_cpu0
    finally:
        for p in pubs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in pubs:
            p.wait(timeout=60)
        gatherer.send_signal(signal.SIGTERM)
        gatherer.wait(timeout=60)
    load_after = loadavg()
    timing = {"t0": t0, "t_logged": t_logged, "t_drained": t_drained}
    cpu = {"gatherer": cpu1 - cpu0, "gatherer_wait": wait1 - wait0, "publishers": pubs_cpu_s}
    result = report(args, gdir, done, timing, cpu, hwm_kib, load_before, load_after)
    if not args.keep:
        shutil.rmtree(gdir)  # a 1M-event flogfile is ~300 MB
        os.remove(start_file)
        if not args.workdir:
            os.rmdir(workdir)
    return result


def collect(lines, pubs, ready, done, finished, timeout_s, what):
    end = time.time() + timeout_s
    while not finished():
        for p in pubs:
            if p.poll() is not None and p.returncode != 0:
                raise RuntimeError("publisher pid %d exited with %d" % (p.pid, p.returncode))
        try:
            pid, line = lines.get(timeout=max(0.01, min(0.5, end - time.time())))
        except queue.Empty:
            if time.time() > end:
                raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout_s, what))
            continue
        if line == "READY":
            ready.add(pid)
        elif line.startswith("DONE "):
            done[pid] = json.loads(line[5:])


def drain(gdir, quiet_s, timeout_s):
    """Wait until the gatherer's files stop growing for quiet_s; return when they last grew."""
    end = time.time() + timeout_s
    size, changed = flog_bytes(gdir), time.time()
    while time.time() < end:
        time.sleep(0.1)
        now_size = flog_bytes(gdir)
        if now_size != size:
            size, changed = now_size, time.time()
        elif time.time() - changed >= quiet_s:
            return changed
    raise RuntimeError("gatherer still writing after %.0f s of drain" % timeout_s)


def report(args, gdir, done, timing, cpu, hwm_kib, load_before, load_after):
    per_pub, other, delays = read_gathered(gdir)
    t0, t_logged, t_drained = timing["t0"], timing["t_logged"], timing["t_drained"]
    cpu_s = cpu["gatherer"]
    drain_s = max(0.0, t_drained - t_logged)
    logged = sum(d["logged"] for d in done.values())
    offered = sum(d["offered"] for d in done.values())
    stored = sum(len(s) for s in per_pub.values())
    delays.sort()
    result = {
        "publishers": args.publishers, "rate_per_publisher": args.rate, "seconds": args.seconds,
        "offered_total_rate": args.publishers * args.rate,
        "offered": offered, "logged": logged, "stored": stored, "lost": logged - stored,
        "logged_rate": logged / args.seconds,
        # What the gatherer actually wrote per second, from the start of logging until its file
        # stopped growing (stored / S would overstate it when the backlog drains for minutes).
        "stored_rate": stored / max(1e-9, t_drained - t0),
        # Kept up = nothing lost and the backlog gone within a second of the last event logged.
        "kept_up": logged == stored and drain_s < 1.0,
        "publishers_with_loss": sum(
            1 for d in done.values() if len(per_pub.get(d["tubid"], ())) < d["logged"]),
        "foolscap_internal_events_stored": other,
        "gatherer_cpu_s": cpu_s,
        "gatherer_cpu_s_per_100k_events": (cpu_s / stored * 1e5) if stored else None,
        "gatherer_busy_fraction": cpu_s / max(1e-9, t_drained - t0),
        # Share of the run the gatherer was runnable but had no CPU (the machine is shared).
        "gatherer_runqueue_wait_fraction": cpu["gatherer_wait"] / max(1e-9, t_drained - t0),
        "gatherer_peak_rss_mib": hwm_kib / 1024.0,
        "publishers_cpu_s": cpu["publishers"],
        "publishers_finished_late_s_max": max(d["finished_late_s"] for d in done.values()),
        "drain_after_logging_s": drain_s,
        "delay_s_p50": percentile(delays, 50), "delay_s_p99": percentile(delays, 99),
        "delay_s_max": delays[-1] if delays else None,
        "loadavg_before": load_before, "loadavg_after": load_after,
        "gatherer_dir": gdir,
    }
    print(json.dumps(result))
    print_summary(result)
    return result


def print_summary(r):
    def ms(v):
        return "-" if v is None else "%.1f ms" % (v * 1e3)

    print("foolscap log gatherer, %d publishers x %d ev/s for %d s (offered %d ev/s):"
          % (r["publishers"], r["rate_per_publisher"], r["seconds"], r["offered_total_rate"]))
    print("  logged %d (%.0f ev/s), stored %d (%.0f ev/s written), lost %d (%d publishers lost"
          " events); kept up: %s"
          % (r["logged"], r["logged_rate"], r["stored"], r["stored_rate"], r["lost"],
             r["publishers_with_loss"], "yes" if r["kept_up"] else "no"))
    per100k = r["gatherer_cpu_s_per_100k_events"]
    print("  gatherer CPU %.2f s (busy %.0f%% of one core), %s CPU s per 100k ev/s,"
          " peak RSS %.1f MiB"
          % (r["gatherer_cpu_s"], 100 * r["gatherer_busy_fraction"],
             "-" if per100k is None else "%.2f" % per100k, r["gatherer_peak_rss_mib"]))
    print("  gatherer waited for a CPU %.0f%% of the run; publishers used %.1f CPU s in all"
          % (100 * r["gatherer_runqueue_wait_fraction"], r["publishers_cpu_s"]))
    print("  delay logged->stored p50 %s, p99 %s, max %s; drain after logging %.1f s"
          % (ms(r["delay_s_p50"]), ms(r["delay_s_p99"]), ms(r["delay_s_max"]),
             r["drain_after_logging_s"]))
    print("  load average before %s, after %s" % (r["loadavg_before"], r["loadavg_after"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--publishers", type=int, default=50, help="publisher processes (N)")
    ap.add_argument("-r", "--rate", type=int, default=20000, help="events/s per publisher (R)")
    ap.add_argument("-s", "--seconds", type=int, default=10, help="logging time (S)")
    ap.add_argument("--workdir", help="where the gatherer directory goes (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the gatherer directory (and its flogfile) after the run")
    ap.add_argument("--setup-timeout", type=float, default=180,
                    help="seconds allowed for publishers to start/subscribe and to finish")
    ap.add_argument("--quiet-s", type=float, default=3.0,
                    help="drained = the flogfile has not grown for this long")
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--gatherer-profile", metavar="FILE",
                    help="run the gatherer under twistd's cProfile, stats to FILE (slows it down:"
                         " for finding where the time goes, not for figures)")
    # Internal: run as one publisher process.
    ap.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--furl", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--start-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publisher:
        run_publisher(args)
    else:
        run_controller(args)


if __name__ == "__main__":
    main()
