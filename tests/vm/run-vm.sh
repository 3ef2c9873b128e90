#!/usr/bin/env bash
# run-vm.sh - run one command as root inside a throw-away qemu VM whose kernel has CUSE.
#
# Usage: tests/vm/run-vm.sh --build-dir DIR [--timeout SECS] [--env NAME=VALUE]...
#                           [--copy SRC:DST]... -- COMMAND [ARGS...]
#
# What it does:
#   - resolves Debian's linux-image-cloud-amd64 to its versioned package, downloads it with
#     apt-get into DIR/vm-cache/ once per version, and takes vmlinuz, fuse.ko and cuse.ko from it;
#   - builds a fresh initramfs: busybox-static, every executable in DIR/bin (as /bin/NAME), each
#     --copy SRC:DST, and every shared library those ELF files need (ldd, plus libraries named
#     in the binaries that dlopen may load), at the same absolute paths as on the host;
#   - boots it under qemu (TCG), loads fuse then cuse, runs COMMAND in /tmp with the --env
#     variables set, and exits with COMMAND's exit status (the guest prints MSHV_VM_EXIT=<rc>).
#   The console goes to stdout and to DIR/vm-cache/console.log.
# What it does not do:
#   - no network, no disk, no persistence: the guest root is a tmpfs, results must be printed;
#   - no KVM (TCG only), no interactive use (guest stdin is /dev/null, TERM=dumb unless --env);
#   - no isolation between two runs sharing one DIR (the initramfs is rebuilt in place).
# Exit status: COMMAND's status, 1 if the guest timed out or died without reporting,
# 2 on usage or setup errors.
set -euo pipefail

META_PKG=linux-image-cloud-amd64
MARKER=MSHV_VM_EXIT

die() { echo "run-vm: $*" >&2; exit 2; }
usage() { sed -n '4,5s/^# //p' "$0" >&2; exit 2; }
# Single-quote a word for the guest's busybox sh.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

build_dir='' timeout_s=600 envs=() copies=()
while (($#)); do
    case $1 in
        --build-dir|--timeout|--env|--copy) (($# >= 2)) || usage ;;&
        --build-dir) build_dir=$2 ;;
        --timeout) [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--timeout needs a positive integer"; timeout_s=$2 ;;
        --env) [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env needs NAME=VALUE: $2"; envs+=("$2") ;;
        --copy) [[ $2 == ?*:/?* ]] || die "--copy needs SRC:/ABS/DST: $2"; copies+=("$2") ;;
        --) shift; break ;;
        *) usage ;;
    esac
    shift 2
