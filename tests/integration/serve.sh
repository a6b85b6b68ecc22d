#!/usr/bin/env bash
# regsign serve with real secondaries on loopback: NSD, Knot and BIND's named
# transfer the zone (AXFR, then IXFR after changes and a rollover step) with
# TSIG, and each copy equals the primary's; NOTIFY is retried; kill -9 and a
# restart continue the IXFR history; bad input keeps the last version serving;
# the control socket, metrics, and the refusals of transfers that are not allowed.
. "$(dirname "$0")/lib.sh"

for tool in nsd knotd named dig kdig ldns-verify-zone python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

S=$WORK/state
GEN=${GENZONE:?GENZONE must name the zone generator}
base=$((20000 + RANDOM % 20000))
P=$base            # the daemon's DNS port, on 127.0.0.1
M=$((base + 1))    # metrics
PN=$((base + 2)) PK=$((base + 3)) PB=$((base + 4))
# Each secondary has an address of its own, so the daemon can tell them apart (named listens only on
# an interface's address: 127.0.0.1).
AN=127.0.0.11 AK=127.0.0.12 AB=127.0.0.1
SECRET=$(head -c 32 /dev/urandom | base64)
KEY="hmac-sha256:xfr.key:$SECRET"

"$GEN" tld. 2000 --seed 5 -o tld.zone
"$R" --state "$S" keystore init --backend file >/dev/null
# NSEC: changes are signed as change sets (NSEC3 zones too, like second. below).
"$R" --state "$S" policy import "$DATA/policy-nsec.yaml" >/dev/null
"$R" --state "$S" zone add tld. --policy test-nsec --input tld.zone --quiet
check "zone set-secondaries with a TSIG key" "$R" --state "$S" zone set-secondaries tld. "$AN@$PN" "$AK@$PK" "$AB@$PB" \
	--tsig "xfr.key:hmac-sha256:$SECRET"
check_exit 2 "a secondary that is not an address is refused" "$R" --state "$S" zone set-secondaries tld. nowhere@53
check_exit 2 "a TSIG key that is not NAME:ALG:BASE64 is refused" "$R" --state "$S" zone set-secondaries tld. \
	"$AN@$PN" --tsig "xfr.key:hmac-sha256:***"
check_match "the secret is in a file only its owner reads" "^600$" "$(stat -c %a "$S/tsig/xfr.key.key")"
check_match "... and in no row of the state" "^0$" "$(grep -c -F "$SECRET" "$S/state.db")"

# A poll far longer than any wait below: changes must be seen through their change notices (inotify).
printf 'poll: 30s\nnotify-timeout: 1s\nnotify-retries: 30\nlisten: 127.0.0.1@%s\nmetrics: 127.0.0.1@%s\n' "$P" "$M" > serve.conf
printf 'poll: 10ms\n' > short.conf
out=$("$R" --state "$S" serve --config short.conf 2>&1); rc=$?
check_match "a poll below 50ms is refused, saying where" "^2 .*short\.conf:1: poll 10ms is outside" "$rc $out"
printf 'poll: 1s\nbogus: 3\n' > bad.conf
out=$("$R" --state "$S" serve --config bad.conf 2>&1); rc=$?
check_match "a bad configuration stops the daemon at start, saying where" "^2 .*bad\.conf:2: unknown setting 'bogus'" "$rc $out"

