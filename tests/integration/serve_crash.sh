#!/usr/bin/env bash
# kill -9 of regsign serve at bad moments, with real secondaries: a zone of 20,000 delegations signed and
# served on 127.0.0.1 to NSD and Knot (TSIG), edited at each round (delegations added and removed, DS
# changed) and the daemon killed with SIGKILL (a) while an AXFR of the zone is being sent (dig's transfer
# must come out truncated), (b) while a secondary's transfer connection is open, or (c) 0-300 ms after the
# edit, while the change set is being signed and journaled; then restarted. After each restart: it serves
# again at or after the last serial seen, its journal opens and carries the output forward (no "IXFR history
# unavailable", no replay failure), the round's change is served, and NOTIFY/IXFR bring both secondaries to
# the served serial, their copies equal to the primary's. Throughout: the served serial never goes back, no
# serial is ever served with two contents (a hash of every whole AXFR, from the primary and from the
# secondaries, by serial), the journal file stays within journal-size. At the end: no transfer error in the
# secondaries' logs but those of transfers the kills cut, and the zone validates (ldns-verify-zone).
. "$(dirname "$0")/lib.sh"

for tool in nsd knotd dig ldns-verify-zone python3 sha256sum; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

S=$WORK/state
GEN=${GENZONE:?GENZONE must name the zone generator}
ROUNDS=${CRASH_ROUNDS:-8}
NAMES=${CRASH_NAMES:-20000}
J_DIFFS=5 J_SIZE=1048576 # small enough that rounds rewrite the journal
base=$((20000 + RANDOM % 39990))
P=$base PN=$((base + 1)) PK=$((base + 2)) # the daemon, NSD, Knot: all on 127.0.0.1
SECRET=$(head -c 32 /dev/urandom | base64)
KEY="hmac-sha256:xfr.key:$SECRET"
T0=$(date +%s)

DAEMON= NSD= KNOT=
cleanup() {
	kill -9 $DAEMON $NSD $KNOT 2>/dev/null
	wait 2>/dev/null
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 20)); shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
# serial_ge A B: A is B or after it (RFC 1982)
serial_ge() { [ -n "$1" ] && [ -n "$2" ] && [ $((($1 - $2) & 0xffffffff)) -lt 2147483648 ]; }

"$GEN" tld. "$NAMES" --seed 5 -o tld.zone
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" policy import "$DATA/policy-nsec.yaml" >/dev/null
"$R" --state "$S" zone add tld. --policy test-nsec --input tld.zone --quiet
"$R" --state "$S" zone set-secondaries tld. "127.0.0.1@$PN" "127.0.0.1@$PK" --tsig "xfr.key:hmac-sha256:$SECRET" >/dev/null
printf 'poll: 100ms\nnotify-timeout: 1s\nnotify-retries: 30\nlisten: 127.0.0.1@%s\njournal-diffs: %s\njournal-size: %s\n' \
	"$P" "$J_DIFFS" "$J_SIZE" > serve.conf
JOURNAL=$S/journal/tld.ixfr

start_daemon() { "$R" --state "$S" serve --config serve.conf >> serve.log 2>&1 & DAEMON=$!; }
# (dig +short prints its errors on standard output too: only a number is a serial)
soa_at() { dig @127.0.0.1 -p "$1" tld. SOA +short +time=1 +tries=1 2>/dev/null | awk 'NR == 1 && $3 ~ /^[0-9]+$/ {print $3}'; }

# Every serial the primary is seen to serve, in order: it must never go back.
MAXSEEN= BACKWARDS=0 BACK_NOTE=
seen() {
	[ -n "$1" ] || return 0
	if [ -n "$MAXSEEN" ] && ! serial_ge "$1" "$MAXSEEN"; then
		BACKWARDS=$((BACKWARDS + 1))
		BACK_NOTE+="$1 after $MAXSEEN; "
	else
		MAXSEEN=$1
	fi
}
# primary: the primary's serial into SOA, seen (not in a subshell, such as check's: seen keeps what it saw)
SOA=
primary() { SOA=$(soa_at "$P"); seen "$SOA"; }
serving() { primary; [ -n "$SOA" ]; }
newer() { primary; [ -n "$SOA" ] && [ "$SOA" != "$1" ] && serial_ge "$SOA" "$1"; }

