#!/usr/bin/env bash
# RFC 5011 with a real resolver: regsign serve signs rfc5011.test. under a
# policy with 20-second hold-downs, NSD serves it as a secondary, and unbound
# validates it from an auto-trust-anchor-file holding only the first KSK, with
# the same hold-downs (permit-small-holddown). A KSK rollover by hand must
# take unbound along: the new key pending, then valid, the old one revoked,
# and every answer on the way authenticated (AD).
. "$(dirname "$0")/lib.sh"

for tool in nsd unbound dig; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
S=$WORK/state
Z=rfc5011.test.
base=$((20000 + RANDOM % 20000))
P=$base PN=$((base + 1)) PU=$((base + 2))
AN=127.0.0.21
SECRET=$(head -c 32 /dev/urandom | base64)
DAEMON= NSD= UNBOUND=
cleanup() { kill -9 $DAEMON $NSD $UNBOUND 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

cat > zone.in <<EOF
\$ORIGIN $Z
\$TTL 2
@ SOA ns hostmaster 1 7200 3600 1209600 2
@ NS ns
ns A 127.0.0.21
www A 192.0.2.80
EOF
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" policy import "$DATA/policy-rfc5011.yaml" >/dev/null
"$R" --state "$S" zone add $Z --policy test-rfc5011 --input zone.in --quiet
"$R" --state "$S" zone set-secondaries $Z "$AN@$PN" --tsig "xfr.key:hmac-sha256:$SECRET" >/dev/null
printf 'poll: 1s\nnotify-timeout: 1s\nnotify-retries: 30\nlisten: 127.0.0.1@%s\n' "$P" > serve.conf
"$R" --state "$S" serve --config serve.conf > serve.log 2>&1 & DAEMON=$!
nsd_secondary "$AN" "$PN" $Z "$P"
nsd -c nsd/nsd.conf -d > nsd/out.log 2>&1 & NSD=$!

wait_for() { # wait_for SECONDS CMD...
	local n=$(($1 * 10)); shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
ksks() { dig @$AN -p $PN $Z DNSKEY +short +time=1 +tries=1 2>/dev/null | awk '$1 == 257 || $1 == 385 {print $1}' | sort | tr '\n' ' '; }
has_ksk() { [ -n "$(ksks)" ]; }
check "NSD serves the zone regsign serve signed, with a KSK" wait_for 30 has_ksk

# --- unbound: the first KSK as its only anchor, tracked by RFC 5011 with the policy's hold-downs.
mkdir -p ub
dig @$AN -p $PN $Z DNSKEY +noall +answer | awk '$5 == 257' > ub/anchor.key
check_match "the anchor file holds the one KSK" "^1$" "$(wc -l < ub/anchor.key)"
OLD_KEY=$(awk '{print $NF}' ub/anchor.key)
{
	unbound_conf "$WORK/ub" "$PU" "$WORK/ub/unbound.log" 2
	cat <<EOF
    domain-insecure: "."
    auto-trust-anchor-file: "$WORK/ub/anchor.key"
    permit-small-holddown: yes
    add-holddown: 20
    del-holddown: 20
    keep-missing: 0
    cache-max-ttl: 2
remote-control:
    control-enable: no
stub-zone:
    name: "$Z"
    stub-addr: $AN@$PN
EOF
} > ub/unbound.conf
unbound -d -c ub/unbound.conf > ub/out.log 2>&1 & UNBOUND=$!
ad() { dig @127.0.0.1 -p $PU www.$Z A +dnssec +time=1 +tries=1 2>/dev/null | grep -q 'flags:.* ad[ ;]'; }
check "unbound validates the zone from the first KSK (AD)" wait_for 20 ad
# unbound's own record of the anchor: ;;state=N [ NAME ] per key (RFC 5011 4: 1 AddPend, 2 Valid, 4 Revoked).
# A revoked key has another tag (the flags are part of it): it is named "revoked" when its key is the old one.
states() { awk '/DNSKEY/ && /state=/ {match($0, /id = [0-9]+/); id = substr($0, RSTART + 5, RLENGTH - 5); match($0, /\[ *[A-Z]+ *\]/); s = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", s); print id ":" s}' ub/anchor.key 2>/dev/null | sort | tr '\n' ' '; }
tag_of() { "$R" --state "$S" key list --zone $Z --json | python3 -c "
import json, sys
for k in json.load(sys.stdin)['keys']:
    if k['role'] == 'ksk' and k['goal'] $1 'active': print(k['tag'])"; }
OLD=$(tag_of ==)
check_match "unbound holds the first KSK $OLD as valid" "(^| )$OLD:VALID " "$(states)"

# --- the rollover, followed second by second.
check "ctl rollover $Z ksk" "$R" --state "$S" ctl rollover $Z ksk
NEW=$(tag_of ==)
[ "$NEW" != "$OLD" ] && pass "a new KSK $NEW is made" || fail "a new KSK is made"
# An answer without AD (SERVFAIL included) is a loss; a query a loaded machine left unanswered is not.
lost_ad() { local a; a=$(dig @127.0.0.1 -p $PU www.$Z A +dnssec +time=2 +tries=2 2>/dev/null)
	grep -q 'status:' <<<"$a" && ! grep -q 'flags:.* ad[ ;]' <<<"$a"; }
# Times in hundredths of a second since the rollover; an event first seen at a pass happened after the
# pass before it (prev), so "first seen - prev" bounds how long unbound held a state from above.
lost=0 seen="" start=$EPOCHREALTIME prev=0
elapsed() { awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 100}'; }
t_pend= t_valid= t_rev= t_ds= t_gone= t_listed= pend_after= rev_after=
for _ in $(seq 1 150); do
	sleep 1
	now=$(elapsed)
	lost_ad && lost=$((lost + 1))
	st=" $(states)"
	[ -z "$t_pend" ] && grep -q " $NEW:ADDPEND " <<<"$st" && t_pend=$now pend_after=$prev
	[ -z "$t_valid" ] && grep -q " $NEW:VALID " <<<"$st" && t_valid=$now
	[ -z "$t_rev" ] && grep -F "$OLD_KEY" ub/anchor.key 2>/dev/null | grep -q '385 3 13 .*state=4 \[ REVOKED \]' && t_rev=$now rev_after=$prev
	[ -z "$t_ds" ] && "$R" --state "$S" key list --zone $Z --json | grep -q "\"tag\": $NEW,.*\"ds\": {\"state\": \"\(rumoured\|omnipresent\)\"" && t_ds=$now
	[ -z "$t_listed" ] && "$R" --state "$S" key list --zone $Z | grep -q "^$OLD  *ksk .* revoked " && t_listed=$now
	[ -z "$t_gone" ] && [ "$(ksks)" = "257 " ] && [ -n "$t_rev" ] && t_gone=$now
	seen="$seen $now:$(ksks | tr -d ' ')"
	[ -n "$t_gone" ] && [ -n "$t_valid" ] && break
	prev=$now
done
note "hundredths of a second after the rollover: unbound has $NEW pending at ${t_pend:-never}, valid at ${t_valid:-never};" \
	"$OLD revoked at ${t_rev:-never}; the old KSK gone from the DNSKEY RRset at ${t_gone:-never}"
check_match "key list names the old KSK revoked while it is published so" "^[0-9]+$" "$t_listed"
check_match "unbound sees the new KSK and holds it pending (AddPend)" "^[0-9]+$" "$t_pend"
check_match "... and trusts it once the add hold-down has passed" "^[0-9]+$" "$t_valid"
check_match "... not before 20 seconds" "^1$" "$(( ${t_valid:-0} - ${pend_after:-0} >= 2000 ))"
check_match "the old KSK is published revoked (flags 385) and unbound marks it revoked" "^[0-9]+$" "$t_rev"
check_match "... only after unbound trusts the new one" "^1$" "$(( ${t_rev:-0} >= ${t_valid:-999} ))"
check_match "the revoked key leaves the DNSKEY RRset after the remove hold-down" "^1$" \
	"$(( ${t_gone:-0} - ${rev_after:-99900} >= 2000 ))"
check_match "every answer during the rollover was authenticated (AD)" "^0$" "$lost"
check_match "unbound's anchor: the new KSK valid, the old revoked" " $NEW:VALID " " $(states)"
check_match "the served DNSKEY RRset showed the revoked key on the way" ":(257)?385(257)?( |$)" "$seen"
check "after the rollover unbound still validates" ad
out=$("$R" --state "$S" key list --zone $Z --json)
check_match "the old KSK is removed in the state" "^1$" "$(python3 -c "
import json, sys
ks = [k for k in json.load(sys.stdin)['keys'] if k['tag'] == $OLD]
print(int(not ks or ks[0]['state'] in ('retired', 'removed')))" <<<"$out")"
check_match "the daemon logged the revocation" "revoked: published with the REVOKE bit" "$(cat serve.log)"
check "the daemon is still up" kill -0 "$DAEMON"
finish
