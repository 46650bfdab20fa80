#!/usr/bin/env bash
# The wheels the GPU device lacks for affectflow, pinned, into .whl/ (git-ignored).
#
#   bash benchmarks/device_wheels.sh        # in the checkout the device `run` call sends
#
# then one device `run` call with carry [".whl"] runs `python3 benchmarks/device_run.py`
# (its docstring). The device (nvidia-h200 image: Python 3.12, torch 2.11, numpy, pyarrow,
# OpenCV, ONNX Runtime, grpcio, protobuf, requests, ... but no Beam, DuckDB or yt-dlp) has
# no package index. The set below is affectflow's runtime closure (pyproject.toml,
# resolved for cp312 manylinux x86_64 with `pip install --dry-run --report`) less what
# the image holds (the device README's KINDS.md list) and less pymongo and dnspython (Beam
# imports them only inside try/except ImportError). torch is never carried: the image's
# CUDA build is used. Beam 2.77 asks numpy<2.5 and the image has numpy 2.5.2: the image's
# is kept (the job ran with numpy 2.5.2 on Python 3.12 here).
#
# The device takes at most 64 MiB (the working tree plus carried folders); these wheels
# take 60.9 MiB as PyPI serves them, so each is rewritten with LZMA compression (the same
# members and RECORD; pip reads it with Python's zipfile): 45.2 MiB.
# Run it with the project's environment active (`python3` imports affectflow), on a
# machine that reaches PyPI (the MTCNN weights come from the facenet-pytorch wheel).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PINNED=(
  apache-beam==2.77.0 beartype==0.22.9 cffi==2.1.1 cryptography==50.0.2 duckdb==2.0.1
  fastavro==1.13.1 fasteners==0.20 httplib2==0.32.1 jsonpickle==4.1.4 objsize==0.7.1
  proto-plus==1.29.0 pycparser==3.12 pytz==2026.6 yt-dlp==2026.11.23 zstandard==0.25.0
)
PY=${PYTHON:-python3}
rm -rf .whl && mkdir -p .whl/tmp
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d .whl/tmp "${PINNED[@]}"
# The face detector's weights and their ONNX exports, made here by this torch (the image's
# torch 2.11 refuses the export's epsilon-0 batch norms): copied into the job's cache there.
"$PY" -c "from affectflow.models.mtcnn import MtcnnDetector as D
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights as f
D(str(f('.whl/cache'))).load()"
"$PY" - <<'EOF'
import pathlib, zipfile
for src in sorted(pathlib.Path(".whl/tmp").glob("*.whl")):
    dst = pathlib.Path(".whl") / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_LZMA) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info), compress_type=zipfile.ZIP_LZMA)
    print(f"{src.stat().st_size:>10} -> {dst.stat().st_size:>10}  {src.name}")
EOF
rm -rf .whl/tmp
count=$(ls .whl/*.whl | wc -l)
[ "$count" -eq "${#PINNED[@]}" ] || { echo "expected ${#PINNED[@]} wheels, got $count" >&2; exit 1; }
wheels=$(du -cb .whl | tail -1 | cut -f1)
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb | \
  awk '$2 == "total" {s += $1} END {print s}')
echo "wheels $((wheels / 1024)) KiB + working tree $((tree / 1024)) KiB =" \
  "$(((wheels + tree) / 1048576)) MiB travelling (limit 64 MiB)"
[ $((wheels + tree)) -lt $((60 * 1048576)) ] || { echo "too large for the device" >&2; exit 1; }
