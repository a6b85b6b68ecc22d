#!/usr/bin/env bash
# Trust anchors for relying parties (issue 14): regsign publish writes the
# repository (ZONE.dnskey, .ds, .anchors.xml, .bind, each with the AUP on top
# and a detached OpenPGP signature), checked exactly and with gpg, xmllint
# (against RFC 9718's schema), named-checkconf and anchors verify; a tampered
# file, a wrong fingerprint, an expired key, a missing or empty AUP file and a
# GnuPG home others can read are each one line, a non-zero exit and an
# unchanged directory; a KSK rollover lists the new KSK from its DS request
# and drops the old one when its DNSKEY leaves; anchors verify --server
# against knotd serving the signed zone, and against one serving a DNSKEY
# RRset without an anchor; an emergency rollover gives the compromised key
# a validUntil.
. "$(dirname "$0")/lib.sh"
for p in gpg xmllint named-checkconf knotd dnssec-dsfromkey ldns-read-zone; do
	command -v $p >/dev/null || { echo "1..0 # SKIP $p missing"; exit 0; }
done

S=$WORK/state
REPO=$WORK/www/anchors
export GNUPGHOME=$WORK/gnupg
trap 'gpgconf --kill all >/dev/null 2>&1; [ -n "${KNOT:-}" ] && kill $KNOT $KNOT2 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
B=$(( $(date -u +%s) / 3600 * 3600 - 2 * 86400 ))
at() { date -u -d "@$((B + $1 * 3600))" +%Y%m%d%H%M%S; } # at HOURS after B
PORT=$((41000 + $$ % 19000))

mkdir -m 700 "$GNUPGHOME"
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'regsign test <t@example>' ed25519 sign 1d 2>/dev/null
FPR=$(gpg --list-keys --with-colons 't@example' | awk -F: '/^fpr/ {print $10; exit}')
gpg --armor --export "$FPR" > pub.asc
# A key that expired long ago: made under a clock set back to 2020, valid one day.
gpg --batch --pinentry-mode loopback --passphrase '' --faked-system-time '20200101T000000!' \
	--quick-gen-key 'old <old@example>' ed25519 sign 1d 2>/dev/null
OLD=$(gpg --list-keys --with-colons 'old@example' | awk -F: '/^fpr/ {print $10; exit}')
# A revoked key (its own revocation certificate imported), and a key that may only certify.
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'revoked <rev@example>' ed25519 sign 1d 2>/dev/null
REV=$(gpg --list-keys --with-colons 'rev@example' | awk -F: '/^fpr/ {print $10; exit}')
sed 's/^:-----/-----/' "$GNUPGHOME/openpgp-revocs.d/$REV.rev" | gpg --batch --import 2>/dev/null
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'cert <cert@example>' ed25519 cert 1d 2>/dev/null
CERT=$(gpg --list-keys --with-colons 'cert@example' | awk -F: '/^fpr/ {print $10; exit}')
check_match "the test has a signing key, an expired, a revoked and a certify-only one" \
	"^[0-9A-F]{40} [0-9A-F]{40} [0-9A-F]{40} [0-9A-F]{40}$" "$FPR $OLD $REV $CERT"

cat > aup.txt <<'EOF'
Acceptable use policy of the tld. trust anchors.
Relying parties use only the anchors currently published here -- fetch them again regularly.
EOF
cp "$DATA/zones/tld.zone" .
sed 's/^name: fast/name: fast-anchors/' "$DATA/policies/fast.yaml" > policy.yaml
cat >> policy.yaml <<EOF
trust-anchors:
  aup-file: $WORK/aup.txt
  contact: dnssec@tld.example
  min-retrieval: 2d
