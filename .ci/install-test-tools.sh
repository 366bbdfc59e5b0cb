#!/usr/bin/env bash
# Installs the Debian tools some tests use, when this runs as root with apt available: tmux (the
# REPL driven through a real terminal: test/cli/repl-tty.test.ts, repl-session.test.ts) and openssl
# (certificates made at test time: test/node/tls.test.ts), and etcd 3.4's etcdctl and etcd (the
# etcd v3 API checked from outside: test/etcd/, npm run conformance:etcd, npm run bench:etcd).
# Without them those tests skip and print why. Never fails the caller: a tool that cannot be
# installed only means a skipped test.
set -u
missing=()
for tool in tmux openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# Debian packages etcdctl as etcd-client and the etcd server as etcd-server.
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: ${missing[*]} missing and not root with apt-get: the tests that need them will skip"
  exit 0
fi
echo "install-test-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || echo "install-test-tools: apt-get install ${missing[*]} failed: the tests that need them will skip"
exit 0
