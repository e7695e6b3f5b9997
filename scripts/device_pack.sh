#!/bin/bash
# Pack what a lent GPU machine (the `device` tool) needs to run the kit, into folders git ignores:
#   .device/deno.xz        this machine's Deno binary, xz-compressed (95 MB -> about 30 MB: the
#                          tool carries 64 MiB at most)
#   .device/denodir.tar.xz Deno's module cache for the bench and the speed comparison (the GPU
#                          machine reaches no registry)
#   .gl/*.deb              the Vulkan loader (libvulkan1), as the device tool's notes advise
# Then one call runs scripts/device_speed.sh there with carry [".device", ".gl"].
# Usage (repository root): bash scripts/device_pack.sh
set -euo pipefail
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo /.device/ >>.git/info/exclude
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
mkdir -p .device .gl
deno_bin=$(command -v deno)
xz -T0 -6 -c "$(readlink -f "$deno_bin")" >.device/deno.xz
dir=$(mktemp -d)
DENO_DIR="$dir/denodir" deno cache bench/run.ts scripts/speed_vs_pytorch.ts
tar -C "$dir" -cJf .device/denodir.tar.xz denodir
rm -rf "$dir"
lists=$(mktemp -d)
mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1 >/dev/null)
rm -rf "$lists"
du -ch .device/* .gl/* | tail -n 1