EOF
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" policy import policy.yaml >/dev/null
"$R" --state "$S" zone add tld. --policy fast-anchors --input tld.zone --now "$(at 0)" --quiet >/dev/null
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 0)" --quiet
pub() { "$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key "$FPR" "$@"; }
mkdir -p "$WORK/www"
# What a web server could serve: the directory's identity and every file's checksum.
snap() { stat -c '%i' "$REPO" 2>/dev/null; (cd "$REPO" 2>/dev/null && sha256sum -- * | sort); }
# refused DESC PATTERN CMD...: one line matching PATTERN on stderr, exit 2, the repository unchanged.
refused() {
	local d=$1 pat=$2 before after out rc
	shift 2
	before=$(snap)
	out=$("$@" 2>&1)
	rc=$?
	after=$(snap)
	if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s\n' "$out" | grep -Eq -- "$pat" &&
		[ "$before" = "$after" ]; then pass "$d"; else fail "$d"; note "exit $rc" "$out"; fi
}

refused "no KSK before its DS is requested: nothing published" "no key-signing key to publish" pub --now "$(at 0)"
check "no repository made" test ! -e "$REPO"
refused "publish without --pgp-key is refused" "--pgp-key FINGERPRINT is required" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --now "$(at 1)"

# --- the first publication: the KSK's DS is requested at hour 2 ---
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2)" --quiet
cp tld.signed tld.signed.first
check_match "the KSK's DS is requested" "submitted" "$("$R" --state "$S" key list --zone tld. --now "$(at 2)" | grep ksk)"
check "publish lists it" pub --now "$(at 2)"
K1=$("$R" --state "$S" key list --zone tld. --now "$(at 2)" | awk '$2 == "ksk" {print $1}')
dnskey=$(ldns-read-zone tld.signed | awk -v t="id = $K1 " '$4 == "DNSKEY" && index($0, t) {print $5, $6, $7, $8}')
ds=$(dnssec-dsfromkey -2 -f tld.signed tld. | awk -v t="$K1" '$4 == t {print $4, $5, $6, $7}')
digest=${ds##* }
header='; Acceptable use policy of the tld. trust anchors.
; Relying parties use only the anchors currently published here -- fetch them again regularly.
;
; Contact: dnssec@tld.example
; Minimum retrieval time: 2d'
check "tld.dnskey: the AUP, then the KSK in trust-anchor format" test "$(cat "$REPO/tld.dnskey")" = "$header
tld. DNSKEY $dnskey"
check "tld.ds: the AUP, then its DS (as dnssec-dsfromkey computes it)" test "$(cat "$REPO/tld.ds")" = "$header
tld. DS $ds"
check "tld.bind: the AUP as # comments, then a trust-anchors block" test "$(cat "$REPO/tld.bind")" = "$(
	printf '%s\n' "$header" | sed 's/^;/#/'
	printf 'trust-anchors {\n\t"tld." static-ds %s "%s";\n};' "${ds% *}" "$digest")"
xml=$(cat "$REPO/tld.anchors.xml")
check_match "tld.anchors.xml: the AUP in an XML comment, with no -- inside" \
	"^<\?xml version=\"1.0\" encoding=\"UTF-8\"\?> <!-- Acceptable use policy of the tld. trust anchors. Relying parties use only the anchors currently published here - - fetch them again regularly.  Contact: dnssec@tld.example Minimum retrieval time: 2d --> <TrustAnchor " \
	"$(printf '%s' "$xml" | tr '\n' ' ')"
vfrom=$(sed -n 's/.*validFrom="\([^"]*\)".*/\1/p' "$REPO/tld.anchors.xml")
check_match "validFrom is in RFC 3339 form" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00$" "$vfrom"
check "tld.anchors.xml: one KeyDigest with the KSK's digest, public key and flags" test \
	"$(sed -n '/^<TrustAnchor /,$p' "$REPO/tld.anchors.xml")" = "<TrustAnchor id=\"tld.-$K1\" source=\"tld.anchors.xml\">
