#!/usr/bin/env bash
# ZONEMD (RFC 8976): the RFC's example zones signed with their digests made again, sign --zonemd and a
# policy's zonemd, each output accepted by ldns-verify-zone (which checks ZONEMD digests) and the other
# validators; a tampered record or digest fails regsign verify; a stale ZONEMD is dropped with a
# warning; the long-running signer keeps the digest current through a change set.
. "$(dirname "$0")/lib.sh"

Z=$DATA/zonemd
mkdir -p k
"$R" keygen --origin example. --algorithm ECDSAP256SHA256 --ksk --keys k --quiet
"$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys k --quiet
zonemd_of() { awk '$4 == "ZONEMD" {print $5, $6, $7}' "$1" | sort | tr '\n' ' '; }
serial_of() { awk '$4 == "SOA" {print $7; exit}' "$1"; }

# --- the RFC 8976 Appendix A zones: each input ZONEMD is made again over the signed zone ---
for z in a1-simple a2-complex a3-multiple; do
	check "$z: sign" "$R" sign "$Z/$z.zone" --origin example. --keys k --out "$z.signed" --quiet
	validate "$z" "$z.signed" example.
done
check_match "A.1: one SHA-384 ZONEMD with the SOA serial" "^$(serial_of a1-simple.signed) 1 1 $" "$(zonemd_of a1-simple.signed)"
check_match "A.1: the ZONEMD is signed" "RRSIG	ZONEMD 13 1 86400" "$(cat a1-simple.signed)"
check_match "A.2: the non-apex ZONEMD is data, kept as it was" "^non-apex\.example\.	900	IN	ZONEMD	2018031900 1 1 616C" \
	"$(grep '^non-apex' a2-complex.signed)"
check_match "A.3: SHA-384 and SHA-512 made again, the private-use ones dropped" "^2018031900 1 1 2018031900 1 2 $" \
	"$(zonemd_of a3-multiple.signed)"
out=$("$R" sign "$Z/a3-multiple.zone" --origin example. --keys k --out a3.signed --quiet 2>&1)
check_match "A.3: the dropped ones are warned about" "warning: .*a3-multiple\.zone: 2 apex ZONEMD records dropped" "$out"
out=$("$R" verify a3-multiple.signed --origin example. 2>&1)
check_match "verify lists the hashes it checked" "ZONEMD: 2 records, 2 digests checked \(SHA-384, SHA-512\), 2 match \([0-9.]+ s\)$" "$out"

# --- sign --zonemd on a zone without one ---
for h in sha384 sha512 sha384,sha512; do
	check "--zonemd $h: sign" "$R" sign "$DATA/zones/example.zone" --origin example. --keys k --out "md-$h" \
		--zonemd "$h" --quiet
	validate "--zonemd $h" "md-$h" example.
done
check_match "--zonemd sha384,sha512: two digests" "^2026010101 1 1 2026010101 1 2 $" "$(zonemd_of md-sha384,sha512)"
check "--zonemd with NSEC3 and a new serial: sign" "$R" sign "$DATA/zones/example.zone" --origin example. --keys k \
	--out md-nsec3 --nsec3 --serial increment --zonemd --quiet
validate "--zonemd, NSEC3" md-nsec3 example.
check_match "the ZONEMD serial is the new SOA serial" "^2026010102 1 1 $" "$(zonemd_of md-nsec3)"
check_match "the apex NSEC3 bitmap has ZONEMD" "NSEC3	1 0 0 - [0-9a-vA-V]+ .*ZONEMD" \
	"$(awk '$4 == "NSEC3" && / SOA /' md-nsec3)"
check_exit 2 "--zonemd=md5 is refused" "$R" sign "$DATA/zones/example.zone" --origin example. --keys k --out x \
	--zonemd=md5
[ ! -e x ] && pass "... and nothing is written" || fail "... and nothing is written"

# --- tampering: the digest no longer matches ---
# An occluded record is not signed: only the ZONEMD digest covers it.
sed 's/"I.m occluded but must be digested"/"changed"/' a2-complex.signed > occluded.signed
out=$("$R" verify occluded.signed --origin example. 2>&1); rc=$?
check_match "a changed occluded record fails regsign verify, naming the ZONEMD" \
	"^1 .*example\. ZONEMD: the SHA-384 digest \(scheme 1, hash 1\) does not match the zone" "$rc $out"
