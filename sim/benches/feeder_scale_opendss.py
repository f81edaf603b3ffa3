"""OpenDSS's figures for `feeder_scale.rs`, the same steps in the same order: compile, the first
solution with controls, then warm solves alternating `loadmult` between 0.98 and 1.0; then the
8500-node's day (scenarios/data/ieee8500_day.dss) at 15-minute steps in yearly mode.

    /tmp/dss/bin/python sim/benches/feeder_scale_opendss.py   (dss-python, opendssdirect.py)
"""
import os, time
import opendssdirect as dss

FEEDERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "feeders")
STEPS = 200

for name, master in (("123-node", "123Bus/IEEE123Master.dss"), ("8500-node", "8500-Node/Master.dss")):
    dss.Basic.ClearAll()
    t = time.perf_counter()
    dss.Text.Command(f'compile "{os.path.join(FEEDERS, master)}"')
    compile_s = time.perf_counter() - t
    dss.Text.Command("set maxiterations=100 tolerance=1e-4")
    t = time.perf_counter()
    dss.Text.Command("solve")
    print(f"{name}: compile {compile_s * 1e3:.1f} ms, first solution with controls "
          f"{(time.perf_counter() - t) * 1e3:.1f} ms ({dss.Solution.Iterations()} iterations)")
    for tol in ("1e-4", "1e-6"):
        dss.Text.Command(f"set tolerance={tol}")
        its = 0
        t = time.perf_counter()
        for k in range(STEPS):
            dss.Text.Command(f"set loadmult={0.98 if k % 2 == 0 else 1.0}")
            dss.Text.Command("solve")
            its += dss.Solution.Iterations()
        per = (time.perf_counter() - t) / STEPS
        print(f"{name} step, tolerance {tol}: {per * 1e3:.3f} ms, {its / STEPS:.2f} iterations")

DAY = os.path.join(FEEDERS, "..", "scenarios", "data", "ieee8500_day.dss")
for tol in ("1e-4", "1e-6"):
    dss.Basic.ClearAll()
    dss.Text.Command(f'compile "{DAY}"')
    dss.Text.Command(f"set maxiterations=100 maxcontroliter=100 tolerance={tol}")
    dss.Text.Command("set mode=yearly stepsize=15m number=1 hour=0 sec=0")
    its = 0
    t = time.perf_counter()
    for _ in range(96):
        dss.Text.Command("solve")
        its += dss.Solution.Iterations()
    per = (time.perf_counter() - t) / 96
    print(f"8500-node day step with controls, tolerance {tol}: {per * 1e3:.3f} ms, "
          f"{its / 96:.2f} iterations")
