#!/usr/bin/env bash
# Name servers outside the registry: their addresses come from a resolver
# (regsign registry --resolver), here unbound on loopback with a stub zone
# outside.test. served by knotd, which also serves the signed children at the
# address the resolver gives. Each failure of the pre-delegation check says,
# per name server, what went wrong: the name does not resolve, has no address,
# or the resolver did not answer; over EPP too (2306 with the reasons). No
# message repeats its prefix ("ADDR: ADDR: ...").
. "$(dirname "$0")/lib.sh"

command -v knotd >/dev/null || { echo "1..0 # SKIP knotd missing"; exit 0; }
command -v unbound >/dev/null || { echo "1..0 # SKIP unbound missing (Debian package unbound)"; exit 0; }
PORT=$((41000 + $$ % 19000)) # knotd: the children (127.0.0.3) and outside.test. (127.0.0.1)
RPORT=$((PORT + 1))          # unbound, the registry's resolver
EPP_PORT=$((PORT + 2))
export REGSIGN_STATE=$WORK/state REGSIGN_OPERATOR=tester
KNOT= UNBOUND= UNBOUND_SYS= EPP=
stop_all() {
	for p in $KNOT $UNBOUND $UNBOUND_SYS $EPP; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	KNOT= UNBOUND= UNBOUND_SYS= EPP=
}
trap 'stop_all; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

# Every output of regsign goes to all.out too, to be searched for repeated prefixes at the end.
run() {
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >> "$WORK/all.out"
	printf '%s\n' "$out"
	return $rc
}

# --- the children, signed with file keys (valid for 7 days from now), and outside.test.
new_key() { mkdir -p "$2" && "$R" keygen --origin "$1" --algorithm ECDSAP256SHA256 --ksk --keys "$2" >/dev/null; }
ds_of() { "$R" ds --keys "$1" --origin "$2" | awk '{print $4, $5, $6, $7}' | head -1; }
mkdir -p zones
for c in x two; do
	new_key $c.cloud. keys-$c
	printf '$ORIGIN %s.cloud.\n$TTL 300\n@ SOA ns.outside.test. hostmaster 1 7200 3600 1209600 300\n' $c > zones/$c.in
	printf '@ NS ns.outside.test.\n' >> zones/$c.in
	"$R" sign zones/$c.in --origin $c.cloud. --keys keys-$c --out zones/$c.zone --validity 7d 2>/dev/null
done
cat > zones/outside.zone <<'EOF'
$ORIGIN outside.test.
$TTL 300
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A 127.0.0.3
txt TXT "a name without an address"
EOF
{
	printf 'server:\n    rundir: "%s"\n    listen: [ 127.0.0.1@%s, 127.0.0.3@%s ]\n' "$WORK/zones" $PORT $PORT
	printf 'database:\n    storage: "%s/db"\n' "$WORK/zones"
	printf 'template:\n  - id: default\n    storage: "%s"\n    zonefile-load: whole\n    journal-content: none\n' "$WORK/zones"
	printf 'zone:\n  - domain: outside.test.\n    file: outside.zone\n'
	for c in x two; do printf '  - domain: %s.cloud.\n    file: %s.zone\n' $c $c; done
} > zones/knot.conf
knotd -c zones/knot.conf > zones/log 2>&1 &
KNOT=$!
up=1
for _ in $(seq 50); do
	drill -p $PORT @127.0.0.3 x.cloud. SOA 2>/dev/null | grep -q NOERROR &&
		drill -p $PORT @127.0.0.1 outside.test. SOA 2>/dev/null | grep -q NOERROR && { up=0; break; }
	sleep 0.1
done
if [ $up -eq 0 ]; then pass "knotd serves outside.test. and the children on loopback"; else fail "knotd"; note "$(cat zones/log)"; fi

# --- unbound: a recursive resolver on 127.0.0.1 that finds outside.test. at knotd (stub zone).
# Its root hints point at loopback too: nothing it does leaves 127.0.0.0/8.
mkdir -p ub
{
	unbound_conf "$WORK/ub" "$RPORT" "" 1
	cat <<EOF
    module-config: "iterator"
remote-control:
    control-enable: no
stub-zone:
    name: "outside.test."
    stub-addr: 127.0.0.1@$PORT
EOF
} > ub/unbound.conf
unbound -d -c ub/unbound.conf > ub/log 2>&1 &
UNBOUND=$!
up=1
for _ in $(seq 50); do
	drill -p $RPORT @127.0.0.1 ns.outside.test. A 2>/dev/null | grep -q '127\.0\.0\.3' && { up=0; break; }
	sleep 0.1
done
if [ $up -eq 0 ]; then pass "unbound on 127.0.0.1@$RPORT resolves ns.outside.test. to 127.0.0.3"; else fail "unbound"; note "$(cat ub/log)"; fi