<Zone>tld.</Zone>
<KeyDigest id=\"K$K1-2\" validFrom=\"$vfrom\">
<KeyTag>$K1</KeyTag>
<Algorithm>13</Algorithm>
<DigestType>2</DigestType>
<Digest>$digest</Digest>
<PublicKey>${dnskey##* }</PublicKey>
<Flags>257</Flags>
</KeyDigest>
</TrustAnchor>"
check "xmllint: well-formed and valid against RFC 9718's schema" \
	xmllint --noout --relaxng "$DATA/anchors/rfc9718.rng" "$REPO/tld.anchors.xml"
for f in tld.dnskey tld.ds tld.anchors.xml tld.bind; do
	check "gpg --verify $f.asc" gpg --verify "$REPO/$f.asc" "$REPO/$f"
done
printf 'options { directory "%s"; };\ninclude "%s/tld.bind";\n' "$WORK" "$REPO" > named.conf
check "named-checkconf takes the bind block" named-checkconf named.conf
check_match "anchors verify: all agree" "tld.: 1 trust anchor digest\(s\) in .* verified" \
	"$("$R" anchors verify "$REPO" --zone tld. --pgp-public pub.asc 2>&1)"
check_exit 2 "anchors verify without --pgp-public is a usage error" "$R" anchors verify "$REPO" --zone tld.

# --- what a relying party must catch ---
cp -a "$REPO" tampered
sed -i "s/\"$digest\"/\"${digest%?}0\"/" tampered/tld.bind
[ "$digest" != "${digest%?}0" ] || sed -i "s/\"$digest\"/\"${digest%?}1\"/" tampered/tld.bind
out=$("$R" anchors verify tampered --zone tld. --pgp-public pub.asc 2>&1)
rc=$?
check_match "a tampered bind block: bad signature and a digest that disagrees, exit 1" \
	"^1 tld.bind.asc: bad signature.*tld.ds has '$K1 13 2 $digest' and tld.bind does not" "$rc $(printf '%s' "$out" | tr '\n' ' ')"
rm -rf tampered && cp -a "$REPO" tampered && rm tampered/tld.ds.asc
check_exit 1 "a missing signature is a mismatch" "$R" anchors verify tampered --zone tld. --pgp-public pub.asc
gpg --armor --export "$OLD" > other.asc
check_exit 1 "signatures by another key than the one given do not verify" \
	"$R" anchors verify "$REPO" --zone tld. --pgp-public other.asc

# --- refusals: one line, exit 2, the repository as it was ---
refused "a wrong fingerprint" "no OpenPGP secret key 0123456789ABCDEF0123456789ABCDEF01234567" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key 0123456789ABCDEF0123456789ABCDEF01234567 --now "$(at 3)"
refused "not a fingerprint" "'t@example' is not an OpenPGP fingerprint" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key t@example --now "$(at 3)"
refused "an expired key" "OpenPGP key $OLD has expired" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key "$OLD" --now "$(at 3)"
refused "a revoked key" "OpenPGP key $REV is revoked" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key "$REV" --now "$(at 3)"
refused "a key that cannot sign" "OpenPGP key $CERT cannot sign" \
	"$R" --state "$S" publish --zone tld. --out "$REPO" --pgp-key "$CERT" --now "$(at 3)"
mv aup.txt aup.away
refused "a missing AUP file" "$WORK/aup.txt: cannot read the acceptable use policy" pub --now "$(at 3)"
: > aup.txt
refused "an empty AUP file" "$WORK/aup.txt: the acceptable use policy is empty" pub --now "$(at 3)"
mv aup.away aup.txt
chmod 750 "$GNUPGHOME"
refused "a GnuPG home the group can read" "GnuPG home is open to others \(mode 0750" pub --now "$(at 3)"
chmod 700 "$GNUPGHOME"
audit=$("$R" --state "$S" audit show 2>/dev/null | grep -c anchors-publish)
check_match "one audited publication so far" "^1$" "$audit"
check_match "the audit entry names the tags and the fingerprint" "anchors-publish.*trust anchors $K1 published .*$FPR" \
	"$("$R" --state "$S" audit show 2>/dev/null | grep anchors-publish)"

# --- a KSK rollover: the new KSK from its DS request, the old one until its DNSKEY leaves ---
"$R" --state "$S" ds-seen --zone tld. --key "$K1" --now "$(at 3)" --quiet
"$R" --state "$S" rollover --zone tld. --ksk --now "$(at 4)" >/dev/null
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 4)" --quiet
K2=$("$R" --state "$S" key list --zone tld. --now "$(at 4)" | awk -v o="$K1" '$2 == "ksk" && $1 != o {print $1}')
check "the new KSK $K2 is published, its DS not requested: still only $K1 listed" pub --now "$(at 5)"
check_match "tld.ds lists $K1 alone" "^tld. DS $K1 13 2 [0-9A-F]{64} $" "$(grep -v '^;' "$REPO/tld.ds" | tr '\n' ' ')"
for h in 6 8; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $h)" --quiet; done
check_match "the new KSK's DS is requested" "^$K2 .*submitted" "$("$R" --state "$S" key list --zone tld. --now "$(at 8)" | grep "^$K2")"
check "publish at the DS request" pub --now "$(at 8)"
check_match "both KSKs listed, in the DS file" "^tld. DS $K1 13 2 [0-9A-F]{64} tld. DS $K2 13 2 [0-9A-F]{64} $" "$(grep -v '^;' "$REPO/tld.ds" | tr '\n' ' ')"
check_match "and in the XML" "<KeyTag>$K1</KeyTag>.*<KeyTag>$K2</KeyTag>" "$(tr '\n' ' ' < "$REPO/tld.anchors.xml")"
check "anchors verify with two anchors" "$R" anchors verify "$REPO" --zone tld. --pgp-public pub.asc

