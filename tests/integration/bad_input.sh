#!/usr/bin/env bash
# Bad zone and key files: a one-line "FILE:LINE: what is wrong", exit status 2,
# no crash, no output; an existing output file is left untouched.
. "$(dirname "$0")/lib.sh"

mkdir -p keys
"$R" keygen --origin example. --algorithm ED25519 --ksk --keys keys --quiet
"$R" keygen --origin example. --algorithm ED25519 --keys keys --quiet
echo "previous signed zone" > kept.signed

# expect_refused DESC REGEX CMD...: exit 2, one line on stderr matching REGEX, no new files.
expect_refused() {
	local d=$1 re=$2 err rc
	shift 2
	ls | grep -v '\.lst$' > before.lst
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	ls | grep -v '\.lst$' > after.lst
	local lines
	lines=$(printf '%s\n' "$err" | grep -c .)
	if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && printf '%s\n' "$err" | grep -Eq -- "$re" &&
		cmp -s before.lst after.lst && [ "$(cat kept.signed)" = "previous signed zone" ]; then
		pass "$d"
	else
		fail "$d (exit $rc, $lines lines)"
		note "$err" "$(diff before.lst after.lst)"
	fi
}

for f in "$DATA"/bad/*.zone; do
	want=$(sed -n '1s/^; expect: //p' "$f")
	expect_refused "refused: $(basename "$f" .zone)" "^regsign: .*$want" \
		"$R" sign "$f" --origin example. --keys keys --out kept.signed
done

# CDS/CDNSKEY that match no key of an unmanaged zone: signed, with a warning naming the line (RFC 7344 4.1).
{ cat "$DATA/zones/minimal.zone"; echo '@ CDS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF'
  echo '@ CDS 0 0 0 00'; } > cds.zone
err=$("$R" sign cds.zone --origin example. --keys keys --out cds.signed --quiet 2>&1)
check_match "a CDS matching no DNSKEY is signed with a warning" \
	"^regsign: warning: cds.zone:$(wc -l < "$DATA/zones/minimal.zone" | awk '{print $1 + 1}'): CDS record at 'example.' matches no DNSKEY of the zone" "$err"
check_match "... one warning: the delete signal (RFC 8078) is not warned about" '^1$' "$(printf '%s\n' "$err" | grep -c .)"
check_match "... and the zone is signed" 'IN	RRSIG	CDS ' "$(cat cds.signed)"
rm -f cds.zone cds.signed

# $INCLUDE loops and nesting beyond the limit.
expect_refused "refused: \$INCLUDE loop" 'loop.zone:5: \$INCLUDE loop' \
	"$R" sign "$DATA/include/loop.zone" --origin example. --keys keys --out kept.signed
printf '$TTL 3600\n$ORIGIN example.\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n$INCLUDE d1.inc\n' > deep.zone
for i in $(seq 1 20); do printf 'n%d A 192.0.2.1\n$INCLUDE d%d.inc\n' $i $((i + 1)) > d$i.inc; done
echo 'last A 192.0.2.1' > d21.inc
expect_refused "refused: \$INCLUDE nested too deep" 'd15.inc:2: \$INCLUDE nested deeper than 16' \
	"$R" sign deep.zone --origin example. --keys keys --out kept.signed

# Fuzzed bytes: never a crash (exit status 2, not a signal).
head -c 4096 /dev/urandom > garbage.zone 2>/dev/null
"$R" sign garbage.zone --origin example. --keys keys --out kept.signed 2>/dev/null
rc=$?
if [ $rc -eq 2 ]; then pass "random bytes refused without a crash"; else fail "random bytes: exit $rc"; fi

# Key files.
good=$DATA/zones/minimal.zone
newkeys() { rm -rf kk && mkdir kk && "$R" keygen --origin example. --algorithm "$1" --ksk --keys kk --quiet; }
mkdir -p other && "$R" keygen --origin example. --algorithm ECDSAP256SHA256 --keys other --quiet
# key_defect DESC REGEX ALG SUFFIX COMMAND: fresh keys, COMMAND run on the .SUFFIX file, then sign.
key_defect() {
	newkeys "$3"
	local f
	f=$(ls kk/*."$4")
	eval "$5"
	expect_refused "refused: $1" "$2" "$R" sign "$good" --origin example. --keys kk --out kept.signed
}
key_defect "private key of another key pair" 'does not match the public key' ECDSAP256SHA256 private \
	'cp other/*.private "$f"'
key_defect "algorithm disagrees between .key and .private" '\.private:2: algorithm 8 disagrees' \
	ECDSAP256SHA256 private 'sed -i "s/^Algorithm: 13.*/Algorithm: 8 (RSASHA256)/" "$f"'
key_defect "private key field not base64" "\\.private:3: field 'PrivateKey' is not valid base64" \
	ECDSAP256SHA256 private 'sed -i "s/^PrivateKey: .*/PrivateKey: not*base64/" "$f"'
key_defect "RSA private key missing a field" "missing field 'Prime2'" RSASHA256 private \
	'sed -i "/^Prime2:/d" "$f"'
key_defect "public key not base64" '\.key:5: public key is not valid base64' ED25519 key \
	'sed -i "s/DNSKEY 257 3 15 .*/DNSKEY 257 3 15 ###/" "$f"'
key_defect "DSA key (algorithm 3)" 'algorithm 3 is not supported' ED25519 key \
	'sed -i "s/DNSKEY 257 3 15/DNSKEY 257 3 3/" "$f"'

rm -rf kk && mkdir kk
expect_refused "refused: empty key directory" "no keys for 'example.' in 'kk'" \
	"$R" sign "$good" --origin example. --keys kk --out kept.signed

expect_refused "refused: RSASHA1 key generation without --legacy" 'RFC 8624' \
	"$R" keygen --origin example. --algorithm RSASHA1 --keys kk
check "RSASHA1 key generation with --legacy" "$R" keygen --origin example. --algorithm RSASHA1 --keys kk --legacy --quiet
expect_refused "refused: signing with RSASHA1 without --legacy" 'RFC 8624' \
	"$R" sign "$good" --origin example. --keys kk --out kept.signed
expect_refused "refused: RSASHA1 cannot sign an NSEC3 zone" 'cannot sign an NSEC3 zone' \
	"$R" sign "$good" --origin example. --keys kk --out kept.signed --legacy --nsec3
check "signing with RSASHA1 and --legacy" "$R" sign "$good" --origin example. --keys kk --out legacy.signed --legacy --quiet

# Output: written atomically, an existing file replaced only on success.
check "good zone signs over the kept file" "$R" sign "$good" --origin example. --keys keys --out kept.signed --quiet
check_match "output replaced on success" 'RRSIG' "$(cat kept.signed)"
check_match "no temporary files left behind" '^$' "$(ls | grep '\.tmp\.' || true)"
check_match "signed zone is readable by others (0644 less umask)" '^-rw-r--r--' "$(umask 022; ls -l kept.signed)"
check_match "private key files are 0600" '^-rw-------$' "$(ls -l keys/*.private | cut -c1-10 | sort -u)"
echo "previous signed zone" > kept.signed
expect_refused "refused: output directory missing" "cannot create '/nonexistent/dir/out.signed'" \
	"$R" sign "$good" --origin example. --keys keys --out /nonexistent/dir/out.signed
finish
