"""Reference bus voltages from OpenDSS (DSS C-API via opendssdirect.py) for sim/tests/feeder_reference.rs.

Run from the repository root:
    python3 -m venv /tmp/dss && /tmp/dss/bin/pip install dss-python opendssdirect.py
    /tmp/dss/bin/python sim/tests/reference/opendss_reference.py [CASE ...]
Writes one CSV per case (every case, or those named): bus,node,pu,angle_deg (angle of the node
voltage to ground).

With `--day [LOAD ...]` it prints instead the European LV feeder's day figures that
scenarios/feeder_lv_*.ron bracket, with the named loads moved to phase C first.
"""
import csv, os, sys
import opendssdirect as dss

FEEDERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "feeders")
OUT = os.path.dirname(os.path.abspath(__file__))


CASES = [a for a in sys.argv[1:] if not a.startswith("--")]


def dump(name, extra=""):
    if CASES and name not in CASES:
        return
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


def controls():
    """The header's record of the controls: every regulator's tap and every bank's state."""
    taps = []
    for reg in dss.RegControls.AllNames():
        dss.RegControls.Name(reg)
        taps.append(dss.RegControls.TapNumber())
    states = []
    for cap in dss.Capacitors.AllNames():
        dss.Capacitors.Name(cap)
        states.append(str(dss.Capacitors.States()[0]))
    return "; taps " + " ".join(str(t) for t in taps) + "; capacitors " + " ".join(states)


def compile(path):
    dss.Basic.ClearAll()
    dss.Text.Command(f'compile "{os.path.abspath(path)}"')


def lv_day(moved):
    """Mean input kW, home voltage extremes, worst-bus VUF and the secondary residual."""
    import cmath, math
    compile(os.path.join(FEEDERS, "LVTestCase", "Master.dss"))
    for n in moved:
        dss.Circuit.SetActiveElement("Load." + n)
        bus = dss.CktElement.BusNames()[0].split(".")[0]
        dss.Text.Command(f"Edit Load.{n} bus1={bus}.3")
    dss.Text.Command("set mode=yearly number=1 stepsize=1m")
    dss.Text.Command("set hour=0 sec=0")
    a = cmath.exp(2j * math.pi / 3)
    homes = []
    for n in dss.Loads.AllNames():
        dss.Circuit.SetActiveElement("Load." + n)
        bus, node = dss.CktElement.BusNames()[0].split(".")[:2]
        homes.append((bus, int(node)))
    kw, vmin, vmax, vuf, resid = [], 9.0, 0.0, [], []
    for _ in range(1440):
        dss.Text.Command("solve")
        kw.append(-dss.Circuit.TotalPower()[0])
        for bus, node in homes:
            dss.Circuit.SetActiveBus(bus)
            v = dss.Bus.Voltages()
            k = dss.Bus.Nodes().index(node)
            pu = abs(complex(v[2 * k], v[2 * k + 1])) / (dss.Bus.kVBase() * 1000)
            vmin, vmax = min(vmin, pu), max(vmax, pu)
        worst = 0.0
        for bus in dss.Circuit.AllBusNames():
            dss.Circuit.SetActiveBus(bus)
            nodes = dss.Bus.Nodes()
            if bus == "sourcebus" or not all(x in nodes for x in (1, 2, 3)):
                continue
            v = dss.Bus.Voltages()
            p = [complex(v[2 * nodes.index(x)], v[2 * nodes.index(x) + 1]) for x in (1, 2, 3)]
            v1 = p[0] + a * p[1] + a * a * p[2]
            v2 = p[0] + a * a * p[1] + a * p[2]
            worst = max(worst, 100 * abs(v2) / abs(v1))
        vuf.append(worst)
        dss.Circuit.SetActiveElement("Transformer.TR1")
        c = dss.CktElement.Currents()
        n = dss.CktElement.NumConductors()
        resid.append(abs(sum(complex(c[2 * k], c[2 * k + 1]) for k in range(n, n + 3))))
    p95 = lambda x: sorted(x)[math.ceil(0.95 * len(x)) - 1]
    print(f"mean input {sum(kw) / len(kw):.4f} kW; home voltage {vmin:.5f} .. {vmax:.5f} pu")
    print(f"worst-bus VUF p95 {p95(vuf):.4f} %, max {max(vuf):.4f} %")
    print(f"secondary residual max {max(resid):.2f} A, p95 {p95(resid):.2f} A")


