#!/usr/bin/env bash
# Installs what the kit needs on a Debian/Ubuntu machine, and only what is missing, so it is
# quick (about a second) when everything is there and can run before every command.
#
#   scripts/setup.sh run    the commands (train, eval, features, bench): Deno 2.9.6 from npm
#                           (through npx) and Mesa's software WebGPU adapter (llvmpipe through
#                           lavapipe), which a machine without a GPU needs
#   scripts/setup.sh test   (default) all of the above, plus what the tests read: Debian's
#                           jupyter-nbconvert and jupyter-client, Deno's Jupyter kernel
#                           (`deno jupyter --install`) and the official Fashion-MNIST files
#                           (dataset-fashion-mnist)
#
# Debian packages are installed with apt-get as root (or through `sudo -n`); without either it
# says what to install and fails. `./mugs` calls it before each command.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-test}"
case "$what" in
  run | test) ;;
  *)
    echo "setup.sh: unknown target '$what' (run or test)" >&2
    exit 2
    ;;
esac
DENO=(npx --yes deno@2.9.6)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

packages=(mesa-vulkan-drivers libgl1-mesa-dri)
if [ "$what" = test ]; then
  packages+=(jupyter-nbconvert jupyter-client dataset-fashion-mnist)
fi
need=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do installed "$p" || need+=("$p"); done
elif [ "$what" = test ]; then
  echo "setup.sh: not a Debian system (no dpkg-query); install the equivalents of: ${packages[*]}" >&2
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo -n apt-get)
  else
    echo "setup.sh: missing Debian packages: ${need[*]}; as root: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq "${need[@]}" >/dev/null
fi

# wgpu's Vulkan loader warns without a runtime dir; ./mugs exports the same one
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# Deno 2.9.6 from npm (npx keeps it in its cache; the first call downloads it)
"${DENO[@]}" --version >/dev/null

if [ "$what" = test ]; then
  # Deno's Jupyter kernel, registered for Deno 2.9.6 (again when its recorded binary is gone)
  registered="$(jupyter kernelspec list --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["kernelspecs"]["deno"]["spec"]["argv"][0])
except Exception:
    pass' 2>/dev/null || true)"
  if [ -z "$registered" ] || ! "$registered" --version 2>/dev/null | grep -q "^deno 2\.9\.6 "; then
    echo "setup.sh: registering Deno's Jupyter kernel (deno jupyter --install)" >&2
    "${DENO[@]}" jupyter --install --force >/dev/null 2>&1
  fi
fi