# A transfer's records, one per line in dig's form, sorted (TSIG records and comments dropped; by type, not
# by a grep for TSIG, which a signature's base64 can hold: 1 in 17 million per position).
dump() { dig "$@" AXFR tld. +onesoa +nocomments +nocmd +nostats +time=5 | awk '$4 != "TSIG" && !/^;/ && NF' | sort; }
primary_dump() { dump @127.0.0.1 -p "$P" -y "$KEY"; }
# The serial of a dump, and what the zone is at that serial: no serial is served with two contents.
declare -A HASH FROM
CONFLICTS=0 CONFLICT_NOTE= NHASHED=0
record() { # record FILE WHERE
	local serial h
	serial=$(awk '$4 == "SOA" {print $7; exit}' "$1")
	[ -n "$serial" ] || return 0
	# Only whole zones (the last record of a transfer is its SOA: +onesoa drops it, the sort moves the rest).
	[ "$(wc -l < "$1")" -gt "$NAMES" ] || return 0
	h=$(sha256sum < "$1" | cut -c1-16)
	NHASHED=$((NHASHED + 1))
	if [ -n "${HASH[$serial]:-}" ] && [ "${HASH[$serial]}" != "$h" ]; then
		CONFLICTS=$((CONFLICTS + 1))
		CONFLICT_NOTE+="serial $serial: ${FROM[$serial]} != $2; "
		cp "$1" "conflict-$serial-$2.txt"
	elif [ -z "${HASH[$serial]:-}" ]; then
		HASH[$serial]=$h FROM[$serial]=$2
	fi
}

start_daemon
check "the daemon publishes the zone of $NAMES delegations" wait_for 60 serving
primary; S1=$SOA

# --- the secondaries ---
nsd_secondary 127.0.0.1 "$PN" tld. "$P"
knot_secondary 127.0.0.1 "$PK" tld. "$P"
nsd -c nsd/nsd.conf -d >> nsd/out.log 2>&1 & NSD=$!
knotd -c knot/knot.conf >> knot/out.log 2>&1 & KNOT=$!
both_at() { [ "$(soa_at "$PN")" = "$1" ] && [ "$(soa_at "$PK")" = "$1" ]; }
check "NSD and Knot transfer serial $S1" wait_for 60 both_at "$S1"
primary_dump > primary.txt
record primary.txt "primary@$S1"

# The change of round R: N delegations added (half with a DS), 20 removed, 10 DS digests changed. The
# file is replaced by a rename, never seen half written. Prints an added name, a removed one, a new digest.
edit() { # edit R N
	python3 - tld.zone "$1" "$2" <<'EOF'
import os, random, sys
path, r, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(r * 7919)
lines = open(path).read().splitlines()
body = [l.split() for l in lines if l and l[0] not in '$;@' and not l.startswith('nic') and '.nic' not in l.split()[0]]
# delegations without in-bailiwick servers: removing them leaves no glue behind
inb = {f[0] for f in body if f[3] == 'NS' and f[4].endswith('.tld.')}
owners = sorted(o for o in {f[0] for f in body if f[3] == 'NS'} - inb if not o.startswith('crash-'))  # earlier rounds' stay
gone = set(rnd.sample(owners, 20))
ds_lines = [i for i, l in enumerate(lines) if l.split()[3:4] == ['DS'] and l.split()[0] not in gone and not l.startswith('nic')]
new_digest = None
for i in rnd.sample(ds_lines, 10):
    f = lines[i].split()
    new_digest = '%064X' % rnd.getrandbits(256)
    lines[i] = ' '.join(f[:7] + [new_digest])
out = [l for l in lines if not (l.split() and l.split()[0] in gone)]
added = None
for k in range(n):
    added = 'crash-%d-%d' % (r, k)
    out.append('%s 3600 IN NS ns1.example.net.' % added)
    out.append('%s 3600 IN NS ns2.example.org.' % added)
    if k % 2 == 0:
        out.append('%s 3600 IN DS %d 13 2 %064X' % (added, rnd.randrange(65536), rnd.getrandbits(256)))
with open(path + '.new', 'w') as f:
    f.write('\n'.join(out) + '\n')
os.replace(path + '.new', path)
print(added, sorted(gone)[0], new_digest)
EOF
}

# (b): kill pid the moment a TCP connection to the daemon's port is established (a secondary's transfer).
kill_in_transfer() {
	python3 - "$P" "$1" "$2" <<'EOF'
import os, random, signal, sys, time
port, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
want = ':%04X' % port
end = time.time() + timeout
while time.time() < end:  # a busy look: an IXFR on loopback takes milliseconds
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fld = line.split()
            if fld[1].endswith(want) and fld[3] in ('01', '03'):  # established, or being
                time.sleep(random.random() * 0.002)
                os.kill(pid, signal.SIGKILL)
                print('landed')
                sys.exit(0)
print('missed')  # the caller makes another change and looks again
EOF
}

