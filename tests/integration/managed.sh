#!/usr/bin/env bash
# Managed zones: zone add, enforce, sign --zone and key list as the external
# contract names them; a ZSK rollover seen through the signed output; the DS
# handshake; the clock guard; refused input that changes nothing; kill -9 at
# random instants; no private key in the database.
. "$(dirname "$0")/lib.sh"

S=$WORK/state
T0=$(date -u +%Y%m%d%H0000) # this hour: the validators check signatures against the real clock
T0S=$(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0

cat > tld.zone <<'EOF'
$TTL 3600
$ORIGIN tld.
@	IN SOA	ns1 hostmaster 2026010101 7200 3600 1209600 600
@	NS	ns1
@	NS	ns2
ns1	A	192.0.2.1
ns2	A	192.0.2.2
alpha	7200 NS	ns.alpha
alpha	300 DS	12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.alpha A	192.0.2.3
beta	NS	ns.example.net.
EOF

# --- zone add, key list, sign: the contract (the key file back end; tokens: custody.sh) ---
check "keystore init --backend file" "$R" --state "$S" keystore init --backend file
out=$("$R" --state "$S" zone add tld. --policy cloud-tld --accept-weaker-custody --input tld.zone --now "$T0" 2>&1)
check_match "zone add makes the first KSK and ZSK" "ksk .*created.*zsk .*created|zsk .*created.*ksk .*created" "$(printf '%s' "$out" | tr '\n' ' ')"
check_match "state directory is private (0700)" "^700$" "$(stat -c %a "$S")"
check_match "state database is private (0600)" "^600$" "$(stat -c %a "$S/state.db")"
modes=$(stat -c %a "$S"/keys/*.private | sort -u | tr '\n' ' ')
check_match "private key files are 0600" "^600 $" "$modes"
list=$("$R" --state "$S" key list --zone tld. --now "$T0")
check_match "key list shows the KSK and ZSK with their record states" "ksk .*RSASHA256 .*active +rumoured\\* +rumoured\\* +hidden" "$list"
two=$(at 0 2)
check_match "key list shows the next event and when" "zsk .*${two:0:4}-${two:4:2}-${two:6:2} ${two:8:2}:00: DNSKEY omnipresent" "$list"
ksk=$(printf '%s\n' "$list" | awk '$2 == "ksk" {print $1}')
zsk=$(printf '%s\n' "$list" | awk '$2 == "zsk" {print $1}')

check "sign --zone at T0" "$R" --state "$S" sign --zone tld. --out tld.signed --now "$T0" --quiet
validate "managed sign at T0" tld.signed tld.
check_match "DNSKEY TTL = SOA TTL (statement 6.6)" "^tld\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+DNSKEY" "$(grep -P '\tDNSKEY\t' tld.signed | head -1)"
check_match "NSEC TTL = SOA TTL for cloud-tld" "^tld\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+NSEC" "$(grep -P '\tNSEC\t' tld.signed | head -1)"
check_match "DS TTL = the NS RRset's TTL" "^alpha\.tld\.[[:space:]]+7200[[:space:]]+IN[[:space:]]+DS" "$(grep -P '\tDS\t' tld.signed)"
dnskey_signers=$(awk '$4 == "RRSIG" && $5 == "DNSKEY" {print $11}' tld.signed | sort -u | tr '\n' ' ')
check_match "only the KSK signs the DNSKEY RRset" "^$ksk $" "$dnskey_signers"
exp=$(awk '$4 == "RRSIG" && $5 == "SOA" {print $9}' tld.signed)
life=$(( $(date -u -d "${exp:0:8} ${exp:8:2}:${exp:10:2}:${exp:12:2}" +%s) - $(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s) ))
if [ "$life" -lt 86400 ] && [ "$life" -gt 79200 ]; then pass "signature lifetime under one day ($life s)"; else fail "signature lifetime $life s"; fi

# --- the DS handshake ---
out=$("$R" --state "$S" enforce --now "$(at 0 3)" 2>&1)
check_match "enforce asks the parent for the KSK's DS" "ksk $ksk .*DS submitted to the parent" "$out"
check_match "key list says the KSK waits for ds-seen" "waiting for the parent: confirm with ds-seen --key $ksk" "$("$R" --state "$S" key list --zone tld. --now "$(at 0 3)")"
check_exit 2 "ds-gone for a DS nobody asked to remove is refused" "$R" --state "$S" ds-gone --zone tld. --key "$ksk" --now "$(at 0 4)"
check "ds-seen confirms it" "$R" --state "$S" ds-seen --zone tld. --key "$ksk" --now "$(at 0 4)" --quiet
check_match "the DS is rumoured, then omnipresent a DS TTL + propagation later" "DS omnipresent" \
	"$("$R" --state "$S" enforce --now "$(at 0 30)")"

# --- a ZSK rollover through the signed output ---
dnskeys() { grep -cP '\tDNSKEY\t' "$1"; }
data_signers() { awk '$4 == "RRSIG" && $5 != "DNSKEY" {print $11}' "$1" | sort -u | tr '\n' ' '; }
sign_at() { "$R" --state "$S" sign --zone tld. --out "$2" --now "$(at "$1")" --quiet; } # DAYS FILE
check "sign 80 days later" sign_at 80 d80.signed
check_match "day 80: a new ZSK is published 10 days before use (3 DNSKEYs)" "^3$" "$(dnskeys d80.signed)"
check_match "day 80: the old ZSK still signs everything" "^$zsk $" "$(data_signers d80.signed)"
check "day 80: regsign verify" "$R" verify d80.signed --origin tld. --time "$(at 80)" --quiet
check "day 80: kzonecheck" kzonecheck -d on -o tld. -t "$(at 80)" d80.signed
newzsk=$("$R" --state "$S" key list --zone tld. --now "$(at 80)" | awk '$2 == "zsk" && $1 != "'"$zsk"'" {print $1}')
check "sign 90 days later" sign_at 90 d90.signed
check_match "day 90: the new ZSK signs, the old one is still published" "^$newzsk $" "$(data_signers d90.signed)"
check_match "day 90: still 3 DNSKEYs" "^3$" "$(dnskeys d90.signed)"
check "sign 100 days later" sign_at 100 d100.signed
check_match "day 100: the old ZSK is gone 10 days after its successor took over" "^2$" "$(dnskeys d100.signed)"
check "day 100: regsign verify" "$R" verify d100.signed --origin tld. --time "$(at 100)" --quiet
"$R" --state "$S" enforce --now "$(at 100 3)" --quiet
if ls "$S"/keys/ | grep -q "+$(printf %05d "$zsk")\."; then fail "the retired ZSK's files are destroyed once its DNSKEY left every cache"; else pass "the retired ZSK's files are destroyed once its DNSKEY left every cache"; fi
check_match "plan shows the next ZSK rollover" "zsk +new1 .*published" "$("$R" --state "$S" plan --zone tld. --days 120 --now "$(at 100)")"

# --- emergency rollover ---
out=$("$R" --state "$S" rollover --zone tld. --zsk --emergency --now "$(at 101)")
check_match "emergency ZSK rollover marks the key compromised and makes a new one" "marked compromised.*|created.*emergency" "$out"
check "the emergency ZSK is published" "$R" --state "$S" sign --zone tld. --out e.signed --now "$(at 101)" --quiet
out=$("$R" --state "$S" enforce --now "$(at 101 3)")
check_match "the emergency ZSK signs as soon as every cache has its DNSKEY" "zsk .*active: signs the zone" "$out"

# --- clock guard (statements 5.6) ---
check "a signing run" "$R" --state "$S" sign --zone tld. --out g.signed --now "$(at 101 4)" --quiet
check "a signing run by the clock an hour later" env REGSIGN_NOW="$(at 101 5)" "$R" --state "$S" sign --zone tld. --out g.signed --quiet
echo "last good zone" > g.signed
check_exit 2 "the clock behind the last signing run is refused" env REGSIGN_NOW="$(at 101 4)" "$R" --state "$S" sign --zone tld. --out g.signed --quiet
check_exit 2 "a clock jump beyond clock.max-jump is refused" env REGSIGN_NOW="$(at 110)" "$R" --state "$S" sign --zone tld. --out g.signed --quiet
check_match "a refused run leaves the output untouched" "^last good zone$" "$(cat g.signed)"
check "--force-clock overrides it" env REGSIGN_NOW="$(at 110)" "$R" --state "$S" sign --zone tld. --out g.signed --quiet --force-clock
check_exit 2 "enforce before the last enforcement is refused" "$R" --state "$S" enforce --now "$(at 50)"

# --- refused input changes nothing ---
db_sum() { md5sum < "$S/state.db"; }
before=$(db_sum)
check_exit 2 "zone add with an unknown policy" "$R" --state "$S" zone add other. --policy nope --input tld.zone
printf '$ORIGIN other.\n@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ NS ns1\nbad A 300.1.1.1\n' > bad.zone
err=$("$R" --state "$S" zone add other. --policy default --input bad.zone 2>&1)
check_match "zone add with a broken zone file names file and line" "bad.zone:4: " "$err"
printf '$ORIGIN other.\n@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 604800 A 192.0.2.1\n' > ttl.zone
err=$("$R" --state "$S" zone add other. --policy cloud-tld --accept-weaker-custody --input ttl.zone 2>&1)
check_match "zone add refuses a TTL above the policy's ttl.max-zone, with file and line" "ttl.zone:4: TTL 604800 is above" "$err"
check_exit 2 "zone add of a zone already managed" "$R" --state "$S" zone add tld. --policy default --input tld.zone
check_exit 2 "ds-seen for a key that does not exist" "$R" --state "$S" ds-seen --zone tld. --key 1 --now "$(at 111)"
check_exit 2 "sign of a zone not managed" "$R" --state "$S" sign --zone nope. --out x.signed
check_match "the database is unchanged by refused commands" "^$before$" "$(db_sum)"
check_match "zone list shows only tld." "^tld\. +cloud-tld" "$("$R" --state "$S" zone list | tail -n +2)"
sed 's/tld\./long./g' tld.zone > long.zone
"$R" --state "$S" zone add long. --policy cloud-tld --accept-weaker-custody --input long.zone --now "$(at 111)" --quiet >/dev/null
echo "kept" > long.signed
printf 'slow\t604800 TXT "a week"\n' >> long.zone
err=$("$R" --state "$S" sign --zone long. --out long.signed --now "$(at 111)" 2>&1)
check_match "a TTL above the policy's largest zone TTL is refused with file and line" "long.zone:12: TTL 604800 is above" "$err"
check_match "... and the last good output stays" "^kept$" "$(cat long.signed)"
sed -i '$d' long.zone
printf '@\tCDS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n' >> long.zone
err=$("$R" --state "$S" sign --zone long. --out long.signed --now "$(at 111)" 2>&1)
check_match "a CDS in a managed zone's input that matches no key is refused with file and line" \
	"^regsign: .*/long.zone:12: CDS record at 'long.' matches no DNSKEY of the zone" "$err"
check_match "... and the last good output stays" "^kept$" "$(cat long.signed)"

# --- no secret in the database ---
leak=0
for f in "$S"/keys/*.private; do
	secret=$(awk '/^(PrivateExponent|PrivateKey|Prime1):/ {print $2}' "$f" | head -1)
	if [ -n "$secret" ] && grep -qaF "$secret" "$S/state.db"* 2>/dev/null; then leak=1; fi
done
if [ $leak -eq 0 ]; then pass "no private key material in the database"; else fail "private key material in the database"; fi

# --- an algorithm rollover on a managed zone ---
S2=$WORK/state2
"$R" --state "$S2" zone add tld. --policy ripe-ncc --accept-weaker-custody --input tld.zone --now "$T0" --quiet >/dev/null
"$R" --state "$S2" sign --zone tld. --out a0.signed --now "$T0" --quiet
"$R" --state "$S2" enforce --now "$(at 0 3)" --quiet
k=$("$R" --state "$S2" key list --zone tld. --now "$(at 0 3)" | awk '$2 == "ksk" {print $1}')
"$R" --state "$S2" ds-seen --zone tld. --key "$k" --now "$(at 0 3)" --quiet
check "zone set-policy to an ECDSA policy" "$R" --state "$S2" zone set-policy tld. default --now "$(at 2)"
out=$("$R" --state "$S2" enforce --now "$(at 2)")
check_match "enforce starts an algorithm rollover: new signatures first" "ECDSAP256SHA256: ZRRSIG rumoured" "$out"
check "sign during the algorithm rollover" "$R" --state "$S2" sign --zone tld. --out a.signed --now "$(at 2)" --quiet
algs=$(awk '$4 == "RRSIG" && $5 == "SOA" {print $6}' a.signed | sort -u | tr '\n' ' ')
check_match "both algorithms sign the zone" "^13 8 $|^8 13 $" "$algs"
check_match "the new DNSKEYs are not published yet" "^2$" "$(dnskeys a.signed)"
# ripe-ncc allowed TTLs up to 2d, default 1d: the new signatures wait for the old TTL.
"$R" --state "$S2" enforce --now "$(at 3 3)" --quiet
check_match "after a lower ttl.max-zone, signatures wait for the old largest TTL" \
	"zsk +ECDSAP256SHA256 +active +hidden +hidden +rumoured" "$("$R" --state "$S2" key list --zone tld. --now "$(at 3 3)")"
"$R" --state "$S2" enforce --now "$(at 4 2)" --quiet
check_match "... and no longer" "zsk +ECDSAP256SHA256 +active +[a-z]+\\*? +hidden +omnipresent" \
	"$("$R" --state "$S2" key list --zone tld. --now "$(at 4 2)")"

# --- kill -9 at any instant loses nothing ---
# The same schedule of enforce and sign runs twice: once plainly, once with every
# command killed at a random instant and run again. The end states must agree.
schedule() { # DIR KILL
	local dir=$1 kill=$2 i t pid
	"$R" --state "$dir" keystore init --backend file >/dev/null
	"$R" --state "$dir" zone add tld. --policy cloud-tld --accept-weaker-custody --input "$WORK/tld.zone.orig" --now "$T0" --quiet >/dev/null 2>&1
	for i in $(seq 0 8 240); do
		t=$(at "$i")
		for cmd in enforce sign; do
			set -- --state "$dir" enforce --now "$t" --quiet
			[ $cmd = sign ] && set -- --state "$dir" sign --zone tld. --out "$dir.signed" --now "$t" --quiet
			if [ "$kill" = 1 ]; then
				"$R" "$@" >/dev/null 2>&1 &
				pid=$!
				sleep "0.0$((RANDOM % 10))"
				kill -9 $pid 2>/dev/null
				wait $pid 2>/dev/null
				if ! python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); sys.exit(c.execute('pragma integrity_check').fetchone()[0] != 'ok')" "$dir/state.db"; then
					echo "corrupt after kill at day $i" >> "$WORK/kill.log"
				fi
				if [ -f "$dir.signed" ] && ! "$R" verify "$dir.signed" --origin tld. --time "$t" --quiet >/dev/null 2>&1 &&
					! "$R" verify "$dir.signed" --origin tld. --time "$(at $((i > 0 ? i - 8 : 0)))" --quiet >/dev/null 2>&1; then
					echo "partial output after kill at day $i" >> "$WORK/kill.log"
				fi
			fi
			"$R" "$@" >/dev/null 2>&1 || echo "run failed at day $i ($cmd)" >> "$WORK/kill.log"
		done
	done
}
# Key list without tags (they are random), sorted: the states and timings of every key.
shape() { "$R" --state "$1" key list --zone tld. --now "$(at 240)" | tail -n +3 | sed -E 's/^[0-9]+ +//; s/--key [0-9]+//' | sort; }
cat > "$WORK/tld.zone.orig" <<'EOF'
$TTL 3600
$ORIGIN tld.
@	IN SOA	ns1 hostmaster 2026010101 7200 3600 1209600 600
@	NS	ns1
ns1	A	192.0.2.1
www	A	192.0.2.9
EOF
: > "$WORK/kill.log"
schedule "$WORK/plain" 0
schedule "$WORK/killed" 1
check_match "no corruption, partial output or failed rerun after kill -9" "^$" "$(cat "$WORK/kill.log")"
check_match "the state after kill -9 at random instants equals the plain run's" "^$(shape "$WORK/plain" | md5sum)$" "$(shape "$WORK/killed" | md5sum)"
orphans=$(ls "$WORK/killed/keys" | grep -vx quarantine | wc -l)
live=$("$R" --state "$WORK/killed" key list --zone tld. --now "$(at 240)" | tail -n +3 | grep -c .)
check_match "no orphaned key files after kills (2 per live key)" "^$((2 * live))$" "$orphans"
# A key a kill left unrecorded is never destroyed unasked: it is quarantined, and listed.
quarantined=$("$R" --state "$WORK/killed" key quarantine list | tail -1 | awk '{print $1}')
check_match "... what a kill left unrecorded is quarantined and listed (2 files per key)" "^$((2 * quarantined))$" \
	"$(ls "$WORK/killed/keys/quarantine" 2>/dev/null | wc -l)"

# --- zone remove destroys the keys ---
check "zone remove" "$R" --state "$S" zone remove long.
check "zone remove tld." "$R" --state "$S" zone remove tld.
check_match "no key file is left" "^0$" "$(ls "$S/keys" | wc -l)"

finish
