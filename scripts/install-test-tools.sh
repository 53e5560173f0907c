#!/usr/bin/env bash
# Installs the Debian tools the end-to-end tests drive (sipp, sipsak, sipvicious, nmap, rsyslog, fail2ban,
# nftables, ipset, openssl, iproute2). Idempotent: does nothing when every tool is already present.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have sipp || need+=(sip-tester)
have sipsak || need+=(sipsak)
have svmap || need+=(sipvicious)
have nmap || need+=(nmap)
have rsyslogd || need+=(rsyslog)
have fail2ban-server || need+=(fail2ban)
have nft || need+=(nftables)
have ipset || need+=(ipset)
have openssl || need+=(openssl)
have ip || need+=(iproute2)
have gcc || need+=(gcc)
have logger || need+=(bsdutils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-tools: missing ${need[*]} and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-test-tools: installing ${need[*]}" >&2
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