jsize() { stat -c %s "$JOURNAL" 2>/dev/null || echo 0; }
JMAX=0
jsample() { local s; s=$(jsize); [ "$s" -gt "$JMAX" ] && JMAX=$s; return 0; }

kinds=(c a b c a b c a b)
NSD_LOG0=0 KNOT_LOG0=0
for round in $(seq "$ROUNDS"); do
	kind=${kinds[$((round - 1)) % ${#kinds[@]}]}
	primary; before=$SOA
	PUBS=$(grep -c 'published from a change set' serve.log)
	# (b) a larger change: an IXFR of several messages, a longer transfer to land in
	read -r added removed digest <<< "$(edit "$round" "$([ "$kind" = b ] && echo 400 || echo 40)")"
	what="round $round ($kind)"
	case $kind in
	a) # while an AXFR is being sent: dig's output is held back by a reader that waits, so it stays running
		rm -f axfr.fifo && mkfifo axfr.fifo
		{ sleep 1.5; cat; } < axfr.fifo > axfr-$round.txt & READER=$!
		dig @127.0.0.1 -p "$P" -y "$KEY" AXFR tld. +time=10 +tries=1 > axfr.fifo 2>&1 & DIG=$!
		# Early: loopback TCP buffers can hold the rest of the zone, and a late kill then lands after the last octet.
		sleep "0.$((100 + RANDOM % 300))"
		if kill -0 "$DIG" 2>/dev/null; then running=yes; else running=no; fi
		kill -9 "$DAEMON"
		wait "$DIG" "$READER" 2>/dev/null
		check_match "$what: the kill landed while dig's AXFR was running" "^yes$" "$running"
		soas=$(awk '$4 == "SOA"' "axfr-$round.txt" | wc -l)
		check_match "$what: dig got a truncated transfer, not the zone ($soas SOA, $(grep -vc '^;' "axfr-$round.txt") lines)" \
			"^[01]$" "$soas"
		;;
	b) # while a secondary's transfer connection (IXFR, after the NOTIFY of the change) is open
		landed=$(kill_in_transfer "$DAEMON" 10)
		# A transfer on loopback can open and close between two looks: another change, another look.
		for again in $(seq 9); do
			[ "$landed" = landed ] && break
			edit "$round$again" 40 > /dev/null
			landed=$(kill_in_transfer "$DAEMON" 10)
		done
		# A loaded machine can keep the looker off the CPU for each transfer's few milliseconds: then this
		# round is a plain kill, said so; the rounds' other checks hold all the same.
		if [ "$landed" = landed ]; then pass "$what: the kill landed while a secondary's transfer connection was open"
		else kill -9 "$DAEMON"; pass "$what: the kill landed while a secondary's transfer connection was open # SKIP missed 10 transfers"; fi
		;;
	c) # while the change set is signed and journaled
		ms=$((RANDOM % 300))
		sleep "$(printf '0.%03d' "$ms")"
		kill -9 "$DAEMON"
		pub=$(grep -c 'published from a change set' serve.log)
		note "$what: killed $ms ms after the edit, $([ "$pub" -gt "${PUBS:-0}" ] && echo after || echo before) its change set was published"
		;;
	esac
	wait "$DAEMON" 2>/dev/null
	jsample
	last_seen=$MAXSEEN
	last_pub=$(sed -n 's/.*tld\.: serial \([0-9]*\) published.*/\1/p' serve.log | tail -1)
	# What the secondaries hold now is what was served before the kill.
	dump @127.0.0.1 -p "$PN" > "nsd-$round.txt"; record "nsd-$round.txt" "NSD-before-restart-$round"
	dump @127.0.0.1 -p "$PK" > "knot-$round.txt"; record "knot-$round.txt" "Knot-before-restart-$round"
	logmark=$(wc -l < serve.log)
	start_daemon
	check "$what: the restarted daemon serves again" wait_for 60 serving
	wait_for 10 serving; first=$SOA # one query may go unanswered on a loaded machine
	nmark=$(wc -l < nsd/nsd.log) kmark=$(wc -l < knot/knot.log)
	if serial_ge "$first" "$last_seen" && serial_ge "$first" "$last_pub"; then
		pass "$what: it serves $first: the last serial published ($last_pub) or after, none seen ($last_seen) lost"
	else fail "$what: it serves $first: the last serial published ($last_pub) or after, none seen ($last_seen) lost"; fi
	check "$what: the change is published" wait_for 30 newer "$before"
	wait_for 10 serving; now=$SOA
	check "$what: NSD and Knot follow to $now" wait_for 30 both_at "$now"
	# the daemon may have published again meanwhile (it did not, if both are still at now)
	primary
	[ "$SOA" != "$now" ] && { now=$SOA; wait_for 30 both_at "$now"; }
	jsample
	# From the restart on, the secondaries catch up without a transfer error (NSD's re-transfer aside).
	errs=$( { tail -n +"$((nmark + 1))" nsd/nsd.log | grep -v 'update failed, restarting transfer'
		tail -n +"$((kmark + 1))" knot/knot.log; } | grep -i -e 'fail' -e 'error' -e 'bad' -e 'malformed' -e 'refused' \
		-e 'mismatch' -e 'inconsistent' -e 'corrupt' -e 'invalid' -e 'not exact')
	check_match "$what: NSD and Knot caught up with no transfer error in their logs" "^0$" "$(printf '%s' "$errs" | grep -c .)"
	[ -z "$errs" ] || note "$errs"
	since=$(tail -n +"$((logmark + 1))" serve.log)
	check_match "$what: the journal opened and carried the output forward (no history error, no ALARM)" "^0$" \
		"$(printf '%s\n' "$since" | grep -c -e 'IXFR history unavailable' -e 'cannot be replayed' -e 'does not lead' \
			-e 'ALARM' -e 'cannot rewrite' -e 'is not served again')"
	primary_dump > primary.txt
	record primary.txt "primary-round-$round"
	check_match "$what: the change is served (+$added, -$removed, a new DS)" "^1 0 1$" \
		"$(awk -v a="$added.tld." '$1 == a && $4 == "NS"' primary.txt | wc -l | awk '{print ($1 == 2)}') \
$(awk -v a="$removed.tld." '$1 == a' primary.txt | wc -l) $(grep -c -F " ${digest:0:40}" primary.txt)"
	for sec in "NSD $PN" "Knot $PK"; do
		read -r name port <<< "$sec"
		dump @127.0.0.1 -p "$port" > "sec-$name.txt"
		record "sec-$name.txt" "$name-round-$round"
		if cmp -s primary.txt "sec-$name.txt"; then pass "$what: $name's copy equals the primary's"
		else fail "$what: $name's copy equals the primary's"; note "$(diff primary.txt "sec-$name.txt" | head -10)"; fi
	done
