#!/usr/bin/env bash
# Runs a Godot command on a headless Linux machine with an NVIDIA GPU and no X server: an Xvfb
# (unpacked from the Debian 12 packages in debs.txt into $X) gives the engine a display, and GLX
# is routed to the NVIDIA driver, so the Compatibility renderer (opengl3) renders on the GPU.
# docs/gpu-node.md explains each step.
# Usage: X=/tmp/x scripts/gpu-node/run-headless.sh WIDTHxHEIGHT godot-binary [godot args...]
#   Fetch the packages on a Debian 12 machine:  apt-get download $(grep -v '^#' debs.txt)
#   Unpack them on the node (never into /):      for f in DEBDIR/*.deb; do dpkg -x "$f" "$X"; done
#   Prints the engine's "Using Device" line so the GPU can be confirmed.
set -u
X=${X:-/tmp/x}; size=$1; shift
lib=$X/usr/lib/x86_64-linux-gnu:$X/lib/x86_64-linux-gnu
[ -x /usr/bin/xkbcomp ] || ln -sf "$X/usr/bin/xkbcomp" /usr/bin/xkbcomp   # Xvfb calls it by this path
disp=:$((20 + RANDOM % 50))
LD_LIBRARY_PATH=$lib LIBGL_DRIVERS_PATH=$X/usr/lib/x86_64-linux-gnu/dri \
  "$X/usr/bin/Xvfb" "$disp" -screen 0 "${size}x24" -xkbdir "$X/usr/share/X11/xkb" +extension GLX -nolisten tcp \
  >/tmp/xvfb$disp.log 2>&1 &
xv=$!; sleep 3
nv=$(dirname "$(ldconfig -p | grep -m1 'libGLX_nvidia.so.0' | sed 's/.*=> //')")
# Xvfb needs Mesa for its own GLX; the engine must get NVIDIA's, hence the vendor override.
DISPLAY=$disp __GLX_VENDOR_LIBRARY_NAME=nvidia LD_LIBRARY_PATH=$lib${nv:+:$nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"
rc=$?
kill $xv 2>/dev/null
exit $rc
