"""OpenDSS's figures for `feeder_day.rs`: the European LV feeder through the 1440 minutes of its
load shapes in yearly mode at the bench's tolerances, two ways: a solution a minute driven from
Python (each warm-started from the last), and OpenDSS's own loop (`number=1440`, one `solve`).
The best of five days each. Run it back to back with the Rust bench on an idle machine:

    /tmp/dss/bin/python sim/benches/feeder_day_opendss.py   (dss-python, opendssdirect.py)
"""
import os, time
import opendssdirect as dss

FEEDERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "feeders")
MASTER = os.path.join(FEEDERS, "LVTestCase", "Master.dss")
DAYS = 5



def day(tol, own_loop):
    """Seconds for the day and iterations per step (own loop: not counted per step)."""
    dss.Basic.ClearAll()
    dss.Text.Command(f'compile "{MASTER}"')
    # The power flow alone, as the Rust bench times it: the master's energy meter would also
    # total the losses of every line at each step.
    dss.Text.Command("EnergyMeter.m1.enabled=no")
    dss.Text.Command(f"set maxiterations=100 tolerance={tol}")
    dss.Text.Command(f"set mode=yearly number={1440 if own_loop else 1} stepsize=1m")
    dss.Text.Command("set hour=0 sec=0")
    its = 0
    t = time.perf_counter()
    if own_loop:
        dss.Solution.Solve()
    else:
        for _ in range(1440):
            dss.Solution.Solve()
            its += dss.Solution.Iterations()
    return time.perf_counter() - t, its / 1440


for tol in ("1e-4", "1e-5", "1e-6"):
    for own_loop in (False, True):
        runs = [day(tol, own_loop) for _ in range(DAYS)]
        secs, its = min(runs)
        how = "in its own loop" if own_loop else f"from Python, {its:.2f} iterations per step"
        print(f"OpenDSS feeder day (LV, 1440 steps) tolerance {tol}: "
              f"{secs / 1440 * 1e3:.4f} ms per step {how}")