done

# --- at the end ---
check "the zone validates (ldns-verify-zone)" ldns-verify-zone -V 1 primary.txt
check_match "the served serial never went back across $ROUNDS restarts" "^0$" "$BACKWARDS"
[ "$BACKWARDS" -eq 0 ] || note "$BACK_NOTE"
check_match "no serial was served with two contents ($NHASHED whole transfers, ${#HASH[@]} serials)" "^0$" "$CONFLICTS"
[ "$CONFLICTS" -eq 0 ] || note "$CONFLICT_NOTE"
check_match "the journal file stayed within journal-size $J_SIZE (largest seen: $JMAX octets)" "^1$" \
	"$([ "$JMAX" -le "$J_SIZE" ] && [ "$JMAX" -gt 16 ] && echo 1)"
# Transfers a kill cut show up at the secondaries as connection errors while the daemon is down; nothing
# may say a transfer's content was wrong.
cut=$(cat nsd/nsd.log knot/knot.log | grep -i -e 'xfr' -e 'transfer' -e 'refresh' -e 'update' | grep -i -e 'fail' -e 'error' -e 'bad')
bad=$(printf '%s\n' "$cut" | grep -v -i -e 'connection' -e 'end of file' -e 'timed out' -e 'timeout' -e 'network' \
	-e 'communication' -e 'reset' -e 'closed' -e 'refused' -e 'restarting transfer' -e 'no usable' -e 'unreachable' \
	-e 'failed reading tcp' | sed '/^$/d')
check_match "no secondary found a transfer's content wrong ($(printf '%s' "$cut" | grep -c .) transfers cut by the kills)" \
	"^0$" "$(printf '%s' "$bad" | grep -c .)"
[ -z "$bad" ] || note "$bad"
kill -TERM "$DAEMON"; wait "$DAEMON"; rc=$?
check_match "SIGTERM stops the daemon cleanly at the end" "^0$" "$rc"
note "$ROUNDS rounds in $(($(date +%s) - T0)) s"
finish