if "--day" in sys.argv:
    lv_day(sys.argv[sys.argv.index("--day") + 1:])
    sys.exit(0)

# IEEE 4-node, Y-Y unbalanced, as shipped.
compile(os.path.join(FEEDERS, "4Bus-YY-UnBal", "4Bus-YY-UnBal.dss"))
dump("4bus_yy_unbal")

# IEEE 4-node, open wye / open delta unbalanced: the delta side held to ground only by the
# line's capacitance (ppm_antifloat=0).
compile(os.path.join(FEEDERS, "4Bus-OYOD-UnBal", "4bus-OYOD-UnBal.dss"))
dss.Text.Command("solve")
dump("4bus_oyod_unbal")

# IEEE 4-node, open wye / open delta balanced, lines from geometry under OpenDSS's default
# Deri earth model; the file's last script (ppm_antifloat left at 1, a 1 kvar capacitor to
# hold the delta side) is the one in force.
compile(os.path.join(FEEDERS, "4Bus-OYOD-Bal", "4Bus-OYOD-Bal.DSS"))
dump("4bus_oyod_bal")

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

# IEEE 123-node as shipped: seven regulators controlling (a three-phase gang at the
# substation, single-phase units and banks built with like=).
compile(os.path.join(FEEDERS, "123Bus", "IEEE123Master.dss"))
dss.Text.Command("solve")
taps = []
for reg in dss.RegControls.AllNames():
    dss.RegControls.Name(reg)
    taps.append(dss.RegControls.TapNumber())
dump("123bus_regulated", "; taps " + " ".join(str(t) for t in taps))

# IEEE 34-node, Mod 1 (distributed loads at both ends of their sections) and Mod 2 (at
# midpoint buses), as shipped: two three-phase banks of single-phase regulators controlling,
# loads of models 1, 2, 4 and 5 held to their laws down to 0.85 pu.
for case, master in (("34bus_mod1_regulated", "ieee34Mod1.dss"), ("34bus_mod2_regulated", "ieee34Mod2.dss")):
    compile(os.path.join(FEEDERS, "34Bus", master))
    dss.Text.Command("solve")
    taps = []
    for reg in dss.RegControls.AllNames():
        dss.RegControls.Name(reg)
        taps.append(dss.RegControls.TapNumber())
    dump(case, "; taps " + " ".join(str(t) for t in taps))

# IEEE 37-node as shipped: an open-delta pair of regulators (phases A-B and C-B) controlling,
# delta loads of models 1, 2 and 4.
compile(os.path.join(FEEDERS, "37Bus", "ieee37.dss"))
taps = []
for reg in dss.RegControls.AllNames():
    dss.RegControls.Name(reg)
    taps.append(dss.RegControls.TapNumber())
dump("37bus_regulated", "; taps " + " ".join(str(t) for t in taps))

# Every load model (sim/tests/reference/load_models.dss) with the source at 1.0, 0.8, 0.45 and
# 1.1 pu: each load's kW and kvar.
if not CASES or "load_models" in CASES:
    with open(os.path.join(OUT, "load_models.csv"), "w", newline="") as f:
        f.write(f"# OpenDSS {dss.Basic.Version().split()[1]}: each load's power, source pu from 1.1 to 0.45\n")
        w = csv.writer(f)
        w.writerow(["source_pu", "load", "kw", "kvar"])
        for pu in (1.0, 0.8, 0.45, 1.1):
            compile(os.path.join(OUT, "load_models.dss"))
            dss.Text.Command(f"Vsource.source.pu={pu}")
            dss.Text.Command("solve")
            for name in dss.Loads.AllNames():
                dss.Circuit.SetActiveElement("Load." + name)
                s = dss.CktElement.Powers()
                w.writerow([pu, name, f"{sum(s[0::2]):.6f}", f"{sum(s[1::2]):.6f}"])
    print("load_models written")

# A split-phase service (sim/tests/reference/split_phase.dss): a center-tapped transformer and
# a triplex drop; with all three loads, and with the 240 V load alone. The header gives the
# current the center tap returns to ground (the neutral), amperes.
for case, only_240 in (("split_phase", False), ("split_phase_240", True)):
    compile(os.path.join(OUT, "split_phase.dss"))
    if only_240:
        dss.Text.Command("Load.leg1.enabled=no")
        dss.Text.Command("Load.leg2.enabled=no")
    dss.Text.Command("solve")
    dss.Circuit.SetActiveElement("Transformer.ct")
    c = dss.CktElement.Currents()
    # Terminals of 2 conductors each: winding 2 (s.1, s.0) and winding 3 (s.0, s.2).
    neutral = complex(c[6], c[7]) + complex(c[8], c[9])
    dump(case, f"; neutral {abs(neutral):.6f} A")