check_exit 112 "... and ldns-verify-zone" ldns-verify-zone -V 1 occluded.signed
# One hex digit of the digest changed (to another: the signed zone, and so its digest, differs each run).
awk 'BEGIN{OFS="\t"} $4 == "ZONEMD" {c = substr($8, 11, 1); $8 = substr($8, 1, 10) (c == "0" ? "1" : "0") substr($8, 12)} {print}' \
	md-sha512 > digest.signed
check "(the digest did change)" test -n "$(cmp md-sha512 digest.signed)"
out=$("$R" verify digest.signed --origin example. 2>&1); rc=$?; out=$(printf '%s' "$out" | tr '\n' ' ')
check_match "a changed digest fails regsign verify" "^1 .*ZONEMD: the SHA-512 digest .* does not match" "$rc $out"
sed 's/\(IN	ZONEMD	\)2026010101/\12026010100/' md-sha384 > serial.signed
out=$("$R" verify serial.signed --origin example. 2>&1); rc=$?; out=$(printf '%s' "$out" | tr '\n' ' ')
check_match "a stale ZONEMD serial fails regsign verify" "^1 .*ZONEMD: serial 2026010100 is not the SOA serial 2026010101" \
	"$rc $out"

# --- a stale ZONEMD dropped on request ---
out=$("$R" sign "$Z/a1-simple.zone" --origin example. --keys k --out none.signed --zonemd none 2>&1)
check_match "--zonemd none: the input's ZONEMD is dropped with a warning" \
	"warning: .*a1-simple\.zone: 1 apex ZONEMD record dropped: signing changes the zone" "$out"
check_match "... none in the output, nor in the apex bitmap" "^0$" "$(grep -c ZONEMD none.signed)"
validate "--zonemd none" none.signed example.

# --- a managed zone: the policy's zonemd; then the long-running signer and a change set ---
S=$WORK/state
sed -e 's/^name: test-nsec/name: test-zonemd/' -e '$a zonemd: [sha384, sha512]' "$DATA/policy-nsec.yaml" > zonemd.yaml
printf 'name: bad\nzonemd: sha1\n' > bad.yaml
out=$("$R" policy check bad.yaml 2>&1); rc=$?
check_match "policy check refuses an unknown ZONEMD hash, with file and line" \
	"^2 regsign: bad\.yaml:2: zonemd: 'sha1' is not a ZONEMD hash algorithm" "$rc $out"
"$R" --state "$S" keystore init --backend file >/dev/null
check "policy import with zonemd" "$R" --state "$S" policy import zonemd.yaml
"$GENZONE" tld. 2000 --seed 7 -o tld.zone
check "zone add" "$R" --state "$S" zone add tld. --policy test-zonemd --input tld.zone --quiet
check "sign --zone" "$R" --state "$S" sign --zone tld. --out tld.signed --quiet
validate "sign --zone, policy zonemd" tld.signed tld.
check_match "sign --zone: SHA-384 and SHA-512" "^$(serial_of tld.signed) 1 1 $(serial_of tld.signed) 1 2 $" \
	"$(zonemd_of tld.signed)"

base=$((20000 + RANDOM % 20000))
printf 'poll: 30s\nlisten: 127.0.0.1@%s\n' "$base" > serve.conf
"$R" --state "$S" serve --config serve.conf >> serve.log 2>&1 &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null; rm -rf "$WORK"' EXIT
wait_for() { local n=$(($1 * 10)); shift; for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
published() { grep -Eq "published|serving serial" serve.log; }
check "serve publishes the zone" wait_for 30 published
echo 'added-one 3600 IN NS ns1.example.net.' >> tld.zone
# The output file (sign --zone's) follows the version served within seconds.
changed() { grep -q "published from a change set" serve.log && grep -q added-one tld.signed; }
check "serve signs the edit as a change set and writes it out" wait_for 30 changed
cp tld.signed served.signed
validate "after a change set" served.signed tld.
check_match "... its ZONEMD has the new serial" "^$(serial_of served.signed) 1 1 $(serial_of served.signed) 1 2 $" \
	"$(zonemd_of served.signed)"
kill "$DAEMON" 2>/dev/null
wait "$DAEMON" 2>/dev/null

finish
