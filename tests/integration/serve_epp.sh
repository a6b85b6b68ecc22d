#!/usr/bin/env bash
# A soak of regsign serve with EPP updates arriving continuously: a registry zone of SOAK_DELEGATIONS
# delegations (default 1500) under two registrars, the daemon signing and serving it on loopback to NSD
# (TSIG), two EPP sessions (one per registrar, over TLS) sending secDNS add/rem/replace/rem all, info, and
# the commands the server does not serve, and the registry's own commands (domain add with and without a DS
# and glue, domain remove, a name server change) beside them, for SOAK_SECONDS (default 180, 60 under ASan).
# Every 15 s: the daemon answers and the zone is not failing, NSD follows the served serial within
# SOAK_MAX_LAG seconds (default 10), the daemon's RSS and the journal's size. Then: the served zone holds
# exactly what the acknowledged commands imply (every delegation: NS, DS, glue), NSD's copy equals it,
# both validate, no ALARM, no IXFR error at NSD, the journal within its bounds, most publications change
# sets, bounded memory. Everything on 127.0.0.1.
. "$(dirname "$0")/lib.sh"

for tool in nsd dig ldns-verify-zone python3 openssl; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

S=$WORK/state
GEN=${GENZONE:?GENZONE must name the zone generator}
CLIENT=$SRC/tests/integration/epp_client.py
MODEL=$SRC/tests/integration/soak_model.py
SOAK=${SOAK_SECONDS:-$([ $ASAN = 1 ] && echo 60 || echo 180)}
NDEL=${SOAK_DELEGATIONS:-1500}
RATE=${SOAK_RATE:-20}          # at most this many EPP commands a second, per session
MAX_LAG=${SOAK_MAX_LAG:-10}    # seconds NSD may take to reach the serial the daemon serves
EVERY=15                       # seconds between samples
J_DIFFS=40 J_SIZE=262144       # the journal's bounds (journal-diffs, journal-size)
base=$((20000 + RANDOM % 39990))
P=$base M=$((base + 1)) PN=$((base + 2)) PE=$((base + 3))
SECRET=$(head -c 32 /dev/urandom | base64)
KEY="hmac-sha256:xfr.key:$SECRET"
note "soak of $SOAK s, $NDEL delegations, up to $RATE EPP commands/s per session$([ $ASAN = 1 ] && echo ', ASan build')"