# --- anchors verify --server: knotd serving the signed zone, and one serving the zone from before the rollover ---
mkdir -p knot knot2
cp tld.signed knot/tld.zone
cp tld.signed.first knot2/tld.zone
for d in knot knot2; do
	p=$PORT
	[ $d = knot2 ] && p=$((PORT + 1))
	printf 'server:\n    rundir: "%s"\n    listen: 127.0.0.1@%s\ndatabase:\n    storage: "%s/db"\n' "$WORK/$d" $p "$WORK/$d" > $d/knot.conf
	printf 'template:\n  - id: default\n    storage: "%s"\n    zonefile-load: whole\n    journal-content: none\n' "$WORK/$d" >> $d/knot.conf
	printf 'zone:\n  - domain: tld.\n    file: tld.zone\n' >> $d/knot.conf
done
knotd -c knot/knot.conf > knot/log 2>&1 &
KNOT=$!
knotd -c knot2/knot.conf > knot2/log 2>&1 &
KNOT2=$!
up=1
for _ in $(seq 50); do
	dig +short -p $PORT @127.0.0.1 tld. SOA 2>/dev/null | grep -q . &&
		dig +short -p $((PORT + 1)) @127.0.0.1 tld. SOA 2>/dev/null | grep -q . && { up=0; break; }
	sleep 0.1
done
if [ $up -eq 0 ]; then pass "two knotd serve tld. on loopback"; else fail "knotd"; note "$(cat knot/log knot2/log)"; fi
check_match "anchors verify --server: each anchor's key is served and signs the DNSKEY RRset" "verified, and served" \
	"$("$R" anchors verify "$REPO" --zone tld. --pgp-public pub.asc --server 127.0.0.1@$PORT --now "$(at 8)" 2>&1)"
out=$("$R" anchors verify "$REPO" --zone tld. --pgp-public pub.asc --server 127.0.0.1@$((PORT + 1)) --now "$(at 8)" 2>&1)
rc=$?
check_match "a served DNSKEY RRset without the new anchor: exit 1, naming server and anchor" \
	"^1 127.0.0.1@$((PORT + 1)): tld.: anchor $K2 \(digest type 2\)" "$rc $out"
check_exit 1 "the same mismatch when asked of both servers" "$R" anchors verify "$REPO" --zone tld. \
	--pgp-public pub.asc --server 127.0.0.1@$PORT --server 127.0.0.1@$((PORT + 1)) --now "$(at 8)"
kill $KNOT $KNOT2 2>/dev/null
wait $KNOT $KNOT2 2>/dev/null
KNOT=

"$R" --state "$S" ds-seen --zone tld. --key "$K2" --now "$(at 9)" --quiet
"$R" --state "$S" ds-gone --zone tld. --key "$K1" --now "$(at 9)" --quiet
for h in 10 12 14; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $h)" --quiet; done
check_match "the old KSK's DS is gone, its DNSKEY still served" "^$K1 .*omnipresent .*hidden +hidden" \
	"$("$R" --state "$S" key list --zone tld. --now "$(at 14)" | grep "^$K1")"
