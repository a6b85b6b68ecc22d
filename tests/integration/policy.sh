#!/usr/bin/env bash
# Policies and the simulation: the shipped policies keep their statements'
# timings over three simulated years, with emergency and algorithm rollovers,
# and a model of a caching validating resolver finds no bogus instant. Broken
# policies are refused with the file, line, field and reason.
. "$(dirname "$0")/lib.sh"

# --- policy files ---
for p in cloud-tld ripe-ncc default; do
	check "shipped policy $p passes policy check" "$R" policy check "$p"
	out=$("$R" policy show "$p")
	check_match "policy show $p prints the policy text" "^name: $p$" "$out"
done
for f in "$DATA"/policies/bad/*.yaml; do
	want=$(sed -n '1s/^# expect: //p' "$f")
	err=$(cd "$(dirname "$f")" && "$R" policy check "$(basename "$f")" 2>&1 >/dev/null)
	rc=$?
	lines=$(printf '%s\n' "$err" | grep -c .)
	if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && printf '%s\n' "$err" | grep -Eq -- "^regsign: $want"; then
		pass "refused policy: $(basename "$f" .yaml)"
	else
		fail "refused policy: $(basename "$f" .yaml) (exit $rc, $lines lines)"
		note "want /$want/" "$err"
	fi
done
check_exit 2 "policy check with a DNSKEY TTL (SOA TTL 3d) over the largest zone TTL is refused" \
	"$R" policy check cloud-tld --soa-ttl 259200

# --- simulation ---
# sim NAME ARGS...: run a simulation into NAME.txt, remember its exit status and summary line.
sim() {
	local name=$1
	shift
	"$R" simulate "$@" > "$name.txt" 2>&1
	echo $? > "$name.rc"
}
summary() { grep '^simulated' "$1.txt"; }
# key_rows NAME ROLE COLUMN: rows of the key table for one role that the column is about:
# pre-publication (8) for successors not made in an emergency, post-retirement (9) for keys
# that were retired normally (not compromised) and are gone.
key_rows() {
	awk -v r="$2" -v c="${3:-8}" '/^keys:/ {t=1; next}
		t && $1 == r && ((c == 8 && $NF ~ /successor/ && $NF !~ /emergency/) ||
				 (c == 9 && $NF !~ /compromised/ && $9 != "-"))' "$1.txt"
}

# expect_safe NAME DESC: exit 0, no bogus combination, no limit breach, no signer problem.
expect_safe() {
	local s
	s=$(summary "$1")
	if [ "$(cat "$1.rc")" -eq 0 ] && printf '%s\n' "$s" | grep -q ' 0 bogus,' &&
		printf '%s\n' "$s" | grep -q ' 0 limit breaches, 0 signer problems'; then
		pass "$2"
	else
		fail "$2"
		note "$s" "$(grep -E 'BOGUS|LIMIT|SIGNER' "$1.txt" | head -5)"
	fi
}

# every_row NAME ROLE COLUMN VALUE DESC: every successor row of ROLE has VALUE in COLUMN (8: pre-pub, 9: post-ret).
every_row() {
	local rows bad n
	rows=$(key_rows "$1" "$2" "$3")
	n=$(printf '%s\n' "$rows" | grep -c .)
	bad=$(printf '%s\n' "$rows" | awk -v c="$3" -v v="$4" '$c != v && $c != "-"')
	if [ "$n" -ge "$6" ] && [ -z "$bad" ]; then pass "$5 ($n keys)"; else fail "$5 ($n keys, want >= $6)"; note "$bad"; fi
}

sim cloud --policy cloud-tld --days 1095 --emergency-zsk 200 --emergency-ksk 900 --real-signer --svg cloud.svg
expect_safe cloud "cloud-tld, 3 years with emergency ZSK and KSK rollovers: no bogus instant, real signer agrees"
check_match "cloud-tld: never more than 3 DNSKEYs" "largest DNSKEY RRset [1-3] \(limit 3\)" "$(summary cloud)"
every_row cloud zsk 8 10d "cloud-tld: every ZSK published exactly 10 days before use" 10
every_row cloud zsk 9 10d "cloud-tld: every ZSK kept exactly 10 days after its successor took over" 10
every_row cloud ksk 8 60d "cloud-tld: the KSK published exactly 60 days before use" 1
every_row cloud ksk 9 20d "cloud-tld: the old KSK kept exactly 20 days after it stopped signing" 1
check_match "cloud-tld: the emergency ZSK replaced a compromised key" "^zsk .*successor,emergency" "$(cat cloud.txt)"
check_match "cloud-tld: the emergency KSK replaced a compromised key" "^ksk .*successor,emergency" "$(cat cloud.txt)"
check_match "cloud-tld: SVG timeline written" "<svg .*</svg>" "$(tr -d '\n' < cloud.svg)"
check_match "cloud-tld: the KSK rollover waits for the parent's DS" "ksk .*DS submitted to the parent" "$(cat cloud.txt)"

sim ripe --policy ripe-ncc --days 1095 --emergency-zsk 100 --emergency-ksk 300 --real-signer
expect_safe ripe "ripe-ncc, 3 years with emergency rollovers: no bogus instant, real signer agrees"
every_row ripe zsk 8 7d "ripe-ncc: every ZSK pre-published 7 days" 30
every_row ripe ksk 8 30d "ripe-ncc: every KSK double-signed 30 days before its DS" 2
zsk_actives=$(key_rows ripe zsk | awk '{print $5}' | sort -u | wc -l)
if [ "$zsk_actives" -ge 33 ]; then pass "ripe-ncc: ZSK rolled monthly ($zsk_actives in 3 years)"; else fail "ripe-ncc: ZSK rolled monthly ($zsk_actives)"; fi

sim default --policy default --days 1095 --emergency-zsk 50 --emergency-ksk 700 --real-signer
expect_safe default "default (ECDSA, NSEC3), 3 years with emergency rollovers: no bogus instant"

sim alg --policy ripe-ncc --days 1095 --change-policy 400:default --real-signer
expect_safe alg "algorithm rollover RSASHA256 -> ECDSAP256SHA256 (RFC 6781 4.1.4): no bogus instant"
check_match "algorithm rollover: new keys flagged" "^(ksk|zsk) .*ECDSAP256SHA256 .*algorithm-rollover" "$(cat alg.txt)"
rsa_keys=$(awk '/^keys:/ {t=1; next} t && $3 == "RSASHA256"' alg.txt | grep -c .)
rsa_left=$(awk '/^keys:/ {t=1; next} t && $3 == "RSASHA256" && $7 == "-"' alg.txt)
if [ "$rsa_keys" -gt 0 ] && [ -z "$rsa_left" ]; then pass "algorithm rollover: every RSASHA256 key removed"; else fail "algorithm rollover: RSA keys left"; note "$rsa_left"; fi
sig_order=$(awk '/ECDSAP256SHA256 +ZRRSIG rumoured/ && !z {z=NR} / ECDSAP256SHA256 +published/ && !p {p=NR} END {print (z && p && z < p) ? "ok" : "bad"}' alg.txt)
check_match "algorithm rollover: new signatures before the new DNSKEYs" "^ok$" "$sig_order"

# The model can fail: secondaries and parent slower than the policy says.
sim lag --policy default --days 400 --extra-delay 3h
check_match "a propagation delay understated by 3h is caught as bogus" "^[1-9]" "$(cat lag.rc)"
check_match "the bogus instant names the cause" "BOGUS: .*DS" "$(cat lag.txt)"
# ... and a signature lifetime shorter than re-signing plus caching.
sim short --policy "$DATA/policies/bad/validity-short.yaml" --unchecked --days 30
check_match "a too short signature lifetime is caught as bogus" "BOGUS: signatures made now expire" "$(cat short.txt)"
check_exit 2 "simulate refuses an unsafe policy unless --unchecked" "$R" simulate --policy "$DATA/policies/bad/validity-short.yaml" --days 30

finish
