#!/usr/bin/env bash
# The command line contract: help with examples, exit codes, ds, serial modes,
# validity, progress only on a terminal, determinism across thread counts, the zone generator.
. "$(dirname "$0")/lib.sh"

for c in keygen sign verify ds zone policy key enforce plan rollover ds-seen ds-gone simulate; do
	out=$("$R" $c --help 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -Eq '^examples?:' &&
		printf '%s\n' "$out" | grep -Eq "regsign (\[--state DIR\] )?$c"; then
		pass "$c --help shows usage and an example"
	else
		fail "$c --help"
		note "$out"
	fi
done
check_exit 0 "regsign --help" "$R" --help
check_exit 2 "no command is a usage error" "$R"
check_exit 2 "unknown command is a usage error" "$R" frobnicate
check_exit 2 "sign without --origin is a usage error" "$R" sign "$DATA/zones/minimal.zone" --keys . --out x

mkdir -p keys
ksk=$("$R" keygen --origin example. --algorithm ECDSAP256SHA256 --ksk --keys keys)
"$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys keys --quiet
check_match "keygen prints the key's base name" '^Kexample\.\+013\+[0-9]{5}$' "$ksk"
# The same key twice (imported from one PEM): the second would take the first one's file names.
mkdir -p same && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out same.pem 2>/dev/null
first=$("$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys same --import-pem same.pem)
sum=$(cat same/* | md5sum)
out=$("$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys same --import-pem same.pem 2>&1); rc=$?
check_match "keygen never writes over a key of the same name: refused, one line" \
	"^2 regsign: same/$(sed 's/[.+]/\\&/g' <<<"$first"): a key with that name exists$" "$rc $out"
check_match "... the first key's files untouched" "^$sum$" "$(cat same/* | md5sum)"

# DS of the KSK only, as dnssec-dsfromkey makes it.
for d in sha256:SHA-256 sha384:SHA-384; do
	ours=$("$R" ds --keys keys --origin example. --digest ${d%:*} | awk '{print $(NF-3), $(NF-2), $(NF-1), $NF}')
	bind=$(dnssec-dsfromkey -a ${d#*:} "keys/$ksk.key" | awk '{print $(NF-3), $(NF-2), $(NF-1), $NF}')
	if [ -n "$ours" ] && [ "$ours" = "$bind" ]; then pass "ds ${d%:*} equals dnssec-dsfromkey"; else
		fail "ds ${d%:*}"; note "ours: $ours" "bind: $bind"; fi
done
check_match "ds prints one record per KSK" '^1$' "$("$R" ds --keys keys --origin example. | wc -l)"

# Serial modes and validity with an injected clock (2026-11-23 12:00:00 UTC).
export REGSIGN_NOW=20261123120000
serial() { "$R" sign "$DATA/zones/minimal.zone" --origin example. --keys keys --out s.signed --quiet "$@" &&
	awk '$4 == "SOA" {print $7}' s.signed; }
check_match "serial keep" '^1$' "$(serial --serial keep)"
check_match "serial increment" '^2$' "$(serial --serial increment)"
check_match "serial unixtime" '^1795435200$' "$(serial --serial unixtime)"
check_match "serial dateserial" '^2026112300$' "$(serial --serial dateserial)"
check_exit 2 "unknown serial mode refused" "$R" sign "$DATA/zones/minimal.zone" --origin example. --keys keys --out s.signed --serial random
"$R" sign "$DATA/zones/minimal.zone" --origin example. --keys keys --out v.signed --validity 14d --quiet
check_match "--validity: expiration now + 14 days, inception an hour ago" '^20261207120000 20261123110000$' \
	"$(awk '$4 == "RRSIG" {print $9, $10}' v.signed | sort -u)"
check_exit 2 "expiration before inception refused" "$R" sign "$DATA/zones/minimal.zone" --origin example. \
	--keys keys --out s.signed --inception 20261201000000 --expiration 20261101000000
check_exit 2 "--validity with --inception refused" "$R" sign "$DATA/zones/minimal.zone" --origin example. \
	--keys keys --out s.signed --inception 20261201000000 --validity 3d
unset REGSIGN_NOW

# Progress goes to a terminal only; --quiet prints nothing.
err=$("$R" sign "$DATA/zones/example.zone" --origin example. --keys keys --out p.signed 2>&1 >/dev/null)
check_match "no progress when stderr is not a terminal" '^signed example\.: [0-9]+ names' "$err"
err=$("$R" sign "$DATA/zones/example.zone" --origin example. --keys keys --out p.signed --quiet 2>&1)
check_match "--quiet prints nothing" '^$' "$err"
tty=$(script -qec "$R sign $DATA/zones/example.zone --origin example. --keys keys --out p.signed" /dev/null 2>&1)
check_match "progress shown on a terminal" 'signing: 100%' "$tty"

# The registry zone generator of the tests and benchmarks (tools/genzone.c).
G=${GENZONE:?GENZONE must name the regsign-genzone binary}
check "genzone: a registry zone of 3000 delegations" "$G" example. 3000 --seed 7 -o big.zone
check_match "genzone: 3000 distinct delegations with 2 NS each, and nic." '^3001 6002$' \
	"$(awk '$4 == "NS" && $1 != "@" {n++; o[$1]} END {print length(o), n}' big.zone)"
check "genzone: same arguments, same bytes" sh -c "'$G' example. 3000 --seed 7 | cmp - big.zone"
check "genzone: another seed, another zone" sh -c "! '$G' example. 3000 --seed 8 | cmp -s - big.zone"
check_exit 2 "genzone: a fraction above 1 is a usage error" "$G" example. 10 --ds 1.5
check_exit 2 "genzone: a bad origin is a usage error" "$G" 'a..b' 10

# Same keys, same times: the same bytes whatever the thread count (Ed25519 is deterministic).
# The window is fixed for the run but around today, as the validators use the real clock.
mkdir -p ed && "$R" keygen --origin example. --algorithm ED25519 --ksk --keys ed --quiet &&
	"$R" keygen --origin example. --algorithm ED25519 --keys ed --quiet
day0=$(date -u -d 'yesterday 00:00' +%s)
INC=$(date -u -d "@$day0" +%Y%m%d%H%M%S)
EXP=$(date -u -d "@$((day0 + 30 * 86400))" +%Y%m%d%H%M%S)
for t in 1 2 5; do
	"$R" sign big.zone --origin example. --keys ed --out t$t.signed --threads $t --quiet \
		--inception "$INC" --expiration "$EXP"
done
check "threads 1 and 2 give identical output" cmp t1.signed t2.signed
check "threads 1 and 5 give identical output" cmp t1.signed t5.signed
check "generated registry zone validates" ldns-verify-zone t2.signed
for t in 1 2; do
	"$R" sign big.zone --origin example. --keys ed --out n$t.signed --threads $t --quiet --nsec3 \
		--inception "$INC" --expiration "$EXP"
done
check "NSEC3: threads 1 and 2 give identical output" cmp n1.signed n2.signed
check "NSEC3: generated registry zone validates" ldns-verify-zone n2.signed

# Output to standard output, and onto a pipe that must stay a pipe (never renamed over).
check_match "--out - writes the signed zone to standard output" '	RRSIG	SOA ' \
	"$("$R" sign "$DATA/zones/minimal.zone" --origin example. --keys keys --out - --quiet)"
mkfifo fifo
cat fifo > from-fifo &
check "--out onto a FIFO" "$R" sign "$DATA/zones/minimal.zone" --origin example. --keys keys --out fifo --quiet
wait
check "the FIFO is still a FIFO" test -p fifo
check_match "the zone came through the FIFO" '	RRSIG	SOA ' "$(cat from-fifo)"

# Zone text from standard input.
check "zone from standard input" sh -c "'$R' sign - --origin example. --keys keys --out stdin.signed --quiet < '$DATA/zones/minimal.zone'"
check "verify reports secure" "$R" verify stdin.signed --origin example. --quiet
finish