# --- the registry: zone cloud., a registrar, delegations to name servers outside it
"$R" keystore init --backend file >/dev/null
printf '$ORIGIN cloud.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 600\n@ NS ns1\nns1 A 192.0.2.1\n' > template.zone
"$R" zone add cloud. --policy default --input template.zone --quiet >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj /CN=registrars-ca 2>/dev/null
for n in server one; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
	openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 2>/dev/null
done
printf 'pw-one-1\n' | "$R" registrar add one --name 'Registrar One' --cert one.pem >/dev/null
"$R" domain add x.cloud. --zone cloud. --registrar one --ns ns.outside.test. >/dev/null
"$R" domain add two.cloud. --zone cloud. --registrar one --ns ns.outside.test.,ns.nowhere.outside.test. >/dev/null
"$R" domain add nx.cloud. --zone cloud. --registrar one --ns ns.nowhere.outside.test. >/dev/null
"$R" domain add noaddr.cloud. --zone cloud. --registrar one --ns txt.outside.test. >/dev/null
DS_X=$(ds_of keys-x x.cloud.)
DS_TWO=$(ds_of keys-two two.cloud.)

check_exit 2 "--resolver takes an address, not a name" run "$R" registry --resolver resolver.example.
check_exit 2 "--resolver refuses a port over 65535" run "$R" registry --resolver 127.0.0.1@70000
out=$(run "$R" registry --resolver ::1@5353)
check_match "an IPv6 resolver with a port is taken" "^resolver ::1@5353$" "$out"
out=$(run "$R" registry --resolver system)
check_match "'system' goes back to /etc/resolv.conf" "^resolver system$" "$out"
out=$(run "$R" registry --check enforce --dns-port $PORT --timeout 500 --resolver 127.0.0.1@$RPORT)
check_match "the registry asks unbound on loopback" "^resolver 127\.0\.0\.1@$RPORT$" "$out"
check_match "... which is audited" "action=registry-config .*registry\.resolver = 127\.0\.0\.1@$RPORT" \
	"$(run "$R" audit show --tail 1)"

# --- (a) the name server resolves through the resolver, and the child there proves the DS
out=$(run "$R" ds submit --domain x.cloud. --ds "$DS_X")
rc=$?
check_match "ds submit through the resolver is taken (exit $rc)" "^0$" "$rc"
check_match "... the address comes from the resolver, and the child there proves the DS" \
	"^  127\.0\.0\.3@$PORT +ok: DNSKEY [0-9]+ \(algorithm 13\) matches a DS" "$out"
check_match "... the DS is taken" "ds +$DS_X" "$(run "$R" domain info x.cloud.)"
check_match "... with the check in the history" "1 of 1 servers prove it" "$(run "$R" domain info x.cloud.)"

# --- (b) a name server whose name does not resolve, or has no address
check_exit 1 "a name server that does not resolve: refused (exit 1)" run "$R" ds submit --domain nx.cloud. --ds "$DS_X"
out=$(run "$R" ds submit --domain nx.cloud. --ds "$DS_X")
check_match "... the report names the host and NXDOMAIN from the resolver" \
	"^  ns\.nowhere\.outside\.test\. +FAILED: does not resolve: NXDOMAIN from resolver 127\.0\.0\.1@$RPORT$" "$out"
check_match "... and so does the error, which is not empty" \
	"^regsign: nx\.cloud\.: pre-delegation check failed at 1 of 1 servers; ns\.nowhere\.outside\.test\.: does not resolve: NXDOMAIN .*\(nothing changed\)$" \
	"$out"
check_match "... nothing changed" "ds +none" "$(run "$R" domain info nx.cloud.)"
check_match "... the refusal is audited with its reason" \
	"action=ds-update zone=nx\.cloud\. .*ns\.nowhere\.outside\.test\.: does not resolve" "$(run "$R" audit show --tail 1)"
out=$(run "$R" ds check --domain nx.cloud. --ds "$DS_X")
check_match "ds check says the same" "^  ns\.nowhere\.outside\.test\. +FAILED: does not resolve: NXDOMAIN" "$out"
out=$(run "$R" ds submit --domain noaddr.cloud. --ds "$DS_X")
check_match "a name server with no A or AAAA record: named, with why" \
	"^  txt\.outside\.test\. +FAILED: has no address: resolver 127\.0\.0\.1@$RPORT has no A or AAAA record" "$out"
out=$(run "$R" ds submit --domain two.cloud. --ds "$DS_TWO")
check_match "one of two name servers resolves: its address is asked and proves the DS" \
	"^  127\.0\.0\.3@$PORT +ok: DNSKEY" "$out"