# IEEE 8500-node, balanced loads: twelve single-phase regulators and four capacitor banks
# (nine under kvar control with voltage override) in control; 1177 split-phase homes behind
# center-tapped transformers. Solved to a tolerance of 1e-8: at OpenDSS's default 1e-4 its
# last iteration stops up to 1.7e-4 pu short of the solution on the secondaries. The header
# gives the taps and every bank's state.
compile(os.path.join(FEEDERS, "8500-Node", "Master.dss"))
dss.Text.Command("set maxiterations=100 tolerance=1e-8")
dss.Text.Command("solve")
dump("8500node_regulated", controls())

# The same two feeders with their largest single-phase lateral re-phased, its tap moved to
# the next phase of its three-phase bus (what `gridtwin rephase` plans): the 123-node's L107
# from 108.1 to 108.2, the 8500-node's LN6351523-3 from M1108315.3 to M1108315.1. Regulators
# and capacitor controls in control, as above.
for case, master, edit, tight in (
    ("123bus_rephased", os.path.join("123Bus", "IEEE123Master.dss"), "Edit Line.L107 bus1=108.2", False),
    ("8500node_rephased", os.path.join("8500-Node", "Master.dss"), "Edit Line.LN6351523-3 bus1=M1108315.1", True),
):
    if CASES and case not in CASES:
        continue
    compile(os.path.join(FEEDERS, master))
    dss.Text.Command(edit)
    if tight:
        dss.Text.Command("set maxiterations=100 tolerance=1e-8")
    dss.Text.Command("solve")
    dump(case, controls())

# Capacitor controls of each kind (sim/tests/reference/cap_controls.dss), solved tightly; the
# header gives the regulator's tap and each bank's state.
compile(os.path.join(OUT, "cap_controls.dss"))
dss.Text.Command("set maxiterations=100 tolerance=1e-8")
dss.Text.Command("solve")
dss.RegControls.Name("reg")
states = []
for cap in dss.Capacitors.AllNames():
    dss.Capacitors.Name(cap)
    states.append(f"{cap}={dss.Capacitors.States()[0]}")
dump("cap_controls", f"; tap {dss.RegControls.TapNumber()}; " + " ".join(states) + f"; control iterations {dss.Solution.ControlIterations()}")

# Generators and a PV system (sim/tests/reference/generators.dss), solved tightly; the header
# gives each one's output (kW, kvar) as OpenDSS reports it.
compile(os.path.join(OUT, "generators.dss"))
dss.Text.Command("set maxiterations=100 tolerance=1e-8")
dss.Text.Command("solve")
outs = []
for cls in ("Generator", "PVSystem"):
    names = dss.Generators.AllNames() if cls == "Generator" else dss.PVsystems.AllNames()
    for n in names:
        dss.Circuit.SetActiveElement(f"{cls}.{n}")
        s = dss.CktElement.Powers()
        outs.append(f"{n}={-sum(s[0::2]):.4f}{-sum(s[1::2]):+.4f}j")
dump("generators", "; " + " ".join(outs))

