#!/bin/bash
# Issue 13's GPU figures in one call of the `device` tool (packed here first with
# scripts/device_pack.sh; carry [".device", ".gl"]):
#   device run: bash scripts/device_speed.sh
# It unpacks Deno, its module cache and the Vulkan loader, then writes into $OUT (or ./out):
#   adapter.txt  the WebGPU adapter Deno found (it stops if that is a software one)
#   bench.jsonl  `deno task bench --only=train` and `--only=mugs`: images/s, dispatches per step,
#                GPU time per kernel (timestamp queries), so GPU time per dispatch
#   speed.txt    the paired comparison with PyTorch on the same GPU
#                (scripts/speed_vs_pytorch.ts --torch-device cuda)
# TORCH_DEVICE=cpu and ALLOW_SOFTWARE=1 run the same script on a machine without a GPU (to check
# the script itself); REPS sets the paired repetitions (default 5), PYTHON the interpreter that
# has PyTorch (default python3, the one that holds it on the GPU machine).
set -euo pipefail
out=${OUT:-out}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
xz -dc .device/deno.xz >/tmp/deno
chmod +x /tmp/deno
rm -rf /tmp/denodir
tar -C /tmp -xJf .device/denodir.tar.xz
export DENO_DIR=/tmp/denodir PATH="/tmp:$PATH" DENO_NO_UPDATE_CHECK=1
if [ -z "$(ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* 2>/dev/null)" ] &&
  [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
cat >/tmp/adapter.ts <<'EOF'
const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
if (!a) throw new Error("no WebGPU adapter");
const { vendor, architecture, device, description } = a.info;
console.log(JSON.stringify({ vendor, architecture, device, description }));
EOF
deno run -A /tmp/adapter.ts | tee "$out/adapter.txt"
if grep -q -i llvmpipe "$out/adapter.txt" && [ "${ALLOW_SOFTWARE:-0}" != 1 ]; then
  echo "the adapter is llvmpipe, not the GPU: stop (ALLOW_SOFTWARE=1 to go on)" >&2
  exit 2
fi
deno run -A bench/run.ts --only=train | tee "$out/bench.jsonl"
deno run -A bench/run.ts --only=mugs | tee -a "$out/bench.jsonl"
deno run -A scripts/speed_vs_pytorch.ts --python "${PYTHON:-python3}" --reps "${REPS:-5}" \
  --torch-device "${TORCH_DEVICE:-cuda}" | tee "$out/speed.txt"
