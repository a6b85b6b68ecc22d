#!/usr/bin/env bash
# Byte-for-byte agreement with BIND's dnssec-signzone -x on the same keys and
# validity window (RSASHA256 and Ed25519 sign deterministically), and key file
# interchange with dnssec-keygen, ldns-keygen and Knot's keymgr.
. "$(dirname "$0")/lib.sh"

ZONE=$DATA/zones/example.zone
# One window for both signers, fixed for the run but around today: the outputs are only compared
# as text, yet no signer should be asked to make signatures that have already expired.
day0=$(date -u -d 'yesterday 00:00' +%s)
INC=$(date -u -d "@$day0" +%Y%m%d%H%M%S)
EXP=$(date -u -d "@$((day0 + 30 * 86400))" +%Y%m%d%H%M%S)

for alg in RSASHA256 ED25519; do
	mkdir -p "b-$alg"
	if [ "$alg" = RSASHA256 ]; then ksk=(-b 2048) zsk=(-b 1024); else ksk=() zsk=(); fi
	dnssec-keygen -q -K "b-$alg" -a "$alg" "${ksk[@]}" -f KSK -L 3600 -n ZONE example. >/dev/null
	dnssec-keygen -q -K "b-$alg" -a "$alg" "${zsk[@]}" -L 3600 -n ZONE example. >/dev/null
	for mode in nsec nsec3 optout; do
		ropt=() bopt=()
		case $mode in
		nsec3) ropt=(--nsec3) bopt=(-3 - -H 0) ;;
		optout) ropt=(--nsec3 --opt-out) bopt=(-3 - -H 0 -A) ;;
		esac
		"$R" sign "$ZONE" --origin example. --keys "b-$alg" --out "r-$alg-$mode" \
			--inception $INC --expiration $EXP "${ropt[@]}" --quiet
		dnssec-signzone -S -x -P -q -K "b-$alg" -o example. -s $INC -e $EXP "${bopt[@]}" \
			-f "b-$alg-$mode" "$ZONE" >/dev/null 2>&1
		canon example. "r-$alg-$mode" > r.txt
		canon example. "b-$alg-$mode" > b.txt
		if [ -s b.txt ] && [ "$(grep -c rrsig r.txt)" -gt 20 ] && cmp -s r.txt b.txt; then
			pass "$alg $mode: signed zone identical to dnssec-signzone -x ($(grep -c rrsig r.txt) RRSIGs)"
		else
			fail "$alg $mode: signed zone differs from dnssec-signzone -x"
			note "$(diff b.txt r.txt | head -10)"
		fi
	done
done

# ldns-keygen keys are read; the zone validates.
mkdir -p ldns && (cd ldns && ldns-keygen -a ECDSAP256SHA256 -k example. >/dev/null &&
	ldns-keygen -a ECDSAP256SHA256 example. >/dev/null && rm -f ./*.ds)
check "ldns-keygen keys sign" "$R" sign "$ZONE" --origin example. --keys ldns --out ldns.signed --quiet
check "ldns-keygen keys: ldns-verify-zone" ldns-verify-zone ldns.signed

# regsign keys are read by BIND, ldns and Knot.
mkdir -p ours
"$R" keygen --origin example. --algorithm ECDSAP256SHA256 --ksk --keys ours --ttl 3600 --quiet
"$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys ours --ttl 3600 --quiet
check "regsign keys: dnssec-signzone signs with them" \
	dnssec-signzone -S -q -K ours -o example. -f bind-ours.signed "$ZONE"
check "regsign keys: dnssec-verify accepts BIND's output" dnssec-verify -q -o example. bind-ours.signed
ksk=$(grep -l ' 257 ' ours/*.key)
zsk=$(grep -L ' 257 ' ours/*.key)
check "regsign keys: ldns-signzone signs with them" \
	ldns-signzone -f ldns-ours.signed "$ZONE" "${ksk%.key}" "${zsk%.key}"
check "regsign keys: ldns-verify-zone accepts ldns's output" ldns-verify-zone ldns-ours.signed
mkdir -p kasp
check "regsign keys: keymgr import-bind" keymgr -D kasp example. import-bind "${ksk%.key}.private"
pem=$(ls kasp/keys/*.pem 2>/dev/null | head -1)
if [ -n "$pem" ]; then
	mkdir -p fromknot
	check "keymgr PEM keystore file imports" "$R" keygen --origin example. --import-pem "$pem" --ksk \
		--keys fromknot --quiet
	tag_ours=$(basename "$ksk" .key)
	check "imported key has the original key tag" test -f "fromknot/$tag_ours.private"
else
	fail "keymgr wrote no PEM keystore file"
fi
finish
