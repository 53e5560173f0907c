#!/usr/bin/env bash
# Installs the Debian tools the end-to-end tests drive: scanners (sipp, sipsak, sipvicious, nmap), log and ban
# tools (rsyslog, fail2ban, logrotate), firewalls (nftables, ipset, iptables), engines the second-wave features are
# proved against (PostgreSQL, ExaBGP, BIRD 2, Kamailio (its exec module runs curl for the call-check), OpenDHT's dhtnode, C library
# and Python binding, Chromium) and packaging checks (lintian, systemd-analyze, setpriv).
# Idempotent: does nothing when every tool is already present.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have_file() { [ -e "$1" ] || compgen -G "$1" >/dev/null 2>&1; }
have sipp || need+=(sip-tester)
have sipsak || need+=(sipsak)
have svmap || need+=(sipvicious)
have nmap || need+=(nmap)
have rsyslogd || need+=(rsyslog)
have fail2ban-server || need+=(fail2ban)
have nft || need+=(nftables)
have ipset || need+=(ipset)
have iptables || need+=(iptables)
have openssl || need+=(openssl)
have ip || need+=(iproute2)
have gcc || need+=(gcc)
have logger || need+=(bsdutils)
have setpriv || need+=(util-linux)
have logrotate || need+=(logrotate)
have lintian || need+=(lintian)
have systemd-analyze || need+=(systemd)
have exabgp || need+=(exabgp)
have bird || need+=(bird2)
have kamailio || need+=(kamailio)
have_file '/usr/lib/*/kamailio/modules/exec.so' || need+=(kamailio)
have dhtnode || need+=(dhtnode)
have_file '/usr/lib/*/libopendht-c.so.2' || need+=(libopendht-c2)
python3 -c 'import opendht' >/dev/null 2>&1 || [ -e /usr/lib/python3/dist-packages/opendht.cpython-311-x86_64-linux-gnu.so ] || have_file '/usr/lib/python3/dist-packages/opendht*' || need+=(python3-opendht)
have_file '/usr/lib/postgresql/*/bin/initdb' || need+=(postgresql)
have chromium || need+=(chromium)
# Packaging tests (test/deploy): the README's curl commands, strip for the .deb's native addons.
have curl || need+=(curl)
have strip || need+=(binutils)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-tools: missing ${need[*]} and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-test-tools: installing ${need[*]}" >&2
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
