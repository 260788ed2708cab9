#!/usr/bin/env bash
# Times SBA, TSB and ADIDA in stockade and in the reference library statsforecast on the same
# 100,000 synthetic series (730 days, 28 days ahead) on this machine, and prints the ratios.
# Installs statsforecast from PyPI into target/statsforecast-venv. Not part of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"
DAYS=730
VENV=target/statsforecast-venv
cargo build --release -q
if ! [ -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "statsforecast==2.*" "pandas"
fi
PANEL=target/panel-$N.f32
./target/release/stockade forecast export --series "$N" --days "$DAYS" --out "$PANEL" >/dev/null
for m in sba tsb adida; do
    ./target/release/stockade forecast bench --stores 1 --products "$N" --days "$DAYS" --method "$m" 2>/dev/null \
        | sed -n 's/.* \([0-9.]*\) µs per series.*/\1/p' > "target/stockade-$m.us"
done
"$VENV/bin/python" - "$PANEL" "$N" "$DAYS" <<'PY'
import sys, time, numpy as np, pandas as pd, os
from statsforecast import StatsForecast
from statsforecast.models import CrostonSBA, TSB, ADIDA
path, n, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
y = np.fromfile(path, dtype="<f4").reshape(n, days)
df = pd.DataFrame({"unique_id": np.repeat(np.arange(n), days), "ds": np.tile(np.arange(days), n), "y": y.ravel()})
for name, model in [("sba", CrostonSBA()), ("tsb", TSB(alpha_d=0.1, alpha_p=0.1)), ("adida", ADIDA())]:
    sf = StatsForecast(models=[model], freq=1, n_jobs=1)
    # Warm-up on 100 series first: numba compiles each model on its first call (once per
    # installation), which is not the per-series cost being compared.
    sf.forecast(df=df[df.unique_id < 100], h=28)
    t = time.perf_counter()
    sf.forecast(df=df, h=28)
    ref = (time.perf_counter() - t) * 1e6 / n
    ours = float(open(f"target/stockade-{name}.us").read().strip())
    print(f"{name}: statsforecast {ref:.1f} µs/series (1 process), stockade {ours:.2f} µs/series (2 threads, generation included): ratio {ref / ours:.1f}×")
PY
