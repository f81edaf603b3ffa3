"""Reference bus voltages from OpenDSS (DSS C-API via opendssdirect.py) for sim/tests/feeder_reference.rs.

Run from the repository root with ../shared beside it:
    python3 -m venv /tmp/dss && /tmp/dss/bin/pip install dss-python opendssdirect.py
    /tmp/dss/bin/python sim/tests/reference/opendss_reference.py
Writes one CSV per case: bus,node,pu,angle_deg (angle of the node voltage to ground).
"""
import csv, os, sys
import opendssdirect as dss

FEEDERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "feeders")
OUT = os.path.dirname(os.path.abspath(__file__))


def dump(name, extra=""):
    rows = []
    for bus in dss.Circuit.AllBusNames():
        dss.Circuit.SetActiveBus(bus)
        kvb = dss.Bus.kVBase() * 1000.0
        nodes = dss.Bus.Nodes()
        v = dss.Bus.Voltages()
        for k, n in enumerate(nodes):
            re, im = v[2 * k], v[2 * k + 1]
            mag = (re * re + im * im) ** 0.5
            import math
            rows.append((bus, n, mag / kvb if kvb > 0 else 0.0, math.degrees(math.atan2(im, re))))
    p = -dss.Circuit.TotalPower()[0]
    with open(os.path.join(OUT, name + ".csv"), "w", newline="") as f:
        f.write(f"# OpenDSS {dss.Basic.Version().split()[1]}; feeder input kW {p:.4f}; iterations {dss.Solution.Iterations()}{extra}\n")
        w = csv.writer(f)
        w.writerow(["bus", "node", "pu", "angle_deg"])
        for r in rows:
            w.writerow([r[0], r[1], f"{r[2]:.7f}", f"{r[3]:.4f}"])
    print(name, "kW", p, "iterations", dss.Solution.Iterations())


def compile(path):
    dss.Basic.ClearAll()
    dss.Text.Command(f'compile "{os.path.abspath(path)}"')


# IEEE 4-node, Y-Y unbalanced, as shipped.
compile(os.path.join(FEEDERS, "4Bus-YY-UnBal", "4Bus-YY-UnBal.dss"))
dump("4bus_yy_unbal")

# IEEE 13-node, regulator taps fixed at 10/8/11.
compile(os.path.join(FEEDERS, "13Bus", "IEEE13Nodeckt.dss"))
for reg, tap in (("Reg1", 10), ("Reg2", 8), ("Reg3", 11)):
    dss.Text.Command(f"RegControl.{reg}.enabled=no")
    dss.Text.Command(f"Transformer.{reg}.wdg=2 tap={1 + tap * 0.00625}")
dss.Text.Command("solve")
dump("13bus_taps_10_8_11")

# European LV feeder at minute 566, constant power, and as shipped.
for label, vmax in (("lv_minute566_constant_power", True), ("lv_minute566_as_shipped", False)):
    compile(os.path.join(FEEDERS, "LVTestCase", "Master.dss"))
    if vmax:
        dss.Text.Command("batchedit load..* vmaxpu=1.5 vminpu=0.5")
    dss.Text.Command("set mode=yearly number=1 stepsize=1m")
    dss.Text.Command("set hour=0 sec=" + str(565 * 60))
    dss.Text.Command("solve")
    dump(label)

# IEEE 13-node as shipped: regulators controlling (static control mode).
compile(os.path.join(FEEDERS, "13Bus", "IEEE13Nodeckt.dss"))
taps = []
for reg in ("Reg1", "Reg2", "Reg3"):
    dss.Transformers.Name(reg)
    dss.Transformers.Wdg(2)
    taps.append(round((dss.Transformers.Tap() - 1) / 0.00625))
dump("13bus_regulated", f"; taps {taps[0]} {taps[1]} {taps[2]}")
