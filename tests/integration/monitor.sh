#!/usr/bin/env bash
# regsign check, the monitoring plugin, against real servers on loopback:
# knotd serves the signed zone tld. (signed at times in the past, so that its
# signatures are expired, near expiry or fresh), a second knotd the parent
# (the root zone, with the DS of tld.). Exit statuses and output follow the
# Nagios/Icinga convention; alarms go into the audit log and to syslog once
# per change; the chain of trust is validated by libunbound; --axfr verifies
# the whole served zone.
. "$(dirname "$0")/lib.sh"

command -v knotd >/dev/null || { echo "1..0 # SKIP knotd missing"; exit 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)  # knotd serving tld.
PPORT=$(free_port) # knotd serving the parent (.)
DEAD=$(free_port)  # nothing listens here
S=$WORK/state
NOW=$(date -u +%s)
at() { date -u -d "@$((NOW + $1 * 86400))" +%Y%m%d%H%M%S; }
KNOT= PKNOT= LISTENER= DAEMON=
stop() { [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; }
trap 'stop "$KNOT"; stop "$PKNOT"; stop "$LISTENER"; stop "$DAEMON"; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

# knot_conf DIR PORT ZONE FILE [transfer]: a knotd config serving FILE as ZONE on 127.0.0.1@PORT.
knot_conf() {
	mkdir -p "$1/db"
	{
		printf 'server:\n    rundir: "%s"\n    listen: 127.0.0.1@%s\n' "$1" "$2"
		printf 'database:\n    storage: "%s/db"\n' "$1"
		[ -n "${5:-}" ] && printf 'acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\n'
		printf 'template:\n  - id: default\n    storage: "%s"\n    zonefile-load: whole\n    journal-content: none\n' "$1"
		[ -n "${5:-}" ] && printf '    acl: xfr\n'
		printf 'zone:\n  - domain: %s\n    file: "%s"\n' "$3" "$4"
	} > "$1/knot.conf"
}
# serve FILE [transfer]: (re)start the knotd of tld. on the signed FILE.
serve() {
	stop "$KNOT"
	knot_conf "$WORK/knot" "$PORT" tld. "$1" "${2:-}"
	knotd -c "$WORK/knot/knot.conf" > "$WORK/knot/log" 2>&1 &
	KNOT=$!
	want=$(awk '$4 == "SOA" {print $7; exit}' "$1")
	for _ in $(seq 100); do
		drill -p "$PORT" @127.0.0.1 tld. SOA 2>/dev/null | grep -q "SOA.*$want" && return 0
		sleep 0.1
	done
	note "$(cat "$WORK/knot/log")"
	return 1
}
# chk ARGS...: regsign check, without alarms unless told; output in $out, exit status in $rc.
chk() { out=$("$R" --state "$S" check --zone tld. "$@" 2>&1); rc=$?; }
is() { if [ "$rc" -eq "$1" ]; then pass "$2 (exit $1)"; else fail "$2 (exit $rc, want $1)"; note "$out"; fi; }

cat > tld.zone <<'Z'
$ORIGIN tld.
$TTL 3600
@	SOA	ns hostmaster 1 7200 3600 1209600 600
@	NS	ns
ns	A	127.0.0.1
www	A	192.0.2.1
Z
# The refresh margin rule (a warning, not a refusal): default's 14d - 1d - 12h = 12d12h < SOA expire 14d + 1d.
out=$("$R" --state "$S" zone add tld. --policy default --input tld.zone --now "$(at -20)" --quiet 2>&1); rc=$?
is 0 "zone add tld. 20 days ago"
margin="^regsign: warning: signatures: refresh margin 12d12h \(validity - refresh - jitter\) is below SOA expire 14d \+ largest TTL 1d"
check_match "zone add warns: the refresh margin is below SOA expire + the largest TTL" "$margin" "$out"
mkdir -p knot
out=$("$R" --state "$S" sign --zone tld. --out "$WORK/knot/tld.signed" --now "$(at -20)" --quiet 2>&1); rc=$?
is 0 "sign --zone 20 days ago"
check_match "sign warns the same" "$margin" "$out"
out=$("$R" policy check default --soa-expire 1209600 2>&1); rc=$?
is 0 "policy check --soa-expire 14d: not a refusal"
check_match "... a warning line" "$margin" "$out"
check_match "policy check with an SOA expire the margin covers: no warning" "^0\$" \
	"$("$R" policy check default --soa-expire 864000 2>&1 | grep -c warning)"
sign_at() { "$R" --state "$S" sign --zone tld. --out "$WORK/knot/tld.signed" --now "$(at "$1")" --quiet 2>/dev/null; }

# --- signatures: expired, critical, warning (default policy: 14d validity, refresh 1d, jitter 12h: warn < 12.5d)
if serve "$WORK/knot/tld.signed"; then pass "knotd serves tld. on 127.0.0.1@$PORT"; else fail "knotd serves tld."; fi
chk --server 127.0.0.1@$PORT --no-alarms
is 2 "a served zone with expired signatures is CRITICAL"
check_match "the summary says so, Nagios-style" "^REGSIGN CHECK CRITICAL - zone tld\.: 127\.0\.0\.1@$PORT signature expired [0-9]+d[0-9]+h ago" "$(head -1 <<< "$out")"
check_match "one line per finding" "^CRITICAL 127\.0\.0\.1@$PORT signature: signature expired" "$out"
check_match "zone-wide: a key step waiting too long" "^WARNING - keys: a key step has been due for [0-9]+d" "$out"

# Alarms: recorded once, not again while unchanged, to syslog too.
syslog_listener syslog.out 120
SYSPORT=$SYSLOG_PORT LISTENER=$SYSLOG_PID
"$R" --state "$S" audit syslog "udp:127.0.0.1:$SYSPORT" > /dev/null
alarms() { grep -c 'action=monitor-alarm' "$S/audit.log"; }
chk --server 127.0.0.1@$PORT
is 2 "the same check with alarms"
check_match "the alarm is in the audit log: action monitor-alarm, result critical, detail server= check=" \
	"action=monitor-alarm zone=tld\. key=0 result=critical detail=\"server=127\.0\.0\.1@$PORT check=signature signature expired" \
	"$(grep 'action=monitor-alarm' "$S/audit.log")"
n1=$(alarms)
chk --server 127.0.0.1@$PORT
check_match "an unchanged alarm is not recorded again ($n1 entries)" "^$n1\$" "$(alarms)"
check "audit verify: the chain holds with the alarms" "$R" --state "$S" audit verify
for _ in $(seq 100); do grep -q 'monitor-alarm' syslog.out && break; sleep 0.1; done
check_match "syslog (RFC 5424) received the alarm" "^<[0-9]+>1 .* regsign [0-9]+ monitor-alarm \[regsign@32473 .*result=\"critical\"" \
	"$(grep monitor-alarm syslog.out | head -1)"

sign_at -10
serve "$WORK/knot/tld.signed"
chk --server 127.0.0.1@$PORT --no-alarms
is 2 "signatures with less than half the refresh margin left are CRITICAL"
check_match "... saying when they expire" "signature expires in [0-9]d[0-9]+h" "$out"
sign_at -2
serve "$WORK/knot/tld.signed"
chk --server 127.0.0.1@$PORT --no-alarms
is 1 "signatures below the refresh margin are a WARNING"
check_match "the summary line of a warning" "^REGSIGN CHECK WARNING - zone tld\.: .*signature expires in 1[12]d" "$out"
chk --server 127.0.0.1@$PORT --no-alarms --warn 5d --crit 2d
is 0 "thresholds from the options (--warn 5d --crit 2d)"

# --- a fresh publication: OK, perfdata
sign_at 0
serve "$WORK/knot/tld.signed" transfer
serial=$(awk '$4 == "SOA" {print $7; exit}' "$WORK/knot/tld.signed")
chk --server 127.0.0.1@$PORT
is 0 "a freshly signed, served zone is OK"
check_match "OK summary with perfdata (serial, drift, remaining validity with its thresholds)" \
	"^REGSIGN CHECK OK - zone tld\.: 1 server in step with serial $serial \| 'serial'=$serial 'serial_drift'=0 'sig_remaining'=[0-9]+s;1080000;540000 'dnskeys'=[0-9]+\$" "$out"
check_match "the alarms cleared: result ok" "result=ok detail=\"server=127\.0\.0\.1@$PORT check=signature cleared" \
	"$(grep 'action=monitor-alarm' "$S/audit.log")"
n2=$(alarms)
chk --server 127.0.0.1@$PORT
check_match "nothing recorded again once cleared ($n2 entries)" "^$n2\$" "$(alarms)"

# --- JSON
json=$("$R" --state "$S" check --zone tld. --server 127.0.0.1@$PORT --json --no-alarms)
check "--json parses" python3 -m json.tool <<< "$json"
check_match "--json matches the text: status, serial, drift" "OK $serial 0 True" \
	"$(python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["servers"][0]; print(d["status"], s["serial"], s["serial_drift"], s["answered"])' <<< "$json")"

# --- the key store (here the embedded SoftHSM2 token): what the next signing needs must be there
mv "$S/hsm" "$S/hsm.away"
chk --server 127.0.0.1@$PORT --no-alarms
is 2 "a key store that does not give the signing keys is CRITICAL"
check_match "... naming the key and why" "^CRITICAL - keystore: the key store does not give the signing key [0-9]+: .*" "$out"
mv "$S/hsm.away" "$S/hsm"
chk --server 127.0.0.1@$PORT --no-alarms
is 0 "... OK again once the keys are back"

# --- serial drift: the state published a newer zone than the server serves
cp "$WORK/knot/tld.signed" old.signed
sign_at 0
serve "$WORK/old.signed" transfer
chk --server 127.0.0.1@$PORT --no-alarms
is 1 "a server behind the last publication is a WARNING"
check_match "serial drift reported" "WARNING 127\.0\.0\.1@$PORT serial: serves serial $serial, behind the last publication" "$out"
serve "$WORK/knot/tld.signed" transfer
serial=$(awk '$4 == "SOA" {print $7; exit}' "$WORK/knot/tld.signed")

# --- a server that does not answer
chk --server 127.0.0.1@$DEAD --timeout 300 --no-alarms
is 2 "a server that does not answer is CRITICAL"
check_match "... for that server" "^CRITICAL 127\.0\.0\.1@$DEAD answer: 127\.0\.0\.1@$DEAD: no answer for tld\. SOA" "$out"
chk --server 127.0.0.1@$PORT --server 127.0.0.1@$DEAD --timeout 300 --no-alarms
is 2 "one good, one silent server: CRITICAL"
check_match "per-server perfdata with two servers" "'127\.0\.0\.1@$PORT serial'=$serial .*'127\.0\.0\.1@$DEAD status'=2" "$out"

# --- chain of trust (libunbound, through the server under test)
"$R" --state "$S" ds --zone tld. > tld.ds 2>/dev/null || "$R" --state "$S" key list --zone tld. > keys.txt
if [ -s tld.ds ]; then pass "the KSK's DS as trust anchor"; else fail "regsign ds --zone tld."; note "$(cat keys.txt)"; fi
mkdir -p foreign && "$R" keygen --origin tld. --algorithm ECDSAP256SHA256 --ksk --keys foreign >/dev/null
"$R" ds --keys foreign --origin tld. > wrong.ds
chk --server 127.0.0.1@$PORT --anchor tld.ds --no-alarms
is 0 "chain of trust secure with the right anchor"
check_match "... reported as secure" "^INFO 127\.0\.0\.1@$PORT chain: secure" "$out"
chk --server 127.0.0.1@$PORT --anchor wrong.ds --no-alarms
is 2 "chain of trust bogus with a wrong anchor: CRITICAL"
check_match "... with unbound's why_bogus" "CRITICAL 127\.0\.0\.1@$PORT chain: chain of trust bogus: .+" "$out"
chk --server 127.0.0.1@$PORT --anchor no-such-file --no-alarms
is 2 "an anchor file that cannot be read is reported"

# --- AXFR through the verifier
chk --server 127.0.0.1@$PORT --axfr --no-alarms
is 0 "--axfr of the good zone"
check_match "... verified" "^INFO 127\.0\.0\.1@$PORT axfr: verified \([0-9]+ records" "$out"
# Tampered: a DNSKEY the state does not know, and a changed A record.
{ cat "$WORK/knot/tld.signed"; grep -v '^;' foreign/*.key | head -1; } | sed 's/192\.0\.2\.1$/192.0.2.99/' > tampered.signed
serve "$WORK/tampered.signed" transfer
chk --server 127.0.0.1@$PORT --axfr --no-alarms
is 2 "--axfr of a tampered zone: CRITICAL"
check_match "the DNSKEY set differs from the state" "CRITICAL 127\.0\.0\.1@$PORT dnskey: DNSKEY [0-9]+ is served but unknown to the state" "$out"
check_match "the verifier's problems" "CRITICAL 127\.0\.0\.1@$PORT axfr: AXFR: [0-9]+ problems, first: " "$out"
serve "$WORK/knot/tld.signed"
chk --server 127.0.0.1@$PORT --axfr --no-alarms
is 0 "a refused AXFR is not an error"
check_match "... but 'not checked'" "^INFO 127\.0\.0\.1@$PORT axfr: not checked" "$out"

# --- the DS at the parent, served by a second knotd (the root zone)
{
	printf '$ORIGIN .\n$TTL 3600\n@ SOA a.root. hostmaster.root. 1 7200 3600 1209600 600\n@ NS a.root.\na.root. A 127.0.0.1\n'
	printf 'tld. NS ns.tld.\nns.tld. A 127.0.0.1\n'
	awk '{print "tld. DS", $(NF-3), $(NF-2), $(NF-1), $NF}' wrong.ds
} > root.zone
mkdir -p pknot && cp root.zone pknot/
knot_conf "$WORK/pknot" "$PPORT" . root.zone
knotd -c "$WORK/pknot/knot.conf" > pknot/log 2>&1 &
PKNOT=$!
for _ in $(seq 100); do drill -p "$PPORT" @127.0.0.1 . SOA 2>/dev/null | grep -q NOERROR && break; sleep 0.1; done
chk --server 127.0.0.1@$PORT --parent 127.0.0.1@$PPORT --no-alarms
check_match "a DS at the parent for an unknown key is reported" \
	"WARNING - ds: parent 127\.0\.0\.1@$PPORT serves a DS for key [0-9]+ \(algorithm 13\) unknown to the state" "$out"
check_match "the DS requested long ago and not at the parent is a warning" \
	"WARNING - ds: DS of key [0-9]+ requested [0-9]+d[0-9]+h ago is not at parent" "$out"
is 1 "... WARNING"

# --- syslog over TLS (RFC 5425): a python3 ssl collector with a throwaway CA
stop "$LISTENER"; LISTENER=
mkca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
	-subj "/CN=$1" -days 2 2>/dev/null; }
mkca ca && mkca otherca
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext 2>/dev/null
python3 "$SRC/tests/integration/tls_syslog.py" srv.pem srv.key tls.port > tls.out 2>tls.err &
LISTENER=$!
for _ in $(seq 100); do grep -q ready tls.out 2>/dev/null && break; sleep 0.1; done
TPORT=$(cat tls.port)
check "audit syslog-ca CA" "$R" --state "$S" audit syslog-ca ca.pem
check "audit syslog tls:127.0.0.1:PORT" "$R" --state "$S" audit syslog "tls:127.0.0.1:$TPORT"
chk --server 127.0.0.1@$DEAD --timeout 300
is 2 "an alarm while syslog goes over TLS"
for _ in $(seq 100); do grep -q 'monitor-alarm' tls.out && break; sleep 0.1; done
check_match "the TLS collector got the alarm, octet-counted RFC 5424" \
	"^<[0-9]+>1 .* regsign [0-9]+ monitor-alarm \[regsign@32473 .*result=\"critical\" hash=\"[0-9a-f]{64}\"\] seq=.*server=127\.0\.0\.1@$DEAD check=answer" \
	"$(grep monitor-alarm tls.out)"
check_match "... every frame well formed" "^0\$" "$(grep -c bad-frame tls.out)"
before=$(grep -c '^<' tls.out)
"$R" --state "$S" audit syslog-ca otherca.pem > /dev/null 2>&1
chk --server 127.0.0.2@$DEAD --timeout 300
check_match "a collector certificate from another CA is refused, clearly" \
	"alarms: syslog: tls:127\.0\.0\.1:$TPORT refused: certificate verify failed|alarms: syslog: tls:127\.0\.0\.1:$TPORT refused: unable to get local issuer certificate" "$out"
check_match "... and nothing reached it" "^$before\$" "$(grep -c '^<' tls.out)"
check_match "... the entries are in the audit log all the same" "result=critical detail=\"server=127\.0\.0\.2@$DEAD check=answer" \
	"$(grep 'action=monitor-alarm' "$S/audit.log")"
"$R" --state "$S" audit syslog-ca ca.pem > /dev/null 2>&1
"$R" --state "$S" audit syslog "tls:localhost:$TPORT" > /dev/null 2>&1
chk --server 127.0.0.3@$DEAD --timeout 300
check_match "the collector's name is checked (a certificate for 127.0.0.1 is not localhost's)" \
	"alarms: syslog: tls:localhost:$TPORT refused: (hostname mismatch|certificate verify failed)" "$out"
"$R" --state "$S" audit syslog none > /dev/null
stop "$LISTENER"; LISTENER=

# --- default servers: the zone's NS set, addresses from its glue (ns.tld. A 127.0.0.1, port 53)
json=$("$R" --state "$S" check --zone tld. --json --no-alarms --timeout 300)
check_match "without --server or secondaries: the NS set's glue address" "^127\.0\.0\.1\$" \
	"$(python3 -c 'import json,sys; print(" ".join(s["server"] for s in json.load(sys.stdin)["servers"]))' <<< "$json")"

# --- the long-running signer checks its secondaries every check-interval, and exports the figures
DPORT=$(free_port) MPORT=$(free_port)
check "zone set-secondaries: the served one and a silent one" "$R" --state "$S" zone set-secondaries tld. \
	"127.0.0.1@$PORT" "127.0.0.4@$DEAD"
printf 'listen: 127.0.0.1@%s\nmetrics: 127.0.0.1@%s\ncheck-interval: 1s\nnotify-retries: 1\n' "$DPORT" "$MPORT" > serve.conf
"$R" --state "$S" serve --config serve.conf > serve.log 2>&1 &
DAEMON=$!
metric() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://127.0.0.1:$MPORT/metrics" 2>/dev/null; }
m=
for _ in $(seq 150); do m=$(metric); grep -q "regsign_check_status{zone=\"tld.\",server=\"127.0.0.4@$DEAD\"}" <<< "$m" && break; sleep 0.2; done
check_match "metrics: the check's status of the served secondary" \
	"regsign_check_status\{zone=\"tld\.\",server=\"127\.0\.0\.1@$PORT\"\} [01]" "$m"
check_match "metrics: ... of the silent one, CRITICAL" "regsign_check_status\{zone=\"tld\.\",server=\"127\.0\.0\.4@$DEAD\"\} 2" "$m"
check_match "metrics: serial drift" "regsign_check_serial_drift\{zone=\"tld\.\",server=\"127\.0\.0\.1@$PORT\"\} -?[0-9]+" "$m"
check_match "metrics: signature validity left (a fresh zone: above the warning threshold)" \
	"regsign_check_signature_remaining_seconds\{zone=\"tld\.\",server=\"127\.0\.0\.1@$PORT\"\} 1[0-9]{6}" "$m"
check_match "the daemon's check raised the alarm in the audit log" \
	"operator=regsign-serve action=monitor-alarm zone=tld\. key=0 result=critical detail=\"server=127\.0\.0\.4@$DEAD check=answer" \
	"$(grep 'action=monitor-alarm' "$S/audit.log")"
sleep 2.5
check_match "... once: not again each round" "^1\$" "$(grep -c "operator=regsign-serve action=monitor-alarm .*server=127\.0\.0\.4@$DEAD" "$S/audit.log")"
stop "$DAEMON"
json=$("$R" --state "$S" check --zone tld. --json --no-alarms --timeout 300)
check_match "without --server: the zone's secondaries" "^127\.0\.0\.1@$PORT 127\.0\.0\.4@$DEAD\$" \
	"$(python3 -c 'import json,sys; print(" ".join(s["server"] for s in json.load(sys.stdin)["servers"]))' <<< "$json")"
"$R" --state "$S" zone set-secondaries tld. > /dev/null 2>&1

# --- bad input: UNKNOWN, one line
for args in "--zone nosuch." "--zone tld. --server nonsense" "--zone tld. --warn xyz" \
	"--zone tld. --warn 1d --crit 2d" "--zone tld. --bogus" "--server 127.0.0.1"; do
	out=$("$R" --state "$S" check $args 2>&1)
	rc=$?
	if [ $rc -eq 3 ] && [ "$(wc -l <<< "$out")" -eq 1 ] && grep -q '^REGSIGN CHECK UNKNOWN - ' <<< "$out"; then
		pass "check $args: UNKNOWN (exit 3), one line"
	else
		fail "check $args: UNKNOWN (exit $rc), one line"; note "$out"
	fi
done
out=$("$R" --state "$WORK/nothing" check --zone tld. 2>&1)
check_match "no state: UNKNOWN" "^REGSIGN CHECK UNKNOWN - " "$out"

echo "1..$T_N"
[ "$T_FAIL" -eq 0 ]