check_match "... the other is a line of its own" "^  ns\.nowhere\.outside\.test\. +FAILED: does not resolve" "$out"
check_match "... and the check fails at 1 of 2" "failed at 1 of 2 servers; ns\.nowhere\.outside\.test\.: does not resolve" "$out"

# --- (d) over EPP: 2306 with the reason and one extValue per server
frame() { # FILE COMMAND-XML [EXTENSION-XML]
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>%s' "$2"
		[ -n "${3:-}" ] && printf '<extension>%s</extension>' "$3"
		printf '<clTRID>T-%s</clTRID></command></epp>\n' "$(basename "$1" .xml)"
	} > "$1"
}
D='xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
S='xmlns:secDNS="urn:ietf:params:xml:ns:secDNS-1.1"'
dsdata() { # "TAG ALG TYPE HEX"
	set -- $1
	printf '<secDNS:dsData><secDNS:keyTag>%s</secDNS:keyTag><secDNS:alg>%s</secDNS:alg><secDNS:digestType>%s</secDNS:digestType><secDNS:digest>%s</secDNS:digest></secDNS:dsData>' "$@"
}
update() { frame "$1" "<update><domain:update $D><domain:name>$2</domain:name></domain:update></update>" "<secDNS:update $S><secDNS:add>$(dsdata "$3")</secDNS:add></secDNS:update>"; }
mkdir -p f resp
frame f/login.xml "<login><clID>one</clID><pw>pw-one-1</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><svcExtension><extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI></svcExtension></svcs></login>"
update f/nx.xml nx.cloud "$DS_X"
update f/two.xml two.cloud "$DS_TWO"
"$R" epp --listen 127.0.0.1@$EPP_PORT --cert server.pem --key server.key --ca ca.pem --zone cloud. > epp.out 2> epp.err &
EPP=$!
for _ in $(seq 50); do grep -q listening epp.out 2>/dev/null && break; sleep 0.1; done
out=$(run python3 "$SRC/tests/integration/epp_client.py" $EPP_PORT ca.pem one.pem one.key resp f/login.xml f/nx.xml f/two.xml)
check_match "EPP: login" "^1000 " "$(sed -n 2p <<<"$out")"
check_match "EPP: a name server that does not resolve: 2306 with a reason naming it" \
	"^2306 .*\| nx\.cloud\.: pre-delegation check failed at 1 of 1 servers; ns\.nowhere\.outside\.test\.: does not resolve: NXDOMAIN" \
	"$(sed -n 3p <<<"$out")"
check_match "... and an extValue for it" "failed: does not resolve: NXDOMAIN from resolver 127\.0\.0\.1@$RPORT" \
	"$(sed -n 3p <<<"$out")"
check_match "... whose value is the host" 'about="server">ns\.nowhere\.outside\.test\.<' "$(cat resp/002.xml)"
check_match "EPP: two name servers, one unresolvable: 2306, failed at 1 of 2" \
	"^2306 .*\| two\.cloud\.: pre-delegation check failed at 1 of 2 servers; ns\.nowhere\.outside\.test\.: does not" \
	"$(sed -n 4p <<<"$out")"
check_match "... with a line for each server" "\| failed: does not resolve: NXDOMAIN .*\| ok: DNSKEY [0-9]+ \(algorithm 13\)" \
	"$(sed -n 4p <<<"$out")"
valid=0
for x in resp/*.xml; do
	xmllint --noout --schema "$SRC/schemas/regsign-epp.xsd" "$x" 2>/dev/null ||
		{ valid=1; note "$x: $(xmllint --noout --schema "$SRC/schemas/regsign-epp.xsd" "$x" 2>&1)"; }
done
if [ $valid -eq 0 ]; then pass "the EPP answers are valid against the schemas"; else fail "EPP answers valid"; fi
cat resp/*.xml >> all.out

# --- the system's resolver (/etc/resolv.conf), where a private mount namespace can show it one on loopback
sys_skip=
if ! unshare -m true 2>/dev/null; then
	sys_skip="no mount namespace (unshare -m needs root)"
else
	sed "s/^    interface: .*/    interface: 127.0.0.153@53/; s/^    port: .*/    port: 53/; s|ub/unbound.pid|ub/sys.pid|" \
		ub/unbound.conf > ub/sys.conf
	unbound -d -c ub/sys.conf > ub/sys.log 2>&1 &
	UNBOUND_SYS=$!
	sys_skip="unbound cannot listen on 127.0.0.153@53"
	for _ in $(seq 50); do
		drill @127.0.0.153 ns.outside.test. A 2>/dev/null | grep -q '127\.0\.0\.3' && { sys_skip=; break; }
		kill -0 $UNBOUND_SYS 2>/dev/null || break
		sleep 0.1
	done