DAEMON= NSD= EPP= PIDS=()
cleanup() {
	local p live=()
	for p in "${PIDS[@]}" $DAEMON $NSD $EPP; do kill -TERM "$p" 2>/dev/null && live+=("$p"); done
	[ ${#live[@]} -gt 0 ] && sleep 1
	for p in "${live[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 10)); shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
now() { date +%s.%N; }
# serial_ge A B: A is B or after it (RFC 1982)
serial_ge() { [ -n "$1" ] && [ -n "$2" ] && [ $((($1 - $2) & 0xffffffff)) -lt 2147483648 ]; }

# --- certificates: the registrars' CA, the EPP server, registrars one and two ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj /CN=registrars-ca 2>/dev/null
for n in server one two; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
	openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 2>/dev/null
done

# --- the registry zone: reg. from a template, its delegations imported, a third of them registrar two's ---
"$GEN" reg. "$NDEL" --seed 7 --glue 0.1 -o reg.zone
grep -E '^(\$|@)' reg.zone > template.zone
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" policy import "$DATA/policy-nsec.yaml" >/dev/null
"$R" --state "$S" zone add reg. --policy test-nsec --input template.zone --quiet
printf 'pw-one-soak\n' | "$R" --state "$S" registrar add one --name "Registrar One" --cert one.pem >/dev/null
printf 'pw-two-soak\n' | "$R" --state "$S" registrar add two --name "Registrar Two" --cert two.pem >/dev/null
"$R" --state "$S" registry --check off >/dev/null
python3 "$MODEL" split reg.zone reg. one.zone two.zone
n1=$("$R" --state "$S" domain import --zone reg. --registrar one one.zone | sed -n 's/^imported \([0-9]*\) .*/\1/p')
n2=$("$R" --state "$S" domain import --zone reg. --registrar two two.zone | sed -n 's/^imported \([0-9]*\) .*/\1/p')
check_match "the delegations are imported, for registrars one and two" "^$((NDEL + 1))$" \
	"$((${n1:-0} + ${n2:-0}))"
"$R" --state "$S" domain export --zone reg. > initial.txt
python3 "$MODEL" domains initial.txt reg. two.zone epp-one.dom epp-two.dom ops.dom
check "zone set-secondaries: NSD on 127.0.0.1@$PN with TSIG" "$R" --state "$S" zone set-secondaries reg. \
	"127.0.0.1@$PN" --tsig "xfr.key:hmac-sha256:$SECRET"

# --- the daemon ---
printf 'poll: 500ms\nnotify-timeout: 1s\nnotify-retries: 30\nlisten: 127.0.0.1@%s\nmetrics: 127.0.0.1@%s\n' "$P" "$M" > serve.conf
printf 'journal-diffs: %s\njournal-size: %s\n' "$J_DIFFS" "$J_SIZE" >> serve.conf
"$R" --state "$S" serve --config serve.conf >> serve.log 2>&1 & DAEMON=$!
served() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "reg." && $2 == "serial" {print $3}'; }
has_serial() { [ -n "$(served)" ] && [ "$(served)" != "-" ]; }
check "the daemon publishes reg." wait_for 60 has_serial
dump() { dig "$@" AXFR reg. +onesoa +nocomments +nocmd +nostats +time=5 | awk '$4 != "TSIG" && !/^;/ && NF' | sort; }
primary_dump() { dump @127.0.0.1 -p "$P" -y "$KEY"; }
primary_dump > primary0.txt
out=$(python3 "$MODEL" compare initial.txt reg. primary0.txt 2>&1); rc=$?
check "before the soak the served zone holds the imported delegations" test $rc -eq 0
note "$out"

# --- NSD, the secondary ---
nsd_secondary 127.0.0.1 "$PN" reg. "$P"
nsd -c nsd/nsd.conf -d >> nsd/out.log 2>&1 & NSD=$!
nsd_serial() { dig @127.0.0.1 -p "$PN" reg. SOA +short +time=1 +tries=1 2>/dev/null | awk '{print $3}'; }
nsd_has() { serial_ge "$(nsd_serial)" "$1"; }
check "NSD transfers serial $(served)" wait_for 30 nsd_has "$(served)"

# --- the EPP server ---
"$R" --state "$S" epp --listen "127.0.0.1@$PE" --cert server.pem --key server.key --ca ca.pem --zone reg. \
	> epp.out 2> epp.err & EPP=$!
check "the EPP server listens" wait_for 20 grep -q listening epp.out

# --- the soak ---
t0=$(now)
python3 "$CLIENT" --stream "$PE" ca.pem one.pem one.key one pw-one-soak epp-one.dom "$SOAK" epp-one.log \
	epp-one.final "$RATE" soak-one > epp-one.out 2>&1 & C1=$!
python3 "$CLIENT" --stream "$PE" ca.pem two.pem two.key two pw-two-soak epp-two.dom "$SOAK" epp-two.log \
	epp-two.final "$RATE" soak-two > epp-two.out 2>&1 & C2=$!
python3 "$MODEL" ops "$R" "$S" reg. one ops.dom "$SOAK" ops.log ops.final 4 > ops.out 2>&1 & C3=$!
PIDS=("$C1" "$C2" "$C3")
rss() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status" 2>/dev/null; }
jsize() { stat -c %s "$S"/journal/reg*.ixfr 2>/dev/null | sort -n | tail -1; }
# The IXFR history the daemon holds: DIFFS OCTETS
history_now() { "$R" --state "$S" ctl zone-status reg. | sed -n 's/^ixfr-history: .*(\([0-9]*\) diffs, \([0-9]*\) octets)/\1 \2/p'; }
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
status_bad=() lag_bad=() hist_bad=() lags=() rss_s=() jmax=0 hmax=0 rss_base= samples=0
base_at=$((SOAK / 2 < 60 ? SOAK / 2 : 60))
next=$EVERY
while alive "$C1" "$C2" "$C3"; do
	el=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%d", b - a}')
	if [ "$el" -lt "$next" ]; then sleep 0.5; continue; fi
	next=$((el + EVERY))
	samples=$((samples + 1))
	st=$("$R" --state "$S" ctl status 2>&1); rc=$?
	line=$(awk '$1 == "reg."' <<<"$st")
	if [ $rc -ne 0 ] || [ -z "$line" ] || grep -q 'state failing' <<<"$line"; then
		status_bad+=("at ${el}s: exit $rc: $(tr '\n' ' ' <<<"$st" | cut -c1-200)")
	fi
	sp=$(awk '$2 == "serial" {print $3}' <<<"$line")
	ts=$(date +%s%N) lag=
	while [ $(($(date +%s%N) - ts)) -le $((MAX_LAG * 1000000000)) ]; do
		if nsd_has "$sp"; then lag=$(($(date +%s%N) - ts)); break; fi
		sleep 0.1
	done
	if [ -n "$lag" ]; then
		lags+=("$(awk -v n="$lag" 'BEGIN {printf "%.1f", n / 1e9}')")
	else
		lag_bad+=("at ${el}s: NSD at $(nsd_serial), not at $sp after $MAX_LAG s")
		lags+=("$MAX_LAG+")
	fi
	r=$(rss "$DAEMON")
	rss_s+=("${el}s:$((${r:-0} / 1024))M")
	[ -z "$rss_base" ] && [ "$el" -ge "$base_at" ] && rss_base=$r
	j=$(jsize)
	[ "${j:-0}" -gt "$jmax" ] && jmax=$j
	h=$(history_now)
	set -- $h
	[ -n "$h" ] && [ "$1" -le "$J_DIFFS" ] && [ "$2" -le "$J_SIZE" ] || hist_bad+=("at ${el}s: ${h:-no history}")
	[ "${2:-0}" -gt "$hmax" ] && hmax=$2
done
t1=$(now)
wait "$C1"; rc1=$?
wait "$C2"; rc2=$?
wait "$C3"; rc3=$?
PIDS=()
soak_took=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}')
check_match "the clients ran for the soak's $SOAK s" "^ok$" \
	"$([ "$soak_took" -ge "$SOAK" ] && [ "$soak_took" -le $((SOAK + 30)) ] && echo ok || echo "took $soak_took s")"
check_match "samples were taken (every $EVERY s)" "^[1-9]" "$samples"

tally() { tail -1 "$1"; }
num() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$(tally "$1")"; }
for c in one two; do
	rc=$([ $c = one ] && echo $rc1 || echo $rc2)
	check_match "EPP session of registrar $c: every answer as expected (exit 0)" "^0 acked" "$rc $(tally epp-$c.out)"
	[ "$rc" -ne 0 ] && note "$(grep -e '^#' epp-$c.log | head -10)" "$(tail -3 epp-$c.out)"
	a=$(num epp-$c.out acked)
	check_match "... it had $((${a:-0} / SOAK)) secDNS updates a second acknowledged (1000), at least 2" "^ok$" \
		"$([ "${a:-0}" -ge $((2 * SOAK)) ] && echo ok)"
	check_match "... and domain:info always showed what its own updates left" "^0$" "$(num epp-$c.out mismatches)"
done
check_match "the registry's commands beside EPP all succeeded" "^0 ok [1-9][0-9]* failed 0 " "$rc3 $(tail -1 ops.out)"
[ "$rc3" -ne 0 ] && note "$(grep -B1 '^#' ops.log | head -10)" "$(tail -3 ops.out)"
a1=$(num epp-one.out acked) a2=$(num epp-two.out acked)
f1=$(num epp-one.out expected-refusals) f2=$(num epp-two.out expected-refusals)
acked=$((${a1:-0} + ${a2:-0})) refused=$((${f1:-0} + ${f2:-0}))
ops_ok=$(awk '{print $2}' <<<"$(tail -1 ops.out)")

# --- while it ran ---
if [ ${#status_bad[@]} -eq 0 ]; then pass "at each of $samples samples the daemon answered ctl status, reg. not failing"
else fail "the daemon answered ctl status, reg. not failing, at each sample"; note "${status_bad[@]}"; fi
if [ ${#lag_bad[@]} -eq 0 ]; then pass "at each sample NSD reached the served serial within $MAX_LAG s (lags: ${lags[*]} s)"
else fail "NSD follows the served serial within $MAX_LAG s"; note "${lag_bad[@]}"; fi

# --- the end state: the registry data, then the served zone, implied by the acknowledged commands ---
finals=(epp-one.final epp-two.final --ops ops.final)
"$R" --state "$S" domain export --zone reg. > final-export.txt
out=$(python3 "$MODEL" compare initial.txt reg. final-export.txt "${finals[@]}" 2>&1); rc=$?
check "the registry data hold exactly what the acknowledged commands imply" test $rc -eq 0
note "$out"
cmp_out=
converged() { primary_dump > final-primary.txt && cmp_out=$(python3 "$MODEL" compare initial.txt reg. final-primary.txt "${finals[@]}" 2>&1); }
te=$(now)
if wait_for 20 converged; then
	pass "within $(awk -v a="$te" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s the served zone holds exactly what they imply"
else
	fail "within 20 s the served zone holds exactly what the acknowledged commands imply"
	python3 "$MODEL" compare initial.txt reg. final-primary.txt "${finals[@]}" > cmp.out 2>&1
	cmp_out=$(cat cmp.out)
fi
note "$cmp_out"
python3 "$MODEL" compare initial.txt reg. primary0.txt "${finals[@]}" > cmp0.out 2>&1; rc=$?
check_match "... a comparison that tells the zone before the soak from that end state" "^1 [1-9]" \
	"$rc $(grep -c 'want' cmp0.out)"
sp=$(served)
check "NSD reaches serial $sp" wait_for 30 nsd_has "$sp"
primary_dump > primary.txt
dump @127.0.0.1 -p "$PN" > nsd.txt
check_match "the primary's AXFR has the zone" "^[1-9][0-9]{3,}$" "$(wc -l < primary.txt)"
if cmp -s primary.txt nsd.txt; then pass "NSD's copy equals the primary's"
else fail "NSD's copy equals the primary's"; note "$(diff primary.txt nsd.txt | head -10)"; fi
check "the served zone validates (ldns-verify-zone)" ldns-verify-zone -V 1 primary.txt
check "NSD's copy validates (ldns-verify-zone)" ldns-verify-zone -V 1 nsd.txt

# --- the daemon's log, NSD's, the journal, publications, memory ---
check_match "no ALARM in the daemon's log" "^0$" "$(grep -c 'ALARM' serve.log)"
grep -q ALARM serve.log && note "$(grep ALARM serve.log | head -5)"
# NSD's xfrd says "soa serial N update failed, restarting transfer" when its reload took two transfers at
# once (N and N+1: "serial N-1 is updated to N+1") and asks again: its own bookkeeping, not a bad diff.
merged=$(grep -c 'update failed, restarting transfer' nsd/nsd.log)
nsd_err=$(cat nsd/nsd.log nsd/out.log | grep -v 'update failed, restarting transfer' |
	grep -i -e 'error' -e 'ixfr.*\(fail\|bad\)' -e 'malformed' -e 'not exact' -e 'bad xfr')
check_match "NSD never failed to apply a diff (no error in its log but $merged merged reloads)" "^0$" \
	"$(grep -c . <<<"$nsd_err")"
[ -n "$nsd_err" ] && note "$(head -5 <<<"$nsd_err")"
ixfrs=$(grep -c 'reg\.: IXFR to 127\.0\.0\.1: serial' serve.log)
j=$(jsize)
[ "${j:-0}" -gt "$jmax" ] && jmax=$j
hist=$(history_now)
set -- $hist
[ -n "$hist" ] && [ "$1" -ge 1 ] && [ "$1" -le "$J_DIFFS" ] && [ "$2" -le "$J_SIZE" ] || hist_bad+=("at the end: ${hist:-no history}")
if [ ${#hist_bad[@]} -eq 0 ]; then
	pass "at each sample and at the end the IXFR history was within journal-diffs $J_DIFFS and journal-size $J_SIZE (largest: $hmax octets; now ${hist:-?} diffs/octets)"
else fail "the IXFR history stays within journal-diffs $J_DIFFS and journal-size $J_SIZE"; note "${hist_bad[@]}"; fi
# The file holds the history, and for a moment the diff just appended before the oldest go.
check_match "the journal file stayed within 2 x journal-size (largest seen: $jmax octets)" "^ok$" \
	"$([ "$jmax" -gt 0 ] && [ "$jmax" -le $((2 * J_SIZE)) ] && echo ok)"
pubs=$(grep -c 'reg\.: serial [0-9]* published' serve.log)
cs=$(grep -c 'reg\.: serial [0-9]* published from a change set of' serve.log)
check_match "most publications were change sets ($cs of $pubs, at least 90 %)" "^ok$" \
	"$([ "$cs" -gt 0 ] && [ $((cs * 100)) -ge $((pubs * 90)) ] && echo ok)"
note "$(grep 'reg\.: .*published' serve.log | grep -v 'from a change set' | head -5)"
# batch (1 s by default): a stream of changes makes one publication a second at most, not one per commit.
check_match "changes went out in batches: $pubs publications in about $SOAK s of updates" "^ok$" \
	"$([ "$pubs" -le $((SOAK * 11 / 10 + 10)) ] && [ "$pubs" -ge $((SOAK / 10)) ] && echo ok)"
check_match "NSD took the changes by IXFR ($ixfrs IXFR answers, at least half of the $cs change sets)" "^ok$" \
	"$([ $((ixfrs * 2)) -ge "$cs" ] && [ "$ixfrs" -gt 0 ] && echo ok)"
serials=$(sed -n 's/.*reg\.: serial \([0-9]*\) published.*/\1/p' serve.log)
check_match "each publication's serial is after the one before" "^ok$" \
	"$(awk 'NR > 1 && $1 <= prev {bad = bad " " prev "->" $1} {prev = $1} END {print bad == "" ? "ok" : bad}' <<<"$serials")"
nser=$(sort -u <<<"$serials" | wc -l)
metrics=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://127.0.0.1:$M/metrics" 2>&1)
check_match "metrics: no failed publication" 'regsign_zone_failures_total\{zone="reg\."\} 0' "$metrics"
rss_end=$(rss "$DAEMON")
[ -z "$rss_base" ] && rss_base=${rss_end:-0}
check_match "bounded memory: RSS at the end $((${rss_end:-0} / 1024)) MiB <= 1.5 x $((rss_base / 1024)) MiB + 8 MiB" "^ok$" \
	"$([ -n "$rss_end" ] && [ "$rss_end" -le $((rss_base * 3 / 2 + 8192)) ] && echo ok)"
max_lag=$(printf '%s\n' "${lags[@]}" | sort -g | tail -1)
note "EPP commands acknowledged: $acked secDNS updates (1000), $refused refused as expected (2101/2102), over $soak_took s" \
	"registry commands beside them: $ops_ok" \
	"publications: $pubs, from change sets: $cs; distinct serials: $nser ($(head -1 <<<"$serials")..$(tail -1 <<<"$serials"))" \
	"NSD lag at the samples: ${lags[*]} s; max $max_lag s; $ixfrs IXFR answers to NSD, $merged merged reloads at NSD" \
	"daemon RSS: ${rss_s[*]}; base $((rss_base / 1024)) MiB, end $((${rss_end:-0} / 1024)) MiB" \
	"EPP server RSS at the end: $(($(rss "$EPP") / 1024)) MiB; journal largest $jmax octets"

# --- stop ---
kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?
check_match "the daemon was up to the end and stops cleanly on SIGTERM" "^0$" "$rc"
DAEMON=
kill -TERM "$EPP"; wait "$EPP"; rc=$?
check_match "the EPP server was up to the end and stops cleanly on SIGTERM" "^0$" "$rc"
EPP=
check "the audit chain verifies after the soak" "$R" --state "$S" audit verify
kill -TERM "$NSD"; wait "$NSD"; NSD=
ppid_of() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
left() { # processes (NSD's children among them) still working in $WORK, but this shell, its subshells and theirs
	local p sub=" " q=$BASHPID
	while [ -n "$q" ] && [ "$q" -gt 1 ] && [ "$q" != $$ ]; do sub="$sub$q "; q=$(ppid_of "$q"); done
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/cwd" 2>/dev/null)" = "$WORK" ] || continue
		p=${p#/proc/}
		[ "$p" = $$ ] && continue
		case "$sub" in *" $p "* | *" $(ppid_of "$p") "*) continue ;; esac
		echo "$p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
	done
}
nothing_left() { local l; l=$(left); [ -z "$l" ] || { echo "$l"; return 1; }; }
sleep 30 & sp=$!
check_match "(what is left running is seen)" "^$sp sleep 30" "$(left)"
kill "$sp"; wait "$sp" 2>/dev/null
check "nothing started by the test is left running" wait_for 10 nothing_left
finish