done
[[ -n $build_dir && $# -gt 0 ]] || usage

cache=$build_dir/vm-cache
root=$cache/initramfs-root
initrd=$cache/initramfs.cpio
log=$cache/console.log
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# --- kernel: the metapackage pins "linux-image-X (= VER)"; fetched and extracted once per VER.
# apt-get update runs only if that cannot be resolved or fetched from the current lists.
resolve_kernel() {
    read -r pkg ver < <(apt-cache show --no-all-versions "$META_PKG" 2>/dev/null |
        sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p') && kdir=$cache/$pkg-$ver
}
fetch_kernel() {
    echo "run-vm: fetching $pkg $ver" >&2
    rm -rf "$kdir" "$cache"/*.deb
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2) &&
        dpkg-deb -x "$cache/$pkg"_*.deb "$kdir" && rm -f "$cache/$pkg"_*.deb && touch "$kdir/.complete"
}
for attempt in 1 2; do
    if resolve_kernel; then [[ -e $kdir/.complete ]] && break; fetch_kernel && break; fi
    ((attempt == 1)) || die "cannot resolve or fetch the kernel behind $META_PKG"
    apt-get update -qq >&2
done
kernels=("$kdir"/boot/vmlinuz-*)
[[ -f ${kernels[0]} ]] || die "no vmlinuz in $pkg"

# --- initramfs: busybox, DIR/bin, --copy items, the libraries they need, the modules
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules-emu}
cp /bin/busybox "$root/bin/busybox"
elves=()
if [[ -d $build_dir/bin ]]; then
    while IFS= read -r -d '' f; do
        cp "$f" "$root/bin/" && elves+=("$f")
    done < <(find "$build_dir/bin/" -maxdepth 1 -type f -perm -u+x -print0)
fi
for c in ${copies[@]+"${copies[@]}"}; do
    src=${c%%:*} dst=${c#*:}
    [[ -e $src ]] || die "--copy source missing: $src"
    mkdir -p "$root$(dirname "$dst")" && cp -RL "$src" "$root$dst"
    while IFS= read -r -d '' f; do elves+=("$f"); done < <(find "$src/" -type f -print0 2>/dev/null || printf '%s\0' "$src")
done

# Library closure: ldd's answer plus any "libX.so.N" named in a binary that the host's
# ld.so cache knows (dlopen targets such as libgcc_s.so.1, which glibc loads for unwinding).
declare -A known=() seen=()
while read -r name path; do known[$name]=$path; done < <(ldconfig -p | awk '/x86-64/ && $NF ~ /^\// { print $1, $NF }')
queue=(${elves[@]+"${elves[@]}"})
while ((${#queue[@]})); do
    f=${queue[0]} queue=("${queue[@]:1}")
    [[ -f $f && $(head -c4 "$f") == $'\x7fELF' ]] || continue
    while read -r dep; do
        [[ -n $dep && -f $dep && -z ${seen[$dep]:-} ]] || continue
        seen[$dep]=1 queue+=("$dep")
        mkdir -p "$root$(dirname "$dep")" && cp -L "$dep" "$root$dep"
    done < <({ ldd "$f" 2>/dev/null | grep -oE '/[^ ]+ \(0x' | cut -d' ' -f1
               grep -aoE 'lib[A-Za-z0-9_+-]+\.so\.[0-9.]*[0-9]' "$f" | sort -u | while read -r n; do
                   echo "${known[$n]:-}"; done; } || true)
done
[[ -f /etc/ld.so.cache && ${#seen[@]} -gt 0 ]] && cp /etc/ld.so.cache "$root/etc/"

modules=()
for m in fuse cuse; do   # modules.dep order: cuse depends on fuse
    ko=$(find "$kdir/lib/modules" -path "*/fs/fuse/$m.ko*" -print -quit)
    if [[ -z $ko ]]; then
        grep -q "/$m.ko\$" "$kdir"/lib/modules/*/modules.builtin || die "$m is neither a module nor built in"
        continue
    fi
    case $ko in
        *.ko.xz) xz -dc "$ko" ;;
        *.ko.zst) zstd -qdc "$ko" ;;
        *.ko.gz) gzip -dc "$ko" ;;
        *) cat "$ko" ;;
    esac >"$root/lib/modules-emu/$m.ko"
    modules+=("$m")
done

{
    cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp TERM=dumb
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/shm /dev/pts
# Fresh tmpfs mounts that keep what the initramfs put there (e.g. libraries under /tmp/...).
mkdir /.t
for d in /tmp /run /dev/shm; do
    mount -t tmpfs tmpfs /.t && cp -a "$d/." /.t/ && mount --move /.t "$d" && chmod 1777 "$d"
done
mount -t devpts devpts /dev/pts
EOF
    for m in ${modules[@]+"${modules[@]}"}; do echo "insmod /lib/modules-emu/$m.ko"; done
    echo 'mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null'
    echo 'hostname mshv-vm'
    for e in ${envs[@]+"${envs[@]}"}; do echo "export ${e%%=*}=$(sq "${e#*=}")"; done
    printf 'cd /tmp\n'
    for a in "$@"; do printf '%s ' "$(sq "$a")"; done
    printf '\necho "%s=$?"\nsync\npoweroff -f\n' "$MARKER"
} >"$root/init"
chmod 755 "$root/init"
# nobody: the live suite's --user tests become it.
printf '%s\n' 'root:x:0:0:root:/tmp:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) >"$initrd"

# --- boot (qboot, when present, is faster than SeaBIOS and writes no escape codes)
firmware=()
[[ -f /usr/share/qemu/qboot.rom ]] && firmware=(-bios /usr/share/qemu/qboot.rom)
rc=0
timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 \
    -accel tcg -machine q35 -cpu max -m 1024 -smp 2 -nographic -no-reboot -nic none \
    ${firmware[@]+"${firmware[@]}"} -kernel "${kernels[0]}" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" \
    </dev/null 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}

status=$(grep -aoE "$MARKER=[0-9]+" "$log" | tail -n 1 || true)
[[ -n $status ]] && exit "${status#*=}"
if ((rc == 124 || rc == 137)); then
    echo "run-vm: guest timed out after $timeout_s s" >&2
else
    echo "run-vm: guest stopped without reporting (kernel panic?) — see $log" >&2
fi
echo "--- last 40 lines of $log:" >&2
tail -n 40 "$log" >&2
exit 1