# A split-phase home panel (sim/tests/reference/split_phase_panel.dss), as sim::pdu wires it:
# with every load, with the 240 V loads alone, and with the neutral open. Each row is a panel
# node's voltage to the center tap (V), a conductor's current (A) or a load's power (W, var).
if not CASES or "split_phase_panel" in CASES:
    with open(os.path.join(OUT, "split_phase_panel.csv"), "w", newline="") as f:
        f.write(f"# OpenDSS {dss.Basic.Version().split()[1]}: split-phase panel, solved to 1e-10\n")
        w = csv.writer(f)
        w.writerow(["case", "quantity", "re", "im"])
        for case, commands in (
            ("all", []),
            ("240_only", ["Load.kitchen.enabled=no", "Load.lights.enabled=no"]),
            ("open_neutral", ["Reactor.n.enabled=no"]),
        ):
            compile(os.path.join(OUT, "split_phase_panel.dss"))
            for c in commands:
                dss.Text.Command(c)
            dss.Text.Command("set maxiterations=100 tolerance=1e-10")
            dss.Text.Command("solve")
            dss.Circuit.SetActiveBus("p")
            v = dss.Bus.Voltages()
            for k, node in enumerate(("v_l1", "v_l2", "v_n")):
                w.writerow([case, node, f"{v[2 * k]:.9f}", f"{v[2 * k + 1]:.9f}"])
            for r in ("l1", "l2", "n"):
                dss.Circuit.SetActiveElement("Reactor." + r)
                c = dss.CktElement.Currents() if dss.CktElement.Enabled() else [0.0, 0.0]
                w.writerow([case, "i_" + r, f"{c[0]:.9f}", f"{c[1]:.9f}"])
            for name in dss.Loads.AllNames():
                dss.Circuit.SetActiveElement("Load." + name)
                s = dss.CktElement.Powers() if dss.CktElement.Enabled() else [0.0, 0.0]
                w.writerow([case, "s_" + name, f"{1000 * sum(s[0::2]):.9f}", f"{1000 * sum(s[1::2]):.9f}"])
    print("split_phase_panel written")

# The IEEE 8500-node feeder through a day (scenarios/data/ieee8500_day.dss) in yearly mode at
# 15-minute steps, each solved to 1e-8 from the step before, controls in (static) control. Per
# step: the taps, the bank states, the feeder's input and the lowest and highest node in pu;
# every node at the evening peak (step 68, 17:00) in 8500node_day_peak.csv (name both cases
# to write them alone).
if not CASES or "8500node_day" in CASES:
    compile(os.path.join(OUT, "..", "..", "..", "scenarios", "data", "ieee8500_day.dss"))
    dss.Text.Command("set maxiterations=100 maxcontroliter=100 tolerance=1e-8")
    dss.Text.Command("set mode=yearly stepsize=15m number=1 hour=0 sec=0")
    with open(os.path.join(OUT, "8500node_day.csv"), "w", newline="") as f:
        f.write(f"# OpenDSS {dss.Basic.Version().split()[1]}: IEEE 8500-node, default day, 15-minute steps, 1e-8\n")
        w = csv.writer(f)
        regs, caps = dss.RegControls.AllNames(), dss.Capacitors.AllNames()
        w.writerow(["step"] + regs + caps + ["kw", "vmin_pu", "vmax_pu"])
        for step in range(1, 97):
            dss.Text.Command("solve")
            taps = []
            for reg in regs:
                dss.RegControls.Name(reg)
                taps.append(dss.RegControls.TapNumber())
            states = []
            for cap in caps:
                dss.Capacitors.Name(cap)
                states.append(dss.Capacitors.States()[0])
            pu = [x for x in dss.Circuit.AllBusMagPu() if x > 0.0]
            kw = -dss.Circuit.TotalPower()[0]
            w.writerow([step] + taps + states + [f"{kw:.4f}", f"{min(pu):.7f}", f"{max(pu):.7f}"])
            if step == 68:
                dump("8500node_day_peak", "; step 68 of the default day")
    print("8500node_day written")

# Time-of-day capacitor controls (sim/tests/reference/cap_time.dss) through two days in yearly
# mode at 30-minute steps: each step's bank states and the voltage at bus b, phase 1.
if not CASES or "cap_time" in CASES:
    compile(os.path.join(OUT, "cap_time.dss"))
    dss.Text.Command("set maxiterations=100 maxcontroliter=100 tolerance=1e-8")
    dss.Text.Command("set mode=yearly stepsize=30m number=1 hour=0 sec=0")
    with open(os.path.join(OUT, "cap_time.csv"), "w", newline="") as f:
        f.write(f"# OpenDSS {dss.Basic.Version().split()[1]}: time capacitor controls, 30-minute steps, 1e-8\n")
        w = csv.writer(f)
        caps = dss.Capacitors.AllNames()
        w.writerow(["step"] + caps + ["b1_pu"])
        for step in range(1, 97):
            dss.Text.Command("solve")
            states = []
            for cap in caps:
                dss.Capacitors.Name(cap)
                states.append(dss.Capacitors.States()[0])
            dss.Circuit.SetActiveBus("b")
            w.writerow([step] + states + [f"{dss.Bus.puVmagAngle()[0]:.7f}"])
    print("cap_time written")
