#!/usr/bin/env bash
# Installs what berthd and its tests need on Debian, skipping what is already there.
#   runc            the OCI runtime (crun does not work on hybrid cgroups)
#   conmon          the per-container monitor that outlives berthd
#   busybox-static  the test fixture image is built from it
#   libsqlite3-dev  the metadata store links the system SQLite
#   libzstd-dev     zstd-compressed layers are unpacked with the system libzstd
#   tini            docker-init for --init (later issues)
#   iproute2        bridges, veths and network namespaces (`ip`)
#   nftables        Berth's firewall table: masquerade, isolation, published ports (`nft`)
#   procps          `ps`, which `docker top` runs on the host
#   util-linux      script(1): the tests give the docker CLI a terminal; nsenter runs tests in namespaces
#   docker CLI      the tests drive the real docker client (Debian's docker.io ships it)
#   docker-registry the CNCF registry the registry tests push to and pull from
#   skopeo          an independent registry client the tests cross-check with
#   apache2-utils   htpasswd (bcrypt) for the registry's basic-auth test
#   openssl         keys and certificates for the token-auth test
#   gcc, libc6-dev  the confinement test builds a static probe (keyctl, unshare) to run in a container
#   curl            the TLS test checks that plain HTTP gets nothing from a TLS port
#   python docker   the Docker SDK for Python (PyPI `docker`), which a test drives berthd with
#   bzip2, xz-utils build contexts compressed with bzip2 or xz are decompressed with them
#   git             builds from git repositories (`docker build git-url`) clone with it
set -euo pipefail
need=()
for pkg in runc conmon busybox-static libsqlite3-dev libzstd-dev tini iproute2 nftables procps util-linux docker-registry skopeo apache2-utils openssl gcc libc6-dev curl bzip2 xz-utils git; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v docker >/dev/null 2>&1 || need+=(docker.io)
if ! python3 -c "import docker" >/dev/null 2>&1; then
  python3 -m pip install -q docker >&2 || need+=(python3-docker)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
if ! command -v swift >/dev/null 2>&1; then
  [ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
  command -v swift >/dev/null 2>&1 || { echo "Swift 6 is required (expected at /opt/swift)" >&2; exit 1; }
fi
