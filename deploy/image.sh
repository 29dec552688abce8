#!/usr/bin/env bash
# usage: deploy/image.sh [--debug] [--no-build] OUT_DIR
# Assembles in OUT_DIR the runtime layout of the bgjobs image, from binaries built on
# this machine, as deploy/Dockerfile's last stage lays it out over
# gcr.io/distroless/cc-debian12:nonroot (which cannot be pulled here):
#   /usr/local/bin/   every service and jobsctl
#   /etc/passwd, /etc/group   the nonroot user and group (65532), as distroless has them
#   the C runtime the binaries link (libc, libm, libgcc_s and the loader: what
#   distroless/cc ships), the CA certificates, an empty /tmp
# then checks it: no binary needs a library the layout lacks (ldd), and each one
# starts inside it (chroot, which needs root) as user 65532 and prints its
# configuration. Builds release binaries first unless --no-build; --debug takes
# target/debug instead.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=1
while [ $# -gt 1 ]; do
    case $1 in
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: deploy/image.sh [--debug] [--no-build] OUT_DIR" >&2; exit 2; }
out=$1
binaries=(ingest gateway jobs-registry product-upload warehouse-upload delete-client notifier jobsctl)

if [ "$build" = 1 ]; then
    flags=(--locked --bins)
    [ "$profile" = release ] && flags+=(--release)
    cargo build "${flags[@]}"
fi
bin_dir=target/$profile

rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp"
chmod 1777 "$out/tmp"
for name in "${binaries[@]}"; do
    install -m 0755 "$bin_dir/$name" "$out/usr/local/bin/$name"
done
cat >"$out/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$out/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
cp /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"

# The libraries the binaries link, at the paths the loader looks for them.
libraries=$(for name in "${binaries[@]}"; do ldd "$out/usr/local/bin/$name"; done |
    awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u)
for library in $libraries; do
    mkdir -p "$out$(dirname "$library")"
    cp -L "$library" "$out$library"
done

# The check: every library found, and every binary starts as nonroot in the layout.
missing=$(for name in "${binaries[@]}"; do ldd "$out/usr/local/bin/$name"; done | grep 'not found' || true)
[ -z "$missing" ] || { echo "libraries not found: $missing" >&2; exit 1; }
allowed='^(libc|libm|libgcc_s|ld-linux-x86-64)\.so'
for library in $libraries; do
    [[ $(basename "$library") =~ $allowed ]] ||
        { echo "$library is not in distroless/cc: the image would lack it" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
    echo "layout in $out (libraries: $(echo $libraries)); not root, so not started in it"
    exit 0
fi
chroot=$(command -v chroot)
for name in "${binaries[@]}"; do
    args=(--print-config)
    [ "$name" = jobsctl ] && args=(--help)
    # Only what a pod would set; the two that verify users' tokens need a key source.
    if ! env -i BGJOBS_AUTH_JWKS_URL=https://id.example.test/.well-known/jwks.json \
        BGJOBS_AUTH_ISSUER=https://id.example.test \
        "$chroot" --userspec=65532:65532 "$out" "/usr/local/bin/$name" "${args[@]}" >/dev/null; then
        echo "$name did not start as user 65532 in $out" >&2
        exit 1
    fi
done
echo "layout in $out: ${#binaries[@]} binaries, each starts as user 65532 with only $(echo $libraries | wc -w) libraries (libc, libm, libgcc_s, the loader)"