start_daemon() { "$R" --state "$S" serve --config serve.conf >> serve.log 2>&1 & DAEMON=$!; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 10)); shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
within() { # within SECONDS CMD...: CMD succeeds before SECONDS have passed on the machine's clock
	local end=$(($(date +%s%N) + $1 * 1000000000)); shift
	while [ "$(date +%s%N)" -lt "$end" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.02; done
	return 1
}
served() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "tld." && $2 == "serial" {print $3}'; }
has_serial() { [ -n "$(served)" ] && [ "$(served)" != "-" ]; }
start_daemon
check "the daemon answers ctl status and publishes the zone" wait_for 20 has_serial
check_match "the control socket is the owner's only" "^[67]00$" "$(stat -c %a "$S/regsign.ctl")"
out=$("$R" --state "$S" serve --config serve.conf 2>&1); rc=$?
check_match "a second daemon on the same state is refused" "^2 .*another regsign serve runs on" "$rc $out"

# --- three secondaries ---
mkdir -p named
nsd_secondary "$AN" "$PN" tld. "$P"
knot_secondary "$AK" "$PK" tld. "$P"
cat > named/named.conf <<EOF
options { directory "$WORK/named"; listen-on port $PB { $AB; }; listen-on-v6 { none; };
  pid-file "$WORK/named/named.pid"; recursion no; dnssec-validation no; allow-transfer { any; }; notify no; };
key "xfr.key" { algorithm hmac-sha256; secret "$SECRET"; };
controls { };
zone "tld." { type secondary; primaries port $P { 127.0.0.1 key xfr.key; }; file "tld.bk"; masterfile-format text;
  allow-notify { key xfr.key; }; };
EOF
start_nsd() { nsd -c nsd/nsd.conf -d >> nsd/out.log 2>&1 & NSD=$!; }
start_nsd
knotd -c knot/knot.conf >> knot/out.log 2>&1 & KNOT=$!
named -g -c named/named.conf >> named/out.log 2>&1 & NAMED=$!
cleanup() { kill -9 "$DAEMON" "$NSD" "$KNOT" "$NAMED" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

soa_at() { dig @"$1" -p "$2" tld. SOA +short +time=1 +tries=1 2>/dev/null | awk '{print $3}'; }
all_at() { # all_at SERIAL: every secondary serves it
	[ "$(soa_at $AN $PN)" = "$1" ] && [ "$(soa_at $AK $PK)" = "$1" ] && [ "$(soa_at $AB $PB)" = "$1" ]
}
# A transfer's records, one per line in dig's form, sorted (TSIG and comments dropped).
dump() { dig "$@" AXFR tld. +onesoa +nocomments +nocmd +nostats +time=5 | awk '$4 != "TSIG" && !/^;/ && NF' | sort; }
primary_dump() { dump -b 127.0.0.11 @127.0.0.1 -p "$P" -y "$KEY"; }
compare_all() { # compare_all WHAT
	primary_dump > primary.txt
	check_match "$1: the primary's AXFR has the zone" "^[1-9][0-9]{3,}$" "$(wc -l < primary.txt)"
	local name host port
	for sec in "NSD $AN $PN" "Knot $AK $PK" "named $AB $PB"; do
		read -r name host port <<< "$sec"
		dump @"$host" -p "$port" > "sec-$name.txt"
		if cmp -s primary.txt "sec-$name.txt"; then pass "$1: $name's copy equals the primary's"
		else fail "$1: $name's copy equals the primary's"; note "$(diff primary.txt "sec-$name.txt" | head -10)"; fi
	done
	check "$1: the transferred zone validates (ldns-verify-zone)" ldns-verify-zone -V 1 primary.txt
}

S1=$(served)
check "NSD, Knot and named transfer serial $S1" wait_for 30 all_at "$S1"
compare_all "first AXFR"
check_match "the daemon knows each secondary's serial" "secondary: $AB@$PB \(TSIG\) has $S1" \
	"$("$R" --state "$S" ctl zone-status tld.)"

# --- a change to the input: NOTIFY, then IXFR ---
echo 'added-one 3600 IN NS ns1.example.net.' >> tld.zone
newer() { [ -n "$(served)" ] && [ "$(served)" != "$1" ]; }
check "an edited input is published without being asked, within 5 s (poll 30s)" within 5 newer "$S1"
S2=$(served)
check "the secondaries follow to $S2" wait_for 30 all_at "$S2"
check_match "NSD and named took it by IXFR" "IXFR to $AN: serial $S2.*" "$(grep "IXFR to $AN" serve.log)"
check_match "... named too" "IXFR to $AB: serial $S2" "$(grep "IXFR to $AB" serve.log)"
compare_all "after IXFR"
check_match "the new delegation is at NSD" "ns1\.example\.net" "$(dig @$AN -p $PN added-one.tld. NS +norec)"
check_match "the edit was signed as a change set, not the whole zone" "serial $S2 published from a change set of [0-9]+ records" \
	"$(grep "serial $S2 published" serve.log)"
check "the output file catches up with the version served" wait_for 20 grep -q "added-one" "$S/signed/tld.signed"

# --- a rollover step through ctl ---
keys_before=$(grep -c 'DNSKEY' primary.txt)
out=$("$R" --state "$S" ctl rollover tld. zsk 2>&1); rc=$?
check_match "ctl rollover waits for the publication and says its serial" "^0 .*serial [0-9]+ published" "$rc $out"
S3=$(served)
check "the secondaries follow the rollover step to $S3" wait_for 30 all_at "$S3"
compare_all "after the rollover step"
check_match "the new ZSK is published beside the old" "^$((keys_before + 1))$" "$(grep -c DNSKEY primary.txt)"

# --- transfers that are not allowed, and IXFR forms ---
out=$(dig -b $AN @127.0.0.1 -p "$P" AXFR tld. +time=3 2>&1)
check_match "AXFR without the TSIG key is refused" "Transfer failed|NOTAUTH|REFUSED|failed" "$out"
out=$(dig -b $AN @127.0.0.1 -p "$P" AXFR tld. -y "hmac-sha256:xfr.key:$(head -c 32 /dev/urandom | base64)" +time=3 2>&1)
check_match "AXFR with a wrong key is refused" "Transfer failed|NOTAUTH|BADSIG|REFUSED|failed|tsig verify failure" "$out"
out=$(dig -b 127.0.0.14 @127.0.0.1 -p "$P" AXFR tld. -y "$KEY" +time=3 2>&1)
check_match "AXFR from an address that is no secondary is refused" "Transfer failed|REFUSED|failed" "$out"
# RFC 1995 4: the newest SOA, then per diff the old SOA, what goes, the new SOA, what comes; the newest SOA last.
soas=$(dig -b $AN @127.0.0.1 -p "$P" IXFR="$S1" tld. -y "$KEY" +nocomments +nocmd +nostats | grep -v '^;' |
	awk '$4 == "SOA" {printf "%s ", $7}')
cur=$(served)
check_match "IXFR from $S1: a chain of diffs from $S1 to $cur" "^$cur $S1 ($S2 ){2}.*$cur $cur $" "$soas"
n=$(dig -b $AN @127.0.0.1 -p "$P" IXFR=1 tld. -y "$KEY" +nocomments +nocmd +nostats | awk '$4 != "TSIG" && !/^;/ && NF' | wc -l)
check_match "IXFR from a serial the history lacks: the whole zone" "^$(($(wc -l < primary.txt) + 1))$" "$n"
out=$(dig -b $AN @127.0.0.1 -p "$P" IXFR="$S1" tld. -y "$KEY" +notcp +nocomments +nocmd +nostats | awk '$4 != "TSIG" && !/^;/ && NF')
check_match "IXFR over UDP: the SOA alone" "^tld\.[[:space:]].*SOA.*$S3" "$out"

# --- bad input keeps the last version serving ---
cp tld.zone tld.good
printf 'added-one 3600 IN CNAME elsewhere.example.\n' >> tld.zone
failing() { "$R" --state "$S" ctl status | grep -q 'tld\. .*state failing'; }
check "a zone file edited into a CNAME conflict makes the zone fail" wait_for 20 failing
check_match "... it says the file and line" "last-failure: .*tld\.zone:[0-9]+" "$("$R" --state "$S" ctl zone-status tld.)"
check_match "... the last good version keeps serving" "^$S3$" "$(served)"
check_match "... at the secondaries too" "^$S3$" "$(soa_at $AN $PN)"
metric() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://127.0.0.1:$M/metrics"; }
check_match "... and the metrics raise it" 'regsign_zone_failing\{zone="tld\."\} 1' "$(metric)"
# An edit adding a CDS of no key to this managed zone's apex: refused as the full path refuses it, at its line.
cp tld.good tld.zone
echo '@ 3600 IN CDS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF' >> tld.zone
cds_line=$(wc -l < tld.zone)
cds_refused() { "$R" --state "$S" ctl zone-status tld. | grep -q "last-failure: .*tld\.zone:$cds_line: CDS record at 'tld\.' matches no DNSKEY"; }
check "an edit adding a CDS that matches no DNSKEY is refused, naming its line" wait_for 20 cds_refused
check_match "... the last good version keeps serving" "^$S3$" "$(served)"
check_match "... and no CDS reaches the secondaries" '^$' "$(dig @$AN -p $PN tld. CDS +short +norec)"
cp tld.good tld.zone
touch tld.zone
check "a fixed input is published again" wait_for 30 newer "$S3"
S4=$(served)
check "the secondaries follow to $S4" wait_for 30 all_at "$S4"
m=$(metric)
check_match "metrics: the served serial" "regsign_zone_serial\{zone=\"tld\.\"\} $S4" "$m"
check_match "metrics: each secondary's serial" "regsign_secondary_serial\{zone=\"tld\.\",secondary=\"$AK@$PK\"\} $S4" "$m"
check_match "metrics: signatures reused by incremental signing" 'regsign_zone_signatures_reused_total\{zone="tld\."\} [1-9]' "$m"

# --- a NOTIFY that gets no answer is retried; a secondary that was down catches up ---
kill "$NSD"; wait "$NSD" 2>/dev/null
echo 'added-two 3600 IN NS ns2.example.net.' >> tld.zone
check "published while NSD is down" wait_for 20 newer "$S4"
S5=$(served)
retried() { grep -q "NOTIFY of serial $S5: .*$AN@$PN.*(try 2" serve.log; }
check "the unanswered NOTIFY to NSD is retried" wait_for 20 retried
start_nsd
check "NSD, back, catches up to $S5" wait_for 30 all_at "$S5"

# --- kill -9 at random instants; the restarted daemon continues the history ---
for round in 1 2 3; do
	before=$(served)
	echo "killed-$round 3600 IN NS ns1.example.org." >> tld.zone
	sleep "0.$((RANDOM % 10))"
	kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null
	start_daemon
	check "round $round: the restarted daemon serves again" wait_for 20 has_serial
	check "round $round: the change is published" wait_for 30 newer "$before"
	now=$(served)
	check "round $round: every secondary follows to $now" wait_for 30 all_at "$now"
done
compare_all "after kill -9 and restarts"
check_match "no secondary ever failed to apply a diff" "^0$" \
	"$(cat nsd/nsd.log knot/knot.log named/out.log | grep -ci -e 'ixfr.*\(fail\|bad\|error\)' -e 'malformed' -e 'not exact')"

# --- a registry zone: EPP or CLI changes are signed as change sets of the delegations they touch ---
"$GEN" reg. 300 --seed 11 -o reg.zone
"$R" --state "$S" zone add reg. --policy test-nsec --input reg.zone --quiet
printf 'serve-pw-123\n' | "$R" --state "$S" registrar add movedin --name "Moved in" >/dev/null
"$R" --state "$S" registry --check off >/dev/null
"$R" --state "$S" domain import --zone reg. --registrar movedin reg.zone >/dev/null
"$R" --state "$S" zone set-secondaries reg. "$AN@$PN" >/dev/null
rserved() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "reg." && $2 == "serial" {print $3}'; }
rhas() { [ -n "$(rserved)" ] && [ "$(rserved)" != "-" ]; }
check "a registry zone added while the daemon runs is published from the registry data" wait_for 30 rhas
rnewer() { [ -n "$(rserved)" ] && [ "$(rserved)" != "$1" ]; }
r1=$(rserved)
victim=$(awk '$4 == "NS" && $1 !~ /^(nic|reg\.|@)/ {print $1; exit}' reg.zone)
rsoa() { dig @127.0.0.1 -p "$P" reg. SOA +short +time=1 +tries=1 2>/dev/null | awk '{print $3}'; }
rsoa_newer() { [ -n "$(rsoa)" ] && [ "$(rsoa)" != "$1" ]; }
"$R" --state "$S" ds submit --domain "$victim.reg." --ds "4242 13 2 $(printf '%064d' 42)" >/dev/null
# Another process's commit to state.db wakes the daemon: no wait for the 30 s poll.
check "a DS submitted for $victim is served within 5 s (poll 30s)" within 5 rsoa_newer "$r1"
r2=$(rserved)
check_match "... as a change set" "serial $r2 published from a change set of [0-9]+ records" \
	"$(grep "reg.: serial $r2 published" serve.log)"
rdump() { dig -b $AN @127.0.0.1 -p "$P" AXFR reg. +onesoa +nocomments +nocmd +nostats | awk '$4 != "TSIG" && !/^;/ && NF'; }
rdump > reg.txt
check_match "... the DS is served, signed" "^$victim\.reg\..*RRSIG[[:space:]]+DS " "$(grep -E "^$victim\.reg\." reg.txt | grep RRSIG)"
check "... and the zone validates" ldns-verify-zone -V 1 reg.txt
"$R" --state "$S" domain add new-one.reg. --zone reg. --registrar movedin --ns ns1.example.net.,ns2.example.net. >/dev/null
"$R" --state "$S" domain remove "$victim.reg." >/dev/null
check "a delegation added and one removed are published" wait_for 20 rnewer "$r2"
rdump > reg.txt
check_match "... the new one is there, the removed one gone" "^1 0$" \
	"$(awk '$1 == "new-one.reg." && $4 == "NS"' reg.txt | wc -l | awk '{print ($1 == 2)}') $(grep -c "^$victim\.reg\." reg.txt)"
check "... and the zone still validates (the NSEC chain mended)" ldns-verify-zone -V 1 reg.txt

# --- freeze, thaw, a new zone, floods ---
"$R" --state "$S" ctl freeze tld. >/dev/null
frozen=$(served)
echo 'frozen-one 3600 IN NS ns1.example.org.' >> tld.zone
sleep 3
check_match "a frozen zone is not published" "^$frozen$" "$(served)"
check "thaw publishes it" "$R" --state "$S" ctl thaw tld.
check "... now" wait_for 20 newer "$frozen"
"$GEN" second. 50 --seed 9 -o second.zone
"$R" --state "$S" zone add second. --policy default --input second.zone --quiet
second() { "$R" --state "$S" ctl status | grep -Eq '^second\. serial [0-9]+'; }
check "a zone added while the daemon runs is taken up without a restart" wait_for 20 second
served2() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "second." && $2 == "serial" {print $3}'; }
newer2() { [ -n "$(served2)" ] && [ "$(served2)" != "$1" ]; }
N1=$(served2)
echo 'added-two 3600 IN NS ns1.example.net.' >> second.zone
check "an edit of the NSEC3 zone is published" wait_for 20 newer2 "$N1"
N2=$(served2)
check_match "... from a change set" "second\..*serial $N2 published from a change set of [0-9]+ records" \
	"$(grep "serial $N2 published" serve.log)"
# A presentation name with an escaped quote: its metric labels escape the backslash and the quote.
printf '$ORIGIN we\\"ird.\n@ 3600 IN SOA ns1 h 1 3600 600 86400 300\n@ 3600 IN NS ns1.example.net.\n' > weird.zone
"$R" --state "$S" zone add 'we\"ird.' --policy test-nsec --input weird.zone --quiet
weird() { "$R" --state "$S" ctl status | grep -Eq '^we\\"ird\. serial [0-9]+'; }
check 'a zone named we\"ird. is served' wait_for 20 weird
# The exposition format's unescaping (backslash, quote, newline) must give the name back.
labels='import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
values = re.findall(r"^regsign_zone_serial\{zone=\"((?:[^\"\\\n]|\\.)*)\"\} [1-9]", text, re.M)
names = [re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v) for v in values]
sys.exit(0 if sys.argv[2] in names else 1)'
check 'metrics: the label of we\"ird. is escaped and reads back as the name' \
	python3 -c "$labels" "http://127.0.0.1:$M/metrics" 'we\"ird.'
python3 - "$P" <<'EOF'
import os, socket, sys
port = int(sys.argv[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    u.sendto(os.urandom(i % 200), ("127.0.0.1", port))
for i in range(50):
    t = socket.create_connection(("127.0.0.1", port), timeout=2)
    t.sendall(os.urandom(i * 7 % 300))
    t.close()
EOF
check_match "after a flood of garbage the daemon still answers" "^$(served)$" "$(soa_at 127.0.0.1 "$P")"
out=$("$R" --state "$S" ctl frobnicate 2>&1); rc=$?
check_match "ctl: an unknown command is refused with the list" "^2 unknown command.*" "$rc $out"
check_match "ctl commands are audited with the caller" "ctl-rollover.*tld\." "$(grep ctl-rollover "$S/audit.log")"

# --- stop ---
kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?
check_match "SIGTERM stops the daemon cleanly" "^0$" "$rc"
check "... and removes its control socket" test ! -e "$S/regsign.ctl"
check_exit 2 "ctl status with no daemon fails" "$R" --state "$S" ctl status
out=$("$R" --state "$S" ctl --control "/tmp/$(printf 'x%.0s' $(seq 120))" status 2>&1); rc=$?
check_match "ctl with a control path too long for a socket says so" "^[1-9] .*socket path '/tmp/x+' is too long" "$rc $out"
check_match "no secret in the daemon's log" "^0$" "$(grep -c -F "$SECRET" serve.log)"
finish
