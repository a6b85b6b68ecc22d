#!/usr/bin/env bash
# The parent's DS observed, not only confirmed by hand: a real authoritative
# server (knotd) on loopback serves the parent zone; regsign asks it for the
# child's DS and moves the KSK rollover on by what it sees. Also: CDS/CDNSKEY
# publication follows the DS the state machine wants.
. "$(dirname "$0")/lib.sh"

command -v knotd >/dev/null || { echo "1..0 # SKIP knotd missing"; exit 0; }
PORT=$((20000 + $$ % 20000))
S=$WORK/state
T0=$(date -u +%Y%m%d%H0000)
T0S=$(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; }

cat > child.zone <<'Z'
$TTL 3600
$ORIGIN child.test.
@	IN SOA	ns hostmaster 1 7200 3600 1209600 600
@	NS	ns
ns	A	127.0.0.1
Z
# parent_zone SERIAL [DS-LINES]: the parent zone test. with the delegation to child.test.
parent_zone() {
	{
		printf '$ORIGIN test.\n$TTL 3600\n@ SOA ns hostmaster %s 7200 3600 1209600 600\n@ NS ns\nns A 127.0.0.1\n' "$1"
		printf 'child NS ns.child\nns.child A 127.0.0.1\n'
		[ -n "${2:-}" ] && printf '%s\n' "$2"
	} > parent.zone
}
start_knot() {
	cat > knot.conf <<K
server:
    rundir: "$WORK"
    listen: 127.0.0.1@$PORT
database:
    storage: "$WORK/kdb"
template:
  - id: default
    storage: "$WORK"
    zonefile-load: whole
    journal-content: none
zone:
  - domain: test.
    file: "parent.zone"
K
	knotd -c knot.conf > knot.log 2>&1 &
	KNOT=$!
	for _ in $(seq 50); do
		drill -p $PORT @127.0.0.1 test. SOA 2>/dev/null | grep -q 'rcode: NOERROR' && return 0
		sleep 0.1
	done
	note "$(cat knot.log)"
	return 1
}
KNOT=
stop_knot() { [ -n "$KNOT" ] && kill "$KNOT" 2>/dev/null && wait "$KNOT" 2>/dev/null; KNOT=; }
trap 'stop_knot; rm -rf "$WORK"' EXIT

parent_zone 1
if start_knot; then pass "knotd serves the parent zone on 127.0.0.1@$PORT"; else fail "knotd serves the parent zone"; fi
check "zone add with a parent agent" "$R" --state "$S" zone add child.test. --policy default --input child.zone \
	--parent-agent 127.0.0.1@$PORT --now "$T0" --quiet
# Key steps count from the publication that shows them: sign publishes the new keys.
publish() { "$R" --state "$S" sign --zone child.test. --out child.signed --now "$1" --quiet; }
publish "$T0"
out=$("$R" --state "$S" enforce --now "$(at 0 3)" 2>&1)
check_match "the KSK's DS is requested" "DS submitted to the parent" "$out"
ksk=$("$R" --state "$S" key list --zone child.test. --now "$(at 0 3)" | awk '$2 == "ksk" {print $1}')
"$R" --state "$S" sign --zone child.test. --out child.signed --now "$(at 0 3)" --quiet
check_match "CDS published for the KSK whose DS is wanted (RFC 7344)" "CDS[[:space:]]+$ksk 13 2 " "$(grep -P '\tCDS\t' child.signed)"
check_match "CDNSKEY published beside it" "CDNSKEY[[:space:]]+257 3 13 " "$(grep -P '\tCDNSKEY\t' child.signed)"
check "the zone with CDS validates" "$R" verify child.signed --origin child.test. --time "$(at 0 3)" --quiet

out=$("$R" --state "$S" ds-check --zone child.test. --now "$(at 0 4)" 2>&1)
check_match "ds-check: the parent serves no DS yet" "127.0.0.1@$PORT serves 0 DS" "$out"
check_match "... so the DS stays submitted" "DS of key $ksk present at 0 of 1 parent servers" "$out"

