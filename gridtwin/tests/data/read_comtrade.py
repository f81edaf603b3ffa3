"""A COMTRADE record as the `comtrade` package from PyPI reads it, printed as JSON.

Usage: read_comtrade.py FILE.cfg FILE.dat
"""
import json
import sys

import comtrade

rec = comtrade.Comtrade()
rec.load(sys.argv[1], sys.argv[2])
print(json.dumps({
    "station": rec.station_name,
    "rev_year": str(rec.rev_year),
    "frequency": rec.frequency,
    "analog_ids": rec.analog_channel_ids,
    "units": [c.uu for c in rec.cfg.analog_channels],
    "status_ids": rec.status_channel_ids,
    "trigger_time": rec.trigger_time,
    "start": rec.start_timestamp.isoformat(),
    "time": list(rec.time),
    "analog": [list(map(float, a)) for a in rec.analog],
    "status": [list(map(int, s)) for s in rec.status],
}))
