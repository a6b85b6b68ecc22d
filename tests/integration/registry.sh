#!/usr/bin/env bash
# Registry DS management end to end: registrars over a real TLS EPP session
# (secDNS-1.1), the pre-delegation check against child zones served by two
# knotd instances on loopback, thin-registry submissions and emergency
# removal, CDS/CDNSKEY scanning, import/export, and the registry zone built,
# signed incrementally and checked by independent validators.
. "$(dirname "$0")/lib.sh"

command -v knotd >/dev/null || { echo "1..0 # SKIP knotd missing"; exit 0; }
PORT=$((20000 + $$ % 20000))
EPP_PORT=$((PORT + 1))
export REGSIGN_STATE=$WORK/state REGSIGN_OPERATOR=tester
CLIENT="python3 $SRC/tests/integration/epp_client.py"
SCHEMA=$SRC/schemas/regsign-epp.xsd
KNOT_A= KNOT_B= EPP=
stop_all() {
	for p in $KNOT_A $KNOT_B $EPP; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	KNOT_A= KNOT_B= EPP=
}
trap 'stop_all; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

# --- certificates: a registrars' CA, the server, registrars one and two, and an outsider
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj /CN=registrars-ca 2>/dev/null
for n in server one two three; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
	openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 2>/dev/null
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.pem -days 2 \
	-subj /CN=one 2>/dev/null

