"""An Excel workbook as openpyxl (Debian's python3-openpyxl) reads it, printed as JSON: each
sheet's rows, dates in ISO 8601, plus each sheet's frozen panes and autofilter.

Usage: read_xlsx.py FILE.xlsx
"""
import datetime
import json
import sys

import openpyxl

book = openpyxl.load_workbook(sys.argv[1])


def cell(v):
    return v.isoformat() if isinstance(v, datetime.datetime) else v


print(json.dumps({
    ws.title: {
        "rows": [[cell(v) for v in row] for row in ws.iter_rows(values_only=True)],
        "freeze": ws.freeze_panes,
        "filter": ws.auto_filter.ref,
    }
    for ws in book.worksheets
}))