check "publish while the old DNSKEY is served" pub --now "$(at 14)"
check_match "the old KSK stays listed while its DNSKEY is served" "DS $K1 .*DS $K2" "$(grep -v '^;' "$REPO/tld.ds" | tr '\n' ' ')"
for h in 16 18; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $h)" --quiet; done
check_match "the old KSK's DNSKEY has left the RRset" "^$K1 .*(unretentive|hidden) +hidden +hidden +hidden|^$" \
	"$("$R" --state "$S" key list --zone tld. --now "$(at 18)" | grep "^$K1")"
check "publish after the old DNSKEY left" pub --now "$(at 18)"
check_match "only the new KSK is listed now" "^tld. DS $K2 13 2 [0-9A-F]{64} $" "$(grep -v '^;' "$REPO/tld.ds" | tr '\n' ' ')"
check_match "and in the bind block" "^trust-anchors \{ +\"tld.\" static-ds $K2 13 2 \"[0-9A-F]{64}\"; \}; $" \
	"$(grep -v '^#' "$REPO/tld.bind" | tr '\n\t' '  ')"
check "anchors verify after the rollover" "$R" anchors verify "$REPO" --zone tld. --pgp-public pub.asc
# The status page draws the old KSK's DS at the parent from the audit log: the store keeps no past DS times.
"$R" --state "$S" status --html status.html --now "$(at 18)"
dsfrom=$(date -u -d "@$((B + 6 * 3600))" '+%Y-%m-%d %H:%M') dsto=$(date -u -d "@$((B + 12 * 3600))" '+%Y-%m-%d %H:%M')
check_match "the status timeline shows $K1's past DS span, from the run that found it omnipresent to the one that found it hidden" \
	"<title>key $K1 DS at the parent: $dsfrom to $dsto</title>" "$(cat status.html)"

# --- other zones' files stay, hidden files of a web server are not copied ---
echo other > "$REPO/other.ds"
echo 'Options -Indexes' > "$REPO/.htaccess"
check "a publication keeps another zone's files" pub --now "$(at 18)"
check "other.ds is still there" test "$(cat "$REPO/other.ds")" = other
check "and the web server's .htaccess" test "$(cat "$REPO/.htaccess")" = "Options -Indexes"
mkdir "$REPO/sub"
refused "a directory inside the repository is refused, not lost" "$REPO/sub: a directory in the repository cannot be carried over" \
	pub --now "$(at 18)"
rmdir "$REPO/sub"
check "no working directory left beside the repository" test -z "$(ls -A "$WORK/www" | grep -v '^anchors$')"

# --- an emergency KSK rollover: the compromised key gets a validUntil, min-retrieval after its successor ---
"$R" --state "$S" rollover --zone tld. --ksk --emergency --now "$(at 20)" >/dev/null
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 20)" --quiet
check "publish after the emergency rollover" pub --now "$(at 20)"
until=$(date -u -d "@$((B + 20 * 3600 + 2 * 86400))" +%Y-%m-%dT%H:%M:%S+00:00)
check_match "the compromised KSK has validUntil = its successor's creation + 2d" \
	"<KeyDigest id=\"K$K2-2\" validFrom=\"[^\"]+\" validUntil=\"${until//+/\\+}\">" "$(cat "$REPO/tld.anchors.xml")"
K3=$("$R" --state "$S" key list --zone tld. --now "$(at 20)" | awk -v a="$K1" -v b="$K2" '$2 == "ksk" && $1 != a && $1 != b {print $1}')
check_match "the emergency successor $K3 is listed at once, beside the compromised key" "DS $K2 .*DS $K3 " \
	"$(grep -v '^;' "$REPO/tld.ds" | tr '\n' ' ')"
check "that XML is valid against RFC 9718's schema" \
	xmllint --noout --relaxng "$DATA/anchors/rfc9718.rng" "$REPO/tld.anchors.xml"

# --- the shipped policies carry an AUP with the fields the statements name ---
for p in cloud-tld ripe-ncc; do
	out=$("$R" policy show $p | sed -n '/^trust-anchors:/,$p' | tr '\n' ' ')
	check_match "$p: an AUP, a contact and a minimum retrieval time" "contact: \"[^\"]+\" .*min-retrieval: 30d .*aup: \|.*minimum retrieval time" "$out"
