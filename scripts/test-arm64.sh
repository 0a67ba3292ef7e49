#!/usr/bin/env bash
# Runs the test suite on the arm64 (Raspberry Pi) build of Deno under qemu user emulation,
# on an x86-64 Debian machine, to catch what differs on the Pi before a user finds it.
#
#   scripts/test-arm64.sh                      # the whole suite (tests/)
#   scripts/test-arm64.sh tests/health_test.ts # a subset
#
# Needs root (apt-get, binfmt registration) and the npm registry. Not part of .ci/run:
# it changes the machine (system packages, a binfmt handler) and is several times slower
# than the native run. What it does:
#   1. apt: qemu-user (the emulator), libc6/libgcc for arm64 as a sysroot
#   2. npm: the arm64 `deno` of the same version (package @deno/linux-arm64-glibc)
#   3. binfmt_misc: lets the kernel run arm64 ELF files through qemu, because the tests
#      start `Deno.execPath()` (the arm64 deno) as subprocesses
#   4. `deno test --allow-all --unstable-cron --no-check` with the arm64 deno. Type
#      checking does not depend on the CPU (`deno task test` does it natively) and takes
#      many minutes under emulation, so it is skipped here.
# Emulation is slow (every `deno` subprocess takes seconds to start, more on a loaded
# machine), so tests that wait for subprocesses with short timeouts may need a quiet one.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=$(deno --version | head -n1 | cut -d' ' -f2)
WORK=.deno/arm64
SYSROOT=/usr/aarch64-linux-gnu
BINFMT=/proc/sys/fs/binfmt_misc

packages=(qemu-user qemu-user-binfmt libc6-arm64-cross libgcc-s1-arm64-cross)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "arm64: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

deno_arm64="$WORK/$DENO_VERSION/package/deno"
if [ ! -x "$deno_arm64" ]; then
  echo "arm64: fetching @deno/linux-arm64-glibc@$DENO_VERSION from the npm registry" >&2
  mkdir -p "$WORK/$DENO_VERSION"
  (cd "$WORK/$DENO_VERSION" && npm pack --silent "@deno/linux-arm64-glibc@$DENO_VERSION" >/dev/null &&
    tar xzf deno-linux-arm64-glibc-*.tgz)
fi

if [ ! -e "$BINFMT/qemu-aarch64" ]; then
  [ -e "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT"
  cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$BINFMT/register"
fi

# qemu finds the arm64 dynamic loader and libc here; subprocesses inherit it.
export QEMU_LD_PREFIX="$SYSROOT"
"$deno_arm64" --version | head -n1
arch=$("$deno_arm64" eval --no-config 'console.log(Deno.build.arch)')
if [ "$arch" != "aarch64" ]; then
  echo "arm64: expected Deno.build.arch aarch64, got $arch" >&2
  exit 1
fi

"$deno_arm64" install --frozen
start=$(date +%s)
set +e
"$deno_arm64" test --allow-all --unstable-cron --no-check "${@:-tests/}"
status=$?
set -e
echo "arm64: deno test exited $status after $(($(date +%s) - start)) s under qemu"
exit "$status"