# A DS that does not match the key is not taken for it.
stop_knot
parent_zone 2 "child DS $ksk 13 2 $(printf '%064d' 0)"
start_knot
out=$("$R" --state "$S" ds-check --zone child.test. --now "$(at 0 5)" 2>&1)
check_match "a DS with the wrong digest is not the key's DS" "present at 0 of 1" "$out"

# The right DS appears: the next enforce sees it and the rollover goes on.
stop_knot
ds=$("$R" --state "$S" ds --zone child.test.)
check_match "ds --zone prints the DS the parent should publish" "^child\.test\.[[:space:]]+IN[[:space:]]+DS[[:space:]]+$ksk 13 2 " "$ds"
parent_zone 3 "$(printf '%s\n' "$ds" | sed 's/^child\.test\.[[:space:]]*/child /; s/IN[[:space:]]*//')"
start_knot
out=$("$R" --state "$S" enforce --now "$(at 0 6)" 2>&1)
check_match "enforce sees the DS at the parent and confirms it" "DS of key $ksk seen at all 1 parent servers" "$out"
check_match "the DS is rumoured from then" "ksk .*rumoured|DS rumoured" "$("$R" --state "$S" key list --zone child.test. --now "$(at 0 6)")"

# A KSK rollover: the old DS must leave the parent before the old KSK stops signing.
"$R" --state "$S" rollover --zone child.test. --ksk --now "$(at 2)" --quiet
publish "$(at 2)"
"$R" --state "$S" enforce --now "$(at 9 6)" --quiet
list=$("$R" --state "$S" key list --zone child.test. --now "$(at 9 6)")
new=$(printf '%s\n' "$list" | awk '$2 == "ksk" && $1 != "'"$ksk"'" {print $1}')
check_match "the new KSK's DS is requested, the old one's removal too" "to-remove" "$list"
"$R" --state "$S" sign --zone child.test. --out child2.signed --now "$(at 9 6)" --quiet
check_match "CDS now names only the new KSK" "^$new$" "$(awk '$4 == "CDS" {print $5}' child2.signed | tr '\n' ' ' | sed 's/ $//')"
stop_knot
ds=$("$R" --state "$S" ds --zone child.test.)
check_match "during the swap ds --zone names only the new KSK" "^$new$" "$(printf '%s\n' "$ds" | awk '{print $4}')"
parent_zone 4 "$(printf '%s\n' "$ds" | sed 's/^child\.test\.[[:space:]]*/child /; s/IN[[:space:]]*//')"
start_knot
out=$("$R" --state "$S" enforce --now "$(at 9 7)" 2>&1)
check_match "the parent swapped the DS: new seen" "DS of key $new seen" "$out"
check_match "... and old gone" "DS of key $ksk gone" "$out"

# A parent server that does not answer changes nothing and says so.
stop_knot
"$R" --state "$S" zone set-parent child.test. 127.0.0.1@$((PORT + 1)) >/dev/null
publish "$(at 20)" # the old KSK leaves (the signer runs often in practice)
publish "$(at 30)"
"$R" --state "$S" rollover --zone child.test. --ksk --now "$(at 40)" --quiet
out=$("$R" --state "$S" ds-check --zone child.test. --now "$(at 41)" 2>&1)
check_match "an unreachable parent server is reported" "parent: 127.0.0.1@$((PORT + 1)): no answer" "$out"
check_exit 2 "a malformed parent agent is refused" "$R" --state "$S" zone set-parent child.test. 300.1.1.1
check_exit 2 "ds-check on a zone without parent agents is refused" sh -c \
	"'$R' --state '$S' zone set-parent child.test. >/dev/null && '$R' --state '$S' ds-check --zone child.test. --now $(at 41)"

finish