fi
if [ -z "$sys_skip" ]; then
	printf 'nameserver 127.0.0.153\n' > resolv.conf
	"$R" registry --resolver system >/dev/null
	out=$(run unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$WORK/resolv.conf" \
		"$R" ds check --domain nx.cloud. --ds "$DS_X")
	check_match "--resolver system: the resolver of /etc/resolv.conf is asked, and named" \
		"^  ns\.nowhere\.outside\.test\. +FAILED: does not resolve: NXDOMAIN from the system resolver \(127\.0\.0\.153\)$" "$out"
	out=$(run unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$WORK/resolv.conf" \
		"$R" ds check --domain x.cloud.)
	check_match "... and its address for ns.outside.test. is asked" "^  127\.0\.0\.3@$PORT +ok: DNSKEY" "$out"
	"$R" registry --resolver 127.0.0.1@$RPORT >/dev/null
else
	pass "--resolver system # SKIP $sys_skip"
fi
if [ -n "$UNBOUND_SYS" ]; then kill $UNBOUND_SYS; wait $UNBOUND_SYS 2>/dev/null; UNBOUND_SYS=; fi

# --- (c) the resolver down: refused, naming the resolver and that it did not answer
kill $UNBOUND
wait $UNBOUND 2>/dev/null
UNBOUND=
start=$(date +%s)
out=$(run "$R" ds check --domain x.cloud.)
rc=$?
took=$(($(date +%s) - start))
check_match "the resolver down: ds check fails (exit $rc)" "^1$" "$rc"
check_match "... naming the name server, the resolver and that it did not answer" \
	"^  ns\.outside\.test\. +FAILED: cannot be resolved: resolver 127\.0\.0\.1@$RPORT did not answer within 500 ms \(2 tries\)$" \
	"$out"
check_match "... in the error too" "^regsign: x\.cloud\.: pre-delegation check failed at 1 of 1 servers; ns\.outside\.test\.: cannot be resolved: resolver 127\.0\.0\.1@$RPORT did not answer" \
	"$out"
check_match "... within the timeout and its tries (${took}s)" "^ok$" "$([ "$took" -le 5 ] && echo ok)"
# A resolver that takes the queries and never answers: it counts them.
python3 -c '
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
n = 0
def done(*_):
    open(sys.argv[2], "w").write("%d\n" % n); sys.exit(0)
signal.signal(signal.SIGTERM, done)
open(sys.argv[2] + ".up", "w").close()
while True:
    s.recv(4096); n += 1
' "$RPORT" "$WORK/queries" & SILENT=$!
for _ in $(seq 50); do [ -e "$WORK/queries.up" ] && break; sleep 0.1; done
start=$(date +%s%N)
out=$(run "$R" ds submit --domain two.cloud. --ds "$DS_TWO")
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
kill $SILENT; wait $SILENT 2>/dev/null
check_match "... and ds submit is refused (exit $rc)" "^1$" "$rc"
check_match "... with a line for each of its name servers" \
	"ns\.outside\.test\. +FAILED: cannot be resolved: .* ns\.nowhere\.outside\.test\. +FAILED: cannot be resolved: resolver 127\.0\.0\.1@$RPORT did not answer" \
	"$(tr '\n' ' ' <<<"$out")"
# Two tries of 500 ms for the first name server; the second is not waited for again.
check_match "... a resolver that is down is waited for once per check, not per name server (${took} ms)" "^2$" \
	"$(cat "$WORK/queries")"
# A child's server that does not answer: its line says so once, without the address again.
"$R" domain add glued.cloud. --zone cloud. --registrar one --ns ns.glued.cloud. --glue ns.glued.cloud./127.0.0.9 >/dev/null
out=$(run "$R" ds check --domain glued.cloud. --ds "$DS_X")
check_match "a child's server that does not answer: the query and the time waited" \
	"^  127\.0\.0\.9@$PORT +FAILED: no answer for glued\.cloud\. DNSKEY within 500 ms \(2 tries\)$" "$out"

# --- (e) no message repeats its prefix
# "ADDR: ADDR: ..." in a line, or a report line whose detail names its server again.
rep=$(grep -En '(^|[ ;>])([^ ;:<>]+): \2: |^  ([^ ]+) +(ok|FAILED): \3: ' all.out)
if [ -z "$rep" ]; then pass "no message repeats its prefix (ADDR: ADDR: ...)"; else fail "a repeated prefix"; note "$rep"; fi
empty=$(grep -En '^regsign: *$|^regsign:  |^2306 *$' all.out)
if [ -z "$empty" ]; then pass "no error message is empty"; else fail "an empty error message"; note "$empty"; fi

stop_all
finish
