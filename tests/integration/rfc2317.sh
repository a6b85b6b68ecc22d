#!/usr/bin/env bash
# Classless reverse zones (RFC 2317, issue 15): an origin with a '/' in a label.
# Key files are named as BIND names them (K0%2F25...+alg+tag, dns_name_tofilenametext),
# so regsign's keys and dnssec-keygen's are written and found alike; the zone signs
# with both and validates with regsign verify, ldns-verify-zone, dnssec-verify and
# kzonecheck; with dnssec-keygen's Ed25519 keys the output is the same as
# dnssec-signzone -x's; the managed path (zone add, sign --zone) and the
# trust-anchor repository (publish, anchors verify) keep every file inside its
# directory. No file anywhere is named after the '/' of the zone name.
. "$(dirname "$0")/lib.sh"
for p in dnssec-keygen dnssec-signzone named-compilezone ldns-verify-zone dnssec-verify kzonecheck; do
	command -v $p >/dev/null || { echo "1..0 # SKIP $p missing"; exit 0; }
done

O=0/25.2.0.10.in-addr.arpa.
F=0%2F25.2.0.10.in-addr.arpa. # BIND's file-name form of $O
ZONE=$DATA/zones/rfc2317.zone
# no_slash_paths DIR: every file under DIR, none in a directory the zone name would have made ("0/").
no_slash_paths() { ! find "$1" -path "*/0/*" -o -name '0' | grep -q .; }

# --- regsign's own keys ---
mkdir ours
check "keygen makes a KSK for $O" "$R" keygen --origin "$O" --algorithm ECDSAP256SHA256 --ksk --keys ours --quiet
check "keygen makes a ZSK for $O" "$R" keygen --origin "$O" --algorithm ECDSAP256SHA256 --keys ours --quiet
check_match "key files are named K$F+013+TAG, as BIND names them" \
	"^K0%2F25\\.2\\.0\\.10\\.in-addr\\.arpa\\.\\+013\\+[0-9]{5}\\.key K0%2F25\\.2\\.0\\.10\\.in-addr\\.arpa\\.\\+013\\+[0-9]{5}\\.key $" \
	"$(cd ours && ls ./*.key | sed 's|^\./||' | tr '\n' ' ')"
check "no key file in a directory named after the zone" no_slash_paths ours
check "sign finds them" "$R" sign "$ZONE" --origin "$O" --keys ours --out ours.signed --quiet
validate "regsign keys" ours.signed "$O"
check_match "the delegated 64/26 block is a cut: NS unsigned, NSEC signed" "^NS NSEC RRSIG:NSEC $" \
	"$(awk -v o="64/26.$O" '$1 == o {print $4 == "RRSIG" ? "RRSIG:" $5 : $4}' ours.signed | sort | tr '\n' ' ')"
check_match "the escaped dot of a/b\\.c survives signing" '^a/b\\\.c\.0/25\.2\.0\.10\.in-addr\.arpa\.$' \
	"$(awk '$4 == "PTR" && $5 == "odd.example.net." {print $1}' ours.signed)"
check "dnssec-signzone signs with regsign's keys" \
	dnssec-signzone -S -q -K ours -o "$O" -f bind-ours.signed "$ZONE"
check "dnssec-verify accepts BIND's output with regsign's keys" dnssec-verify -q -o "$O" bind-ours.signed