# --- child zones, signed with file keys, served by knotd at 127.0.0.1 (A) and 127.0.0.2 (B)
child_text() { # NAME [EXTRA]
	printf '$ORIGIN %s\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n@ NS ns2\n' "$1"
	printf 'ns1 A 127.0.0.1\nns2 A 127.0.0.2\n%s' "${2:-}"
}
sign_child() { # NAME KEYDIR OUT [EXTRA [SIGN-OPTIONS...]] (default: valid for 7 days)
	local name=$1 keys=$2 out=$3 extra=${4:-}
	shift $(($# < 4 ? $# : 4))
	[ $# -eq 0 ] && set -- --validity 7d
	child_text "$name" "$extra" > "$out.in"
	"$R" sign "$out.in" --origin "$name" --keys "$keys" --out "$out" "$@" 2>/dev/null
}
new_key() { mkdir -p "$2" && "$R" keygen --origin "$1" --algorithm ECDSAP256SHA256 --ksk --keys "$2" >/dev/null; }
ds_of() { "$R" ds --keys "$1" --origin "$2" | awk '{print $4, $5, $6, $7}' | head -1; }
mkdir -p zA zB
for c in good wrong expired other hoster boot; do new_key $c.cloud. keys-$c; done
new_key wrong.cloud. keys-wrong-other
sign_child good.cloud. keys-good zA/good.zone
sign_child wrong.cloud. keys-wrong zA/wrong.zone
sign_child other.cloud. keys-other zA/other.zone
sign_child expired.cloud. keys-expired zA/expired.zone "" --inception 20200101000000 --expiration 20200201000000
child_text unsigned.cloud. > zA/unsigned.zone
# RFC 9615: boot.cloud. is insecure; its DNS operator, hoster.cloud. (secure), signals its CDS.
signal() { # NS-LABEL "DS"
	printf '_dsboot.boot.cloud._signal.%s CDS %s\n' "$1" "$2"
}
DS_BOOT=$(ds_of keys-boot boot.cloud.)
DS_OTHER=${DS_BOOT%?}$([ "${DS_BOOT: -1}" = 0 ] && echo 1 || echo 0) # one digest digit changed
sign_child hoster.cloud. keys-hoster zA/hoster.zone "$(signal ns1 "$DS_BOOT")"$'\n'"$(signal ns2 "$DS_OTHER")"$'\n'
printf '$ORIGIN boot.cloud.\n$TTL 300\n@ SOA ns1.hoster.cloud. hostmaster 1 7200 3600 1209600 300\n' > zA/boot.zone.in
printf '@ NS ns1.hoster.cloud.\n@ NS ns2.hoster.cloud.\n@ CDS %s\n' "$DS_BOOT" >> zA/boot.zone.in
"$R" sign zA/boot.zone.in --origin boot.cloud. --keys keys-boot --out zA/boot.zone --validity 7d 2>/dev/null
cp zA/*.zone zB/
knot_conf() { # DIR ADDR
	{
		printf 'server:\n    rundir: "%s"\n    listen: %s@%s\ndatabase:\n    storage: "%s/db"\n' "$WORK/$1" "$2" "$PORT" "$WORK/$1"
		printf 'template:\n  - id: default\n    storage: "%s"\n    zonefile-load: whole\n    journal-content: none\nzone:\n' "$WORK/$1"
		for z in good wrong expired other unsigned hoster boot; do printf '  - domain: %s.cloud.\n    file: "%s.zone"\n' $z $z; done
	} > "$1/knot.conf"
}
start_knots() {
	knot_conf zA 127.0.0.1 && knot_conf zB 127.0.0.2
	knotd -c zA/knot.conf > zA/log 2>&1 & KNOT_A=$!
	knotd -c zB/knot.conf > zB/log 2>&1 & KNOT_B=$!
	for _ in $(seq 50); do
		drill -p $PORT @127.0.0.1 good.cloud. SOA 2>/dev/null | grep -q NOERROR &&
			drill -p $PORT @127.0.0.2 unsigned.cloud. SOA 2>/dev/null | grep -q NOERROR && return 0
		sleep 0.1
	done
	note "$(cat zA/log zB/log)"
	return 1
}
restart_knots() { kill $KNOT_A $KNOT_B; wait $KNOT_A $KNOT_B 2>/dev/null; start_knots; }
if start_knots; then pass "two knotd serve the child zones on 127.0.0.1 and 127.0.0.2"; else fail "knotd"; fi

# --- the registry: zone cloud. from a template, registrars, delegations
"$R" keystore init --backend file >/dev/null
printf '$ORIGIN cloud.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 600\n@ NS ns1\nns1 A 192.0.2.1\nnic A 192.0.2.80\n' > template.zone
"$R" zone add cloud. --policy default --input template.zone --quiet >/dev/null
check "registrar one with its certificate" sh -c "printf 'pw-one-1\n' | '$R' registrar add one --name 'Registrar One' --cert one.pem"
check "registrar two" sh -c "printf 'pw-two-2\n' | '$R' registrar add two --name 'Registrar Two' --cert two.pem"
check_exit 2 "a second registrar 'one' is refused" sh -c "printf 'pw-one-1\n' | '$R' registrar add one --name X"
check_exit 2 "a password of 3 characters is refused" sh -c "printf 'abc\n' | '$R' registrar add three --name X"
for c in good wrong expired unsigned; do
	"$R" domain add $c.cloud. --zone cloud. --registrar one --ns ns1.$c.cloud.,ns2.$c.cloud. \
		--glue ns1.$c.cloud./127.0.0.1,ns2.$c.cloud./127.0.0.2 --ttl 7200 >/dev/null
done
"$R" domain add other.cloud. --zone cloud. --registrar two --ns ns1.other.cloud.,ns2.other.cloud. \
	--glue ns1.other.cloud./127.0.0.1,ns2.other.cloud./127.0.0.2 >/dev/null
check_exit 2 "glue for a host outside the domain is refused" "$R" domain add x.cloud. --zone cloud. --registrar one \
	--ns ns.x.cloud.,ns.example.net. --glue ns.example.net./192.0.2.1,ns.x.cloud./192.0.2.2
check_exit 2 "a name server inside the domain without glue is refused" "$R" domain add x.cloud. --zone cloud. \
	--registrar one --ns ns.x.cloud.
check_exit 2 "a delegation of another zone is refused" "$R" domain add x.example. --zone cloud. --registrar one \
	--ns ns.example.net.
check_exit 2 "an unknown sponsor is refused" "$R" domain add x.cloud. --zone cloud. --registrar nobody --ns ns.example.net.
check_exit 2 "a glue address that is not one is refused" "$R" domain add x.cloud. --zone cloud. --registrar one \
	--ns ns.x.cloud. --glue ns.x.cloud./300.1.2.3
# Name servers outside the registry (ns.example.net.) are looked up at knotd A, which refuses names it does not
# serve: the test stays on loopback instead of asking the system's resolver (tests/integration/resolver.sh has one).
"$R" registry --dns-port $PORT --timeout 1000 --resolver 127.0.0.1@$PORT >/dev/null

# --- EPP frames
frame() { # FILE COMMAND-XML [EXTENSION-XML]
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command>%s' "$2"
		[ -n "${3:-}" ] && printf '<extension>%s</extension>' "$3"
		printf '<clTRID>T-%s</clTRID></command></epp>\n' "$(basename "$1" .xml)"
	} > "$1"
}
D='xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
S='xmlns:secDNS="urn:ietf:params:xml:ns:secDNS-1.1"'
login() { # FILE ID PW
	frame "$1" "<login><clID>$2</clID><pw>$3</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><svcExtension><extURI>urn:ietf:params:xml:ns:secDNS-1.1</extURI></svcExtension></svcs></login>"
}
info() { frame "$1" "<info><domain:info $D><domain:name>$2</domain:name></domain:info></info>"; }
update() { frame "$1" "<update><domain:update $D><domain:name>$2</domain:name></domain:update></update>" "<secDNS:update $S ${4:-}>$3</secDNS:update>"; }
dsdata() { # "TAG ALG TYPE HEX"
	set -- $1
	printf '<secDNS:dsData><secDNS:keyTag>%s</secDNS:keyTag><secDNS:alg>%s</secDNS:alg><secDNS:digestType>%s</secDNS:digestType><secDNS:digest>%s</secDNS:digest></secDNS:dsData>' "$@"
}
keydata() { # "FLAGS PROTO ALG B64"
	set -- $1
	printf '<secDNS:keyData><secDNS:flags>%s</secDNS:flags><secDNS:protocol>%s</secDNS:protocol><secDNS:alg>%s</secDNS:alg><secDNS:pubKey>%s</secDNS:pubKey></secDNS:keyData>' "$@"
}
mkdir -p f
DS_GOOD=$(ds_of keys-good good.cloud.)
DS_WRONG=$(ds_of keys-wrong-other wrong.cloud.)
DS_EXPIRED=$(ds_of keys-expired expired.cloud.)
KEY_OTHER=$(sed -n 's/.*DNSKEY[[:space:]]*//p' keys-other/*.key)
login f/login1.xml one pw-one-1
login f/login2.xml two pw-two-2
login f/badpw.xml one wrong-pw
info f/info-good.xml good.cloud
info f/info-other.xml other.cloud
info f/info-none.xml nonexistent.cloud
update f/add-good.xml good.cloud "<secDNS:add>$(dsdata "$DS_GOOD")</secDNS:add>"
update f/add-wrong.xml wrong.cloud "<secDNS:add>$(dsdata "$DS_WRONG")</secDNS:add>"
update f/add-expired.xml expired.cloud "<secDNS:add>$(dsdata "$DS_EXPIRED")</secDNS:add>"
update f/add-unsigned.xml unsigned.cloud "<secDNS:add>$(dsdata "$DS_GOOD")</secDNS:add>"
update f/add-other.xml other.cloud "<secDNS:add>$(dsdata "$DS_GOOD")</secDNS:add>"
update f/add-none.xml nonexistent.cloud "<secDNS:add>$(dsdata "$DS_GOOD")</secDNS:add>"
set -- $DS_GOOD
update f/alg5.xml good.cloud "<secDNS:add>$(dsdata "$1 5 2 $4")</secDNS:add>"
update f/sha1.xml good.cloud "<secDNS:add>$(dsdata "$1 13 1 ${4:0:40}")</secDNS:add>"
update f/short.xml good.cloud "<secDNS:add>$(dsdata "$1 13 2 ${4:0:40}")</secDNS:add>"
update f/bigtag.xml good.cloud "<secDNS:add>$(dsdata "70000 13 2 $4")</secDNS:add>"
update f/urgent.xml good.cloud "<secDNS:add>$(dsdata "$DS_GOOD")</secDNS:add>" 'urgent="true"'
update f/life-short.xml good.cloud "<secDNS:chg><secDNS:maxSigLife>60</secDNS:maxSigLife></secDNS:chg>"
update f/life.xml good.cloud "<secDNS:chg><secDNS:maxSigLife>5184000</secDNS:maxSigLife></secDNS:chg>"
update f/add-key-other.xml other.cloud "<secDNS:add>$(keydata "$KEY_OTHER")</secDNS:add>"
update f/rem-good.xml good.cloud "<secDNS:rem>$(dsdata "$DS_GOOD")</secDNS:rem>"
update f/rem-absent.xml good.cloud "<secDNS:rem>$(dsdata "$1 13 2 $(printf '%064d' 7)")</secDNS:rem>"
update f/rem-all.xml other.cloud "<secDNS:rem><secDNS:all>true</secDNS:all></secDNS:rem>"
frame f/unknown-ext.xml "<info><domain:info $D><domain:name>good.cloud</domain:name></domain:info></info>" \
	'<fee:check xmlns:fee="urn:ietf:params:xml:ns:epp:fee-1.0"><fee:currency>EUR</fee:currency></fee:check>'
frame f/contact.xml '<info><contact:info xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"><contact:id>c1</contact:id></contact:info></info>'
frame f/create.xml "<create><domain:create $D><domain:name>new.cloud</domain:name><domain:authInfo><domain:pw>abcdef</domain:pw></domain:authInfo></domain:create></create>"
frame f/logout.xml '<logout/>'
printf '<?xml version="1.0"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><info>' > f/malformed.xml
printf '<?xml version="1.0"?><!DOCTYPE epp [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>' > f/dtd.xml
printf '<?xml version="1.0"?><!DOCTYPE epp SYSTEM "file:///etc/passwd"><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>' > f/xxe.xml
printf '<?xml version="1.0"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><frobnicate/></command></epp>' > f/invalid.xml

# --- the EPP server
"$R" epp --listen 127.0.0.1@$EPP_PORT --cert server.pem --key server.key --ca ca.pem --zone cloud. \
	> epp.out 2> epp.err &
EPP=$!
for _ in $(seq 50); do grep -q listening epp.out 2>/dev/null && break; sleep 0.1; done
check_match "the EPP server listens" "listening on 127.0.0.1@$EPP_PORT" "$(cat epp.out)"
session() { # CLIENT FRAMES...: one line per answer
	local c=$1
	shift
	rm -rf resp && mkdir resp
	$CLIENT $EPP_PORT ca.pem $c.pem $c.key resp "$@"
}
code() { sed -n "$1p" <<<"$2" | cut -d' ' -f1; }
state_of() { for c in good wrong expired unsigned other; do "$R" domain info $c.cloud. | grep -v '^  '; done; }

before=$(state_of)
out=$(session one f/info-good.xml f/badpw.xml f/login1.xml f/login1.xml @hello)
check_match "the session opens with a greeting" "^greeting" "$out"
check_match "a command before login: 2002" "^2002 " "$(sed -n 2p <<<"$out")"
check_match "a wrong password: 2200" "^2200 " "$(sed -n 3p <<<"$out")"
check_match "login: 1000" "^1000 " "$(sed -n 4p <<<"$out")"
check_match "a second login: 2002" "^2002 " "$(sed -n 5p <<<"$out")"
check_match "hello answers with a greeting" "^greeting" "$(sed -n 6p <<<"$out")"
valid=0
for x in resp/*.xml; do xmllint --noout --schema "$SCHEMA" "$x" 2>/dev/null || { valid=1; note "$x: $(xmllint --noout --schema "$SCHEMA" "$x" 2>&1)"; }; done
if [ $valid -eq 0 ]; then pass "every answer is valid against the EPP schemas"; else fail "answers valid against the schemas"; fi
out=$(session one f/login2.xml)
check_match "registrar two's password from registrar one's certificate: 2200" "^2200 " "$(sed -n 2p <<<"$out")"
out=$($CLIENT $EPP_PORT ca.pem rogue.pem rogue.key resp f/login1.xml 2>&1)
check_match "a certificate from outside the CA cannot even connect" "^closed" "$out"
out=$(session one f/badpw.xml f/badpw.xml f/badpw.xml f/login1.xml)
check_match "the third failed login ends the session: 2501" "^2501 " "$(sed -n 4p <<<"$out")"
check_match "... and the connection is closed" "^closed" "$(sed -n 5p <<<"$out")"

out=$(session one f/login1.xml f/add-wrong.xml f/add-expired.xml f/add-unsigned.xml f/add-other.xml f/add-none.xml \
	f/alg5.xml f/sha1.xml f/short.xml f/bigtag.xml f/urgent.xml f/life-short.xml f/unknown-ext.xml f/contact.xml \
	f/create.xml f/malformed.xml f/dtd.xml f/xxe.xml f/invalid.xml f/info-other.xml f/info-none.xml f/rem-absent.xml)
expect=(x x 2306 2306 2306 2201 2303 2306 2306 2005 2001 2102 2004 2103 2307 2101 2001 2001 2001 2001 2201 2303 2306)
what=(x x "a DS matching no key of the child" "a child whose signatures expired" "an unsigned child" \
	"another registrar's domain" "a domain that does not exist" "algorithm 5 (RSASHA1)" "digest type 1 (SHA-1)" \
	"a digest of the wrong length" "a key tag over 65535 (schema)" "urgent" "maxSigLife below the signature validity" \
	"an unknown extension" "an object service not offered (contact)" "domain:create (not served)" \
	"malformed XML" "a DTD with entities" "an external DTD (XXE)" "an element EPP does not have" \
	"info on another registrar's domain" "info on a domain that does not exist" "removing a DS that is not there")
for i in $(seq 2 $((${#expect[@]} - 1))); do
	check_match "EPP: ${what[$i]}: ${expect[$i]}" "^${expect[$i]} " "$(sed -n "$((i + 1))p" <<<"$out")"
done
check_match "the refusal names the server and what it found" "127.0.0.1@$PORT|failed: none of the 1 DNSKEYs matches a DS" \
	"$(sed -n 3p <<<"$out")"
check_match "... at both servers" "failed: .*\| failed: " "$(sed -n 3p <<<"$out")"
check_match "the expired child is refused for its signatures" "no valid signature" "$(sed -n 4p <<<"$out")"
check_match "the unsigned child: no DNSKEY RRset" "no DNSKEY RRset" "$(sed -n 5p <<<"$out")"
after=$(state_of)
if [ "$before" = "$after" ]; then pass "none of the refused commands changed anything"; else fail "refused commands changed nothing"; note "$(diff <(echo "$before") <(echo "$after"))"; fi
audit=$("$R" audit show)
check_match "a refused EPP update is audited as refused, with the reason" \
	"operator=epp:one action=ds-update zone=wrong\.cloud\. key=0 result=refused detail=\"[^\"]*DNSKEY" "$audit"
check_match "another registrar's domain: audited as refused" \
	"operator=epp:one action=ds-update zone=other\.cloud\. key=0 result=refused .*another registrar" "$audit"
check_match "a failed EPP login is audited, with its count and certificate" \
	"operator=epp:one action=epp-login .*result=refused detail=\"[^\"]*failure 1 of 3 in the session; certificate [0-9a-f]{64}" "$audit"
check_match "... and the lock-out after the third" "action=epp-login .*failure 3 of 3 .*session closed" "$audit"
check_match "the server is still up after the hostile frames" "^greeting" "$(session one)"

out=$(session one f/login1.xml f/add-good.xml f/info-good.xml f/life.xml f/info-good.xml f/logout.xml)
check_match "a DS the child proves at both servers: 1000" "^1000 .*ok: DNSKEY .* matches a DS.*ok: DNSKEY" "$(sed -n 3p <<<"$out")"
check_match "info shows the DS (secDNS:infData)" "<secDNS:keyTag>${DS_GOOD%% *}</secDNS:keyTag>" "$(cat resp/003.xml)"
check_match "chg maxSigLife: 1000" "^1000 " "$(sed -n 5p <<<"$out")"
check_match "info shows maxSigLife" "<secDNS:maxSigLife>5184000</secDNS:maxSigLife>" "$(cat resp/005.xml)"
check_match "logout: 1500" "^1500 " "$(sed -n 7p <<<"$out")"
check_match "the stored DS is the submitted one" "ds +$DS_GOOD" "$("$R" domain info good.cloud.)"
check_match "the change is in the domain's history, by epp:one" "epp:one +added ${DS_GOOD%% *}/13/2.*2 of 2 servers prove it" \
	"$("$R" domain info good.cloud.)"
out=$(session two f/login2.xml f/add-key-other.xml f/info-other.xml f/rem-all.xml f/info-other.xml)
check_match "keyData interface: 1000" "^1000 " "$(sed -n 3p <<<"$out")"
set -- $(ds_of keys-other other.cloud.)
check_match "the DS made from the keyData is the child's DS" "<secDNS:keyTag>$1</secDNS:keyTag>.*<secDNS:digest>$4</secDNS:digest>" \
	"$(cat resp/003.xml)"
check_match "info returns the keyData beside the DS" "<secDNS:pubKey>" "$(cat resp/003.xml)"
check_match "rem all: 1000" "^1000 " "$(sed -n 5p <<<"$out")"
check_match "after rem all, no secDNS data" "^[^x]*$" "$(grep -c secDNS resp/005.xml | sed 's/^0$/none/')"
check_match "registrar two's actions are audited as epp:two" "operator=epp:two action=ds-update zone=other.cloud." \
	"$("$R" audit show)"

# --- warn mode takes what enforce refuses, and says so
"$R" registry --check warn >/dev/null
out=$(session one f/login1.xml f/add-wrong.xml)
check_match "check warn: the mismatching DS is taken (1000) with the failure reported" "^1000 .*failed: " \
	"$(sed -n 3p <<<"$out")"
"$R" registry --check enforce >/dev/null

# --- concurrent registrars: ten updates each, in parallel, on their own domains
"$R" registry --check off >/dev/null
for i in 1 2 3 4 5; do
	"$R" domain add c$i.cloud. --zone cloud. --registrar one --ns ns.example.net. >/dev/null
	"$R" domain add d$i.cloud. --zone cloud. --registrar two --ns ns.example.net. >/dev/null
done
pids=()
for who in one two; do
	pfx=$([ $who = one ] && echo c || echo d)
	frames=(f/login$([ $who = one ] && echo 1 || echo 2).xml)
	for i in 1 2 3 4 5; do
		for k in 1 2; do
			update f/$pfx$i-$k.xml $pfx$i.cloud "<secDNS:add>$(dsdata "$((i * 10 + k)) 13 2 $(printf '%064d' $((i * 10 + k)))")</secDNS:add>"
			frames+=(f/$pfx$i-$k.xml)
		done
	done
	(rm -rf r-$who && mkdir r-$who && $CLIENT $EPP_PORT ca.pem $who.pem $who.key r-$who "${frames[@]}" > conc-$who.out) &
	pids+=($!)
done
wait "${pids[@]}"
n1=$(grep -c '^1000' conc-one.out); n2=$(grep -c '^1000' conc-two.out)
check_match "concurrent registrars: all 22 commands succeed" "^11 11$" "$n1 $n2"
ok=0
for i in 1 2 3 4 5; do for p in c d; do
	[ "$("$R" domain info $p$i.cloud. | grep -c '^ds ')" = 2 ] || ok=1
done; done
if [ $ok -eq 0 ]; then pass "every domain holds exactly its two DS records"; else fail "two DS per domain"; fi
check "the audit chain verifies after the concurrent sessions" "$R" audit verify

# kill -9 of the EPP server in the middle of a burst of updates loses nothing half-done.
frames=(f/login1.xml)
for i in 1 2 3 4 5; do for k in 3 4 5 6 7 8 9 10 11 12; do
	update f/k$i-$k.xml c$i.cloud "<secDNS:add>$(dsdata "$((i * 100 + k)) 13 2 $(printf '%064d' $((i * 100 + k)))")</secDNS:add>"
	frames+=(f/k$i-$k.xml)
done; done
($CLIENT $EPP_PORT ca.pem one.pem one.key resp "${frames[@]}" > burst.out 2>&1) &
burst=$!
# Mid-burst: once a few of the 50 updates are answered.
for _ in $(seq 200); do [ "$(grep -c '^1000' burst.out 2>/dev/null)" -ge $((3 + RANDOM % 5)) ] && break; sleep 0.01; done
kill -9 $EPP
wait $EPP 2>/dev/null
wait $burst
"$R" epp --listen 127.0.0.1@$EPP_PORT --cert server.pem --key server.key --ca ca.pem --zone cloud. \
	> epp.out 2> epp.err &
EPP=$!
for _ in $(seq 50); do grep -q listening epp.out 2>/dev/null && break; sleep 0.1; done
note "burst before kill -9: $(grep -c '^1000' burst.out) updates answered"
check_match "after kill -9 the database is intact" "^ok$" "$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$REGSIGN_STATE/state.db")"
check "after kill -9 the audit chain verifies" "$R" audit verify
ok=0
for i in 1 2 3 4 5; do
	info=$("$R" domain info c$i.cloud.)
	last=$(grep -o 'DS now: .*' <<<"$info" | tail -1 | sed 's/^DS now: //; s/;.*//' | tr ' ' '\n' | cut -d/ -f1 | sort -n | tr '\n' ' ')
	have=$(awk '$1 == "ds" {print $2}' <<<"$info" | sort -n | tr '\n' ' ')
	[ "$last" = "$have" ] || { ok=1; note "c$i: history says '$last', stored '$have'"; }
done
if [ $ok -eq 0 ]; then pass "after kill -9 every delegation holds exactly what its last history line says"; else fail "history and DS agree"; fi
"$R" registry --check enforce >/dev/null

# --- over-long frames end the session
out=$(session one f/login1.xml @oversize)
check_match "an over-long frame: 2500 and the connection closes" "^2500 .*limit" "$(sed -n 3p <<<"$out")"

# --- thin registry: registrants submit directly, and the registry removes in an emergency
check_exit 1 "ds submit of a DS the child does not prove is refused (exit 1)" "$R" ds submit --domain expired.cloud. --ds "$DS_EXPIRED"
out=$("$R" ds submit --domain expired.cloud. --ds "$DS_EXPIRED" 2>&1)
check_match "... naming each server's result" "127.0.0.1@$PORT +FAILED: .*127.0.0.2@$PORT +FAILED" "$(tr '\n' ' ' <<<"$out")"
check_match "... and nothing changed" "ds +none" "$("$R" domain info expired.cloud.)"
check_exit 2 "a SHA-1 digest is refused" "$R" ds submit --domain wrong.cloud. --ds "12345 13 1 $(printf '%040d' 1)"
check_exit 2 "garbage DS text is refused" "$R" ds submit --domain wrong.cloud. --ds "12345 13 2 XYZ"
sign_child wrong.cloud. keys-wrong-other zA/wrong.zone; cp zA/wrong.zone zB/; restart_knots
check "after the child re-signs with the submitted key, ds submit is taken" "$R" ds submit --domain wrong.cloud. --ds "$DS_WRONG"
check "ds check re-runs the check on the stored DS" "$R" ds check --domain wrong.cloud.
check_exit 2 "an emergency removal needs a reason" "$R" ds remove --domain wrong.cloud. --all --emergency
check "emergency removal by the registry" "$R" ds remove --domain wrong.cloud. --all --emergency --reason "DS breaks the chain, ticket 4711"
check_match "... audited with its reason and operator" "operator=tester action=ds-emergency-remove zone=wrong.cloud. .*ticket 4711" \
	"$("$R" audit show --tail 3)"
check_match "... and the delegation is insecure" "ds +none" "$("$R" domain info wrong.cloud.)"

# --- the registry zone: built from the data, signed, checked by independent validators
check "registry-zone builds and signs cloud." "$R" registry-zone --zone cloud. --out cloud.signed --quiet
validate "registry zone" cloud.signed cloud.
check_match "the DS of good.cloud. is published with the TTL of its NS RRset (7200)" \
	"^good\.cloud\.[[:space:]]+7200[[:space:]]+IN[[:space:]]+DS[[:space:]]+${DS_GOOD%% *} " "$(grep -P '\tDS\t' cloud.signed)"
check_match "glue is in the zone" "^ns1\.good\.cloud\.[[:space:]]+7200[[:space:]]+IN[[:space:]]+A[[:space:]]+127\.0\.0\.1" "$(cat cloud.signed)"
check_match "the template's own records stay" "^nic\.cloud\.[[:space:]].*A[[:space:]]+192\.0\.2\.80" "$(cat cloud.signed)"
"$R" domain add late.cloud. --zone cloud. --registrar two --ns ns.example.net. >/dev/null
out=$("$R" registry-zone --zone cloud. --out cloud.signed 2>&1)
kept=$(sed -n 's/.* signatures (\([0-9]*\) kept).*/\1/p' <<<"$out")
total=$(sed -n 's/.*names, \([0-9]*\) signatures.*/\1/p' <<<"$out")
check_match "one new delegation re-signs only what it touches ($kept of $total kept)" "^ok$" \
	"$([ -n "$kept" ] && [ $((total - kept)) -le 4 ] && [ "$kept" -gt 10 ] && echo ok)"
validate "registry zone after one change" cloud.signed cloud.
out=$("$R" registry-zone --zone cloud. --out cloud.signed --full 2>&1)
check_match "--full signs everything anew" "\(0 kept\)" "$out"
"$R" policy show default | sed 's/^name: default/name: short/; s/validity: 14d/validity: 5d/; s/refresh: 1d/refresh: 12h/; s/jitter: 12h/jitter: 6h/' > short.yaml
"$R" policy import short.yaml >/dev/null && "$R" zone set-policy cloud. short >/dev/null
out=$("$R" registry-zone --zone cloud. --out cloud.signed 2>&1)
check_match "a shortened validity keeps no signature that would outlive it" "\(0 kept\)" "$out"
"$R" zone set-policy cloud. default >/dev/null

# --- import and export: an existing zone moves in
"$R" domain export --zone cloud. > export.zone
check_match "export holds every delegation" "^late\.cloud\.[[:space:]]+3600[[:space:]]+IN[[:space:]]+NS[[:space:]]+ns\.example\.net\." "$(cat export.zone)"
mkdir s2
check "a second state takes the registrar" sh -c "printf 'pw-mig-1\n' | '$R' --state s2 registrar add migrated --name M"
{ printf '$ORIGIN cloud.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 600\n@ NS ns1\nns1 A 192.0.2.1\n'; cat export.zone; } > whole.zone
out=$("$R" --state s2 domain import --zone cloud. --registrar migrated whole.zone 2>&1)
check_match "import takes every delegation" "imported $("$R" domain list --zone cloud. | wc -l) delegations" "$out"
check_match "... with its DS and glue" "ds +$DS_GOOD" "$("$R" --state s2 domain info good.cloud.)"
check_match "... glue included" "glue +ns1.good.cloud./127.0.0.1 ns2.good.cloud./127.0.0.2" "$("$R" --state s2 domain info good.cloud.)"
printf 'bad.cloud. 3600 IN NS\n' >> whole.zone
before=$(sha256sum s2/state.db)
out=$("$R" --state s2 domain import --zone cloud. --registrar migrated whole.zone 2>&1)
check_match "a broken import file is refused at its line" "whole\.zone:[0-9]+: " "$out"
check_match "... and the state is untouched" "^$before$" "$(sha256sum s2/state.db)"

# --- CDS scanning: a KSK rollover signalled by the child, and the delete signal
new_key good.cloud. keys-good-next
cp keys-good-next/* keys-good/
ksk_old=$(ls keys-good/*.key | head -1)
cds_rr() { "$R" ds --keys keys-good-next --origin good.cloud. | awk '{print "@ CDS", $4, $5, $6, $7}'; }
sign_child good.cloud. keys-good zA/good.zone "$(cds_rr)"$'\n'
cp zA/good.zone zB/
restart_knots
out=$("$R" cds-scan --zone cloud.)
check_match "first scan: the CDS set is seen, not yet taken" "good\.cloud\.: new CDS set seen at 2 servers" "$out"
check_match "... a delegation whose name server has no address is not taken, and says why once" \
	"^c1\.cloud\.: not taken: no name server has an address: ns\.example\.net\. cannot be resolved: resolver 127\.0\.0\.1@$PORT answered REFUSED for A$" \
	"$out"
check_match "... the DS is unchanged" "ds +$DS_GOOD" "$("$R" domain info good.cloud.)"
out=$("$R" cds-scan --zone cloud.)
check_match "second scan, same set: applied" "good\.cloud\.: CDS set applied" "$out"
check_match "... the DS is now the new key's" "ds +$(ds_of keys-good-next good.cloud.)" "$("$R" domain info good.cloud.)"
check_match "... recorded as cds-scan" "operator=cds-scan action=ds-update zone=good.cloud." "$("$R" audit show --tail 2)"
# One server says delete, the other does not: nothing happens.
sign_child good.cloud. keys-good zA/good.zone $'@ CDS 0 0 0 00\n'
restart_knots
out=$("$R" cds-scan --zone cloud.)
check_match "servers that disagree: not taken" "good\.cloud\.: not taken: .*different CDS/CDNSKEY sets" "$out"
# An unsigned CDS is refused.
child_text good.cloud. $'@ CDS 0 0 0 00\n' > zB/good.zone; cp zB/good.zone zA/good.zone
restart_knots
out=$("$R" cds-scan --zone cloud.)
check_match "an unsigned CDS is not taken" "good\.cloud\.: not taken: .*(not proven|no valid signature)" "$out"
sign_child good.cloud. keys-good zA/good.zone $'@ CDS 0 0 0 00\n'
cp zA/good.zone zB/
restart_knots
"$R" cds-scan --zone cloud. >/dev/null
out=$("$R" cds-scan --zone cloud.)
check_match "the delete signal, signed and seen twice: the DS is removed" "good\.cloud\.: delete signal \(DS removed\) applied" "$out"
check_match "... the delegation is insecure" "ds +none" "$("$R" domain info good.cloud.)"
# RFC 9615: bootstrapping boot.cloud. from the signals of its DNS operator.
"$R" domain add hoster.cloud. --zone cloud. --registrar two --ns ns1.hoster.cloud.,ns2.hoster.cloud. \
	--glue ns1.hoster.cloud./127.0.0.1,ns2.hoster.cloud./127.0.0.2 >/dev/null
"$R" domain add boot.cloud. --zone cloud. --registrar two --ns ns1.hoster.cloud.,ns2.hoster.cloud. >/dev/null
out=$("$R" cds-scan --bootstrap --domain boot.cloud.)
check_match "bootstrap: an insecure signalling zone cannot vouch" "boot\.cloud\.: not taken: .*not below a secure delegation" "$out"
check "the DNS operator's zone becomes secure" "$R" ds submit --domain hoster.cloud. --ds "$(ds_of keys-hoster hoster.cloud.)"
out=$("$R" cds-scan --bootstrap --domain boot.cloud.)
check_match "bootstrap: a signal that differs from the child's CDS is not taken" \
	"boot\.cloud\.: not taken: .*ns2\.hoster\.cloud\. differs from the child's own" "$out"
sign_child hoster.cloud. keys-hoster zA/hoster.zone "$(signal ns1 "$DS_BOOT")"$'\n'"$(signal ns2 "$DS_BOOT")"$'\n'
cp zA/hoster.zone zB/
restart_knots
out=$("$R" cds-scan --bootstrap --domain boot.cloud.)
check_match "bootstrap: first scan sees the signalled set" "boot\.cloud\.: new bootstrap CDS set \(RFC 9615\) seen at 2 servers" "$out"
out=$("$R" cds-scan --bootstrap --domain boot.cloud.)
check_match "bootstrap: the second scan applies it" "boot\.cloud\.: bootstrap CDS set \(RFC 9615\) applied" "$out"
check_match "... boot.cloud. is now secure with its key's DS" "ds +$DS_BOOT" "$("$R" domain info boot.cloud.)"
out=$("$R" cds-scan --domain boot.cloud.)
check_match "... and a later scan finds nothing to change" "0 applied, 0 seen once, 0 not taken" "$out"
check "the registry zone still validates after the scans" "$R" registry-zone --zone cloud. --out cloud.signed --quiet
validate "registry zone after the scans" cloud.signed cloud.
check "the audit chain verifies at the end" "$R" audit verify

kill -TERM $EPP
wait $EPP
rc=$?
EPP=
# A server for one session at a time: a second client is told so (2502) and let go.
"$R" epp --listen 127.0.0.1@$EPP_PORT --cert server.pem --key server.key --ca ca.pem --max-clients 1 \
	> epp1.out 2> epp1.err &
EPP1=$!
for _ in $(seq 50); do grep -q listening epp1.out 2>/dev/null && break; sleep 0.1; done
(sleep 4 | timeout 10 openssl s_client -connect 127.0.0.1:$EPP_PORT -cert one.pem -key one.key -CAfile ca.pem -quiet -no_ign_eof \
	> /dev/null 2>&1) &
HOLD=$!
sleep 1.5
out=$(session two f/login2.xml)
check_match "past --max-clients a session is refused: 2502" "^2502 " "$(head -1 <<<"$out")"
wait $HOLD
kill $EPP1; wait $EPP1 2>/dev/null
check_match "the EPP server stops cleanly on SIGTERM" "^0 stopped$" "$rc $(tail -1 epp.err | sed 's/^epp: //')"
stop_all
finish
