# TAP helpers for the integration scenarios; sourced by each script.
# Needs REGSIGN (the binary) and SRCDIR (the source tree) in the environment.
set -u
T_N=0
T_FAIL=0
R=${REGSIGN:?REGSIGN must name the regsign binary}
SRC=${SRCDIR:?SRCDIR must name the source tree}
DATA=$SRC/tests/data
WORK=$(mktemp -d /tmp/regsign-it.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# 1 when the binary is a sanitizer build: slower, and its memory is not the product's.
ASAN=0
{ ldd "$R" 2>/dev/null | grep -q libasan || nm -D "$R" 2>/dev/null | grep -q __asan_init; } && ASAN=1

pass() { T_N=$((T_N + 1)); echo "ok $T_N - $*"; }
fail() { T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $*"; }
note() { printf '%s\n' "$@" | head -30 | sed 's/^/# /'; }

# check DESC CMD...: passes when CMD exits 0.
check() {
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$d"; else fail "$d"; note "$out"; fi
}

# check_exit CODE DESC CMD...: passes when CMD exits with CODE.
check_exit() {
	local want=$1 d=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$d"; else fail "$d (exit $rc, want $want)"; note "$out"; fi
}

# syslog_listener OUT SECONDS: receive UDP datagrams on loopback into OUT, one per line, until SECONDS pass
# without one; sets SYSLOG_PORT and SYSLOG_PID, and returns once it listens.
syslog_listener() {
	SYSLOG_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 - "$SYSLOG_PORT" "$2" > "$1" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(int(sys.argv[2]))
try:
    while True:
        print(s.recv(65535).decode(), flush=True)
except socket.timeout:
    pass
EOF
	SYSLOG_PID=$!
	for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && break; sleep 0.1; done
}

# unbound_conf DIR PORT LOGFILE VERBOSITY: the server: section of a foreground unbound on 127.0.0.1@PORT that
# lives in DIR (root hints made there, nothing outside loopback, "test." not one of its local zones); the
# caller appends its own server: lines, then remote-control: and stub-zone: sections.
unbound_conf() {
	mkdir -p "$1"
	printf '. 3600 NS a.root.invalid.\na.root.invalid. 3600 A 127.0.0.9\n' > "$1/root.hints"
	cat <<EOF
server:
    interface: 127.0.0.1@$2
    port: $2
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$1"
    pidfile: "$1/unbound.pid"
    use-syslog: no
    logfile: "$3"
    verbosity: $4
    num-threads: 1
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    root-hints: "$1/root.hints"
    qname-minimisation: no
    # test. is one of unbound's default local zones (RFC 6761): NXDOMAIN for all of it unless undone.
    local-zone: "test." nodefault
EOF
}

# check_match DESC REGEX TEXT: passes when TEXT matches the extended REGEX.
check_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1"; note "want /$2/" "$3"; fi
}

# validate NAME FILE ORIGIN [TIME]: regsign verify and three independent validators.
validate() {
	local name=$1 file=$2 origin=$3
	local t=${4:-}
	check "$name: regsign verify" "$R" verify "$file" --origin "$origin" ${t:+--time "$t"} --quiet
	check "$name: ldns-verify-zone" ldns-verify-zone -V 1 ${t:+-i "$t"} "$file"
	check "$name: dnssec-verify" dnssec-verify -q ${DV_OPTS:-} -o "$origin" "$file"
	check "$name: kzonecheck" kzonecheck -d on -o "$origin" ${t:+-t "$t"} "$file"
}

# Normalise zone text for comparison: BIND's canonical output, names lowercased.
canon() {
	named-compilezone -q -s full -i none -o - "$1" "$2" 2>/dev/null | tr 'A-Z' 'a-z' | sort
}

# Secondaries of regsign serve on loopback, their files under $WORK (TSIG key xfr.key, secret $SECRET):
# nsd_secondary ADDR PORT ZONE PRIMARY_PORT and knot_secondary ADDR PORT ZONE PRIMARY_PORT write
# nsd/nsd.conf and knot/knot.conf; each listens on ADDR@PORT, transfers ZONE from 127.0.0.1@PRIMARY_PORT
# from ADDR, takes its NOTIFY, and gives the zone to any loopback address.
nsd_secondary() {
	mkdir -p "$WORK/nsd"
	cat > "$WORK/nsd/nsd.conf" <<EOF
server:
  ip-address: $1@$2
  zonesdir: $WORK/nsd
  database: ""
  pidfile: $WORK/nsd/nsd.pid
  xfrdfile: $WORK/nsd/xfrd.state
  zonelistfile: $WORK/nsd/zone.list
  xfrdir: $WORK/nsd
  username: ""
  logfile: $WORK/nsd/nsd.log
  verbosity: 2
remote-control:
  control-enable: no
key:
  name: xfr.key
  algorithm: hmac-sha256
  secret: "$SECRET"
zone:
  name: $3
  zonefile: ${3%.}.zone
  outgoing-interface: $1
  request-xfr: 127.0.0.1@$4 xfr.key
  allow-notify: 127.0.0.1 xfr.key
  provide-xfr: 127.0.0.0/8 NOKEY
EOF
}
knot_secondary() {
	mkdir -p "$WORK/knot/db"
	cat > "$WORK/knot/knot.conf" <<EOF
server:
  listen: $1@$2
  rundir: $WORK/knot
control:
  listen: $WORK/knot/knot.sock
log:
  - target: $WORK/knot/knot.log
    any: info
database:
  storage: $WORK/knot/db
key:
  - id: xfr.key
    algorithm: hmac-sha256
    secret: $SECRET
remote:
  - id: primary
    address: 127.0.0.1@$4
    via: $1
    key: xfr.key
acl:
  - id: notify
    address: 127.0.0.1
    key: xfr.key
    action: notify
  - id: dump
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: $WORK/knot
zone:
  - domain: $3
    master: primary
    acl: [notify, dump]
EOF
}

finish() {
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
}