done
check_match "cloud-tld's AUP has the statement's no-liability clause" "take no financial responsibility for any +improper use of these trust anchors or signatures" \
	"$("$R" policy show cloud-tld | tr '\n' ' ')"

# --- the daemon publishes the repository by itself: at the DS request, after a rollover step; a failure is an alarm ---
S2=$WORK/state2
REPO2=$WORK/www2/anchors
mkdir -p "$WORK/www2"
"$R" --state "$S2" keystore init --backend file >/dev/null
"$R" --state "$S2" policy import policy.yaml >/dev/null
"$R" --state "$S2" zone add tld. --policy fast-anchors --input tld.zone --now "$(at 0)" --quiet >/dev/null
echo "$B" > clock
M=$((PORT + 2))
printf 'poll: 1s\nmetrics: 127.0.0.1@%s\nanchors-dir: %s\nanchors-pgp-key: %s\nanchors-gnupg-home: %s\n' \
	$M "$REPO2" "$FPR" "$GNUPGHOME" > serve.conf
REGSIGN_CLOCK=$WORK/clock "$R" --state "$S2" serve --config serve.conf > serve.log 2>&1 &
DAEMON=$!
trap 'kill -9 $DAEMON 2>/dev/null; gpgconf --kill all >/dev/null 2>&1; wait 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
idle() { "$R" --state "$S2" ctl status 2>/dev/null | grep -q '^tld\. serial [0-9].* state ok'; }
wait_for() { for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
metric() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://127.0.0.1:$M/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}'; }
check "the daemon publishes the zone" wait_for idle
check "no trust anchors before the KSK's DS is requested" test ! -e "$REPO2"
check_match "metrics: regsign_zone_anchors_failures_total starts at 0" "^0$" "$(metric regsign_zone_anchors_failures_total)"
chmod 750 "$GNUPGHOME"
echo $((B + 2 * 3600)) > clock
alarm() { grep -q "ALARM: trust anchors not published in $REPO2: .*GnuPG home is open to others" serve.log; }
check "a GnuPG home others can read: an alarm in the log" wait_for alarm
check "... and nothing published" test ! -e "$REPO2"
check_match "... and counted" "^[1-9][0-9]*$" "$(metric regsign_zone_anchors_failures_total)"
chmod 700 "$GNUPGHOME"
"$R" --state "$S2" ctl sign tld. >/dev/null 2>&1
check "published at the next round once the home is fixed" wait_for test -e "$REPO2/tld.ds.asc"
D1=$("$R" --state "$S2" key list --zone tld. --now "$(at 2)" | awk '$2 == "ksk" {print $1}')
check_match "the daemon's repository lists the KSK" "^tld. DS $D1 13 2 [0-9A-F]{64} $" "$(grep -v '^;' "$REPO2/tld.ds" | tr '\n' ' ')"
check "and verifies" "$R" anchors verify "$REPO2" --zone tld. --pgp-public pub.asc
"$R" --state "$S2" ctl ds-seen tld. "$D1" >/dev/null 2>&1
echo $((B + 3 * 3600)) > clock
sleep 1.5
wait_for idle
n1=$("$R" --state "$S2" audit show 2>/dev/null | grep -c anchors-publish)
"$R" --state "$S2" ctl rollover tld. ksk >/dev/null 2>&1
n2=$("$R" --state "$S2" audit show 2>/dev/null | grep -c anchors-publish)
check_match "a KSK rollover step: the daemon publishes again (audited)" "^$n1 $((n1 + 1))$" "$n1 $n2"
for h in 5 7 9; do
	echo $((B + h * 3600)) > clock
	sleep 1.5
	wait_for idle
done
both() { grep -v '^;' "$REPO2/tld.ds" | grep -c ' DS ' | grep -q '^2$'; }
check "the new KSK's DS request: the daemon lists both KSKs" wait_for both
check "that repository verifies too" "$R" anchors verify "$REPO2" --zone tld. --pgp-public pub.asc

finish