# --- dnssec-keygen's keys (K0%2F25...): found, and the output is BIND's own ---
day0=$(date -u -d 'yesterday 00:00' +%s)
INC=$(date -u -d "@$day0" +%Y%m%d%H%M%S)
EXP=$(date -u -d "@$((day0 + 30 * 86400))" +%Y%m%d%H%M%S)
mkdir bind
dnssec-keygen -q -K bind -a ED25519 -f KSK -L 3600 -n ZONE "$O" >/dev/null
dnssec-keygen -q -K bind -a ED25519 -L 3600 -n ZONE "$O" >/dev/null
check_match "dnssec-keygen names its files K$F+015+TAG" "^2$" "$(ls bind | grep -c "^K${F//./\\.}+015+[0-9]*\\.key$")"
check "sign finds dnssec-keygen's keys" "$R" sign "$ZONE" --origin "$O" --keys bind --out r.signed \
	--inception "$INC" --expiration "$EXP" --quiet
validate "dnssec-keygen keys" r.signed "$O"
dnssec-signzone -S -x -P -q -K bind -o "$O" -s "$INC" -e "$EXP" -f b.signed "$ZONE" >/dev/null 2>&1
canon "$O" r.signed > r.txt
canon "$O" b.signed > b.txt
if [ -s b.txt ] && [ "$(grep -c rrsig r.txt)" -ge 10 ] && cmp -s r.txt b.txt; then
	pass "signed zone identical to dnssec-signzone -x on the same keys ($(grep -c rrsig r.txt) RRSIGs)"
else
	fail "signed zone differs from dnssec-signzone -x"
	note "$(diff b.txt r.txt | head -10)"
fi
# A key of another zone in the same directory is not taken: the owner is compared, not a prefix.
dnssec-keygen -q -K bind -a ED25519 -n ZONE "1.$O" >/dev/null
"$R" sign "$ZONE" --origin "$O" --keys bind --out r2.signed --inception "$INC" --expiration "$EXP" --quiet
check_match "a key of 1.$O beside them is not used" "^2$" "$(awk '$4 == "DNSKEY"' r2.signed | wc -l)"

# --- other octets legal in a label and special in text: key files, signed zones, read back ---
# '&' '<' '(' ';' '\\' '"' and a blank: written escaped (libknot's scanner refuses "a&b"), read back whole.
for X in 'a\038b.example.' 'a\060b.example.' 'a\040b.example.' 'a\059b.example.' 'a\092b.example.' \
	'a\"b.example.' 'a\032b.example.'; do
	printf '$ORIGIN %s\n$TTL 3600\n@ SOA ns hostmaster 1 7200 3600 1209600 600\n@ NS ns\nns A 192.0.2.1\n' "$X" > odd.zone
	rm -rf odd && mkdir odd
	"$R" keygen --origin "$X" --algorithm ECDSAP256SHA256 --ksk --keys odd --quiet &&
		"$R" keygen --origin "$X" --algorithm ECDSAP256SHA256 --keys odd --quiet &&
		"$R" sign odd.zone --origin "$X" --keys odd --out odd.signed --quiet 2>/dev/null
	if [ $? -eq 0 ] && "$R" verify odd.signed --origin "$X" >/dev/null 2>&1 && ldns-verify-zone odd.signed >/dev/null 2>&1 &&
		kzonecheck -o "$X" odd.signed >/dev/null 2>&1; then
		pass "$X: its key files are read back, its signed zone validates (regsign, ldns, kzonecheck)"
	else
		fail "$X: keys, signing or validation"
		note "$("$R" sign odd.zone --origin "$X" --keys odd --out odd.signed 2>&1 | tail -2)"
	fi
done

# --- the managed path: state directory, key store, signed output ---
S=$WORK/state
T0=$(date -u +%Y%m%d%H0000)
"$R" --state "$S" keystore init --backend file >/dev/null
check "zone add $O" "$R" --state "$S" zone add "$O" --policy cloud-tld --accept-weaker-custody --input "$ZONE" \
	--now "$T0" --quiet
check_match "its keys are in the key store under BIND's names" "^2$" \
	"$(ls "$S/keys" | grep -c "^K${F//./\\.}+008+[0-9]*\\.private$")"
check "sign --zone $O" "$R" --state "$S" sign --zone "$O" --out managed.signed --now "$T0" --quiet
validate "managed" managed.signed "$O"
check_match "zone list shows it" "^0/25\\.2\\.0\\.10\\.in-addr\\.arpa\\. +cloud-tld" "$("$R" --state "$S" zone list | sed 1d)"
# Key files of the zone that no row names (here regsign keygen's from above) are recognised as the zone's.
stray=$(cd ours && ls ./*.private | head -1 | sed 's|^\./||; s|\.private$||')
cp "ours/$stray".* "$S/keys/"
out=$("$R" --state "$S" enforce --zone "$O" --now "$(date -u -d "${T0:0:8} ${T0:8:2}:00 1 hour" +%Y%m%d%H%M%S)" 2>&1)
check "a stray key file of the zone is found by its name and quarantined" grep -qF \
	"ALERT: key $stray not in the state (no row of the state names it): moved to keys/quarantine/" <<< "$out"
check "... its files in keys/quarantine/" test -f "$S/keys/quarantine/$stray.private"
check "no state file in a directory named after the zone" no_slash_paths "$S"

# --- regsign serve: its signed output and IXFR journal under the state directory ---
if command -v dig >/dev/null; then
	V=$WORK/serve-state
	P=$((20000 + RANDOM % 20000))
	"$R" --state "$V" keystore init --backend file >/dev/null
	"$R" --state "$V" zone add "$O" --policy cloud-tld --accept-weaker-custody --input "$ZONE" --quiet
	check "a TSIG key named after the block, xfr.0/25., is taken" "$R" --state "$V" zone set-secondaries "$O" \
		"127.0.0.1@$((P + 1))" --tsig "xfr.0/25.:hmac-sha256:$(head -c 32 /dev/urandom | base64)"
	check "... its secret is in tsig/xfr.0%2F25.key" test -s "$V/tsig/xfr.0%2F25.key"
	"$R" --state "$V" zone set-secondaries "$O" "127.0.0.1@$((P + 1))" >/dev/null # AXFR allowed from here, no TSIG
	printf 'poll: 1s\nlisten: 127.0.0.1@%s\nnotify-timeout: 1s\nnotify-retries: 1\n' "$P" > serve.conf
	"$R" --state "$V" serve --config serve.conf > serve.log 2>&1 &
	SERVE=$!
	for _ in $(seq 100); do [ -s "$V/signed/${F%.}.signed" ] && break; sleep 0.1; done
	check "serve writes state/signed/${F%.}.signed" test -s "$V/signed/${F%.}.signed"
	check "serve keeps its IXFR history in state/journal/${F%.}.ixfr" test -f "$V/journal/${F%.}.ixfr"
	dig +noall +answer +time=2 -p "$P" @127.0.0.1 "$O" AXFR > axfr.txt 2>&1
	check "the zone served by AXFR validates (ldns-verify-zone)" ldns-verify-zone axfr.txt
	kill "$SERVE"
	wait "$SERVE" 2>/dev/null
	check "no serve file in a directory named after the zone" no_slash_paths "$V"
fi

# --- the trust-anchor repository (publish, anchors verify), when GnuPG is here ---
if command -v gpg >/dev/null; then
	export GNUPGHOME=$WORK/gnupg
	trap 'gpgconf --kill all >/dev/null 2>&1; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
	mkdir -m 700 "$GNUPGHOME"
	gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'regsign test <t@example>' ed25519 sign 1d \
		2>/dev/null
	FPR=$(gpg --list-keys --with-colons 't@example' | awk -F: '/^fpr/ {print $10; exit}')
	gpg --armor --export "$FPR" > pub.asc
	B=$(($(date -u +%s) / 3600 * 3600 - 2 * 86400))
	at() { date -u -d "@$((B + $1 * 3600))" +%Y%m%d%H%M%S; } # at HOURS after B
	echo "Acceptable use policy of the $O trust anchors." > aup.txt
	sed 's/^name: fast/name: fast-anchors/' "$DATA/policies/fast.yaml" > policy.yaml
	printf 'trust-anchors:\n  aup-file: %s\n  contact: dnssec@example.net\n  min-retrieval: 2d\n' "$WORK/aup.txt" \
		>> policy.yaml
	A=$WORK/anchors-state
	mkdir -p "$WORK/www"
	"$R" --state "$A" keystore init --backend file >/dev/null
	"$R" --state "$A" policy import policy.yaml >/dev/null
	"$R" --state "$A" zone add "$O" --policy fast-anchors --input "$ZONE" --now "$(at 0)" --quiet >/dev/null
	"$R" --state "$A" sign --zone "$O" --out a.signed --now "$(at 0)" --quiet 2>/dev/null
	"$R" --state "$A" sign --zone "$O" --out a.signed --now "$(at 2)" --quiet 2>/dev/null # the KSK's DS requested
	check "publish $O" "$R" --state "$A" publish --zone "$O" --out "$WORK/www/anchors" --pgp-key "$FPR" \
		--now "$(at 2)"
	check_match "the repository holds ${F}dnskey, ds, anchors.xml, bind and their signatures" \
		"^$F(anchors\\.xml|anchors\\.xml\\.asc|bind|bind\\.asc|dnskey|dnskey\\.asc|ds|ds\\.asc)( $F(anchors\\.xml|anchors\\.xml\\.asc|bind|bind\\.asc|dnskey|dnskey\\.asc|ds|ds\\.asc)){7} $" \
		"$(ls "$WORK/www/anchors" | tr '\n' ' ')"
	check_match "the XML names the zone, and its file as a URL path (%25 for the '%')" \
		"<TrustAnchor id=\"0/25\\.2\\.0\\.10\\.in-addr\\.arpa\\.-[0-9]+\" source=\"0%252F25\\.2\\.0\\.10\\.in-addr\\.arpa\\.anchors\\.xml\">" \
		"$(cat "$WORK/www/anchors/${F}anchors.xml")"
	check "anchors verify reads it back" "$R" anchors verify "$WORK/www/anchors" --zone "$O" --pgp-public pub.asc
	check "no anchor file in a directory named after the zone" no_slash_paths "$WORK/www"

	# '&', '<' and '"' are legal in a label: the XML carries them as references and stays well-formed.
	X='a\038b\060c\"d.example.'
	printf '$ORIGIN %s\n$TTL 3600\n@ SOA ns hostmaster 1 7200 3600 1209600 600\n@ NS ns\nns A 192.0.2.1\n' "$X" > x.zone
	"$R" --state "$A" zone add "$X" --policy fast-anchors --input x.zone --now "$(at 0)" --quiet >/dev/null
	"$R" --state "$A" sign --zone "$X" --out x.signed --now "$(at 0)" --quiet 2>/dev/null
	"$R" --state "$A" sign --zone "$X" --out x.signed --now "$(at 2)" --quiet 2>/dev/null
	check "publish a zone whose name holds & < \"" "$R" --state "$A" publish --zone "$X" --out "$WORK/www/x" \
		--pgp-key "$FPR" --now "$(at 2)"
	check_match "... its XML names it with &amp; &lt; &quot;" "<Zone>a\\\\&amp;b\\\\&lt;c\\\\&quot;d\\.example\\.</Zone>" \
		"$(cat "$WORK/www/x/"*anchors.xml)"
	check "... and anchors verify reads that XML back" "$R" anchors verify "$WORK/www/x" --zone "$X" \
		--pgp-public pub.asc
fi
finish
