#!/usr/bin/env bash
# regsign serve in steady state under the cloud-tld policy (signatures under
# a day, re-signed every 30 minutes), on a clock the test drives: 48 hours
# in half-hour steps. At every step the zone the daemon serves validates at
# that time, no signature is closer to its expiration than the largest TTL
# (each is re-made with at least the refresh interval plus that left, and the
# next refresh is at most one interval away), and the signing load is spread:
# after the first signing no publication re-makes more than a fraction of the zone.
. "$(dirname "$0")/lib.sh"

for tool in dig python3; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
S=$WORK/state
GEN=${GENZONE:?GENZONE must name the zone generator}
P=$((20000 + RANDOM % 20000))
T0=$(date -u +%s)
T0=$((T0 - T0 % 3600))
echo "$T0" > clock
stamp() { date -u -d "@$1" +%Y%m%d%H%M%S; }

"$GEN" tld. 1500 --seed 4 -o tld.zone
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" zone add tld. --policy cloud-tld --input tld.zone --accept-weaker-custody --quiet --now "$(stamp "$T0")"
# The test's own address may transfer; its NOTIFY port has no one behind it.
"$R" --state "$S" zone set-secondaries tld. 127.0.0.1@$((P + 1)) >/dev/null
printf 'poll: 1s\nnotify-retries: 1\nnotify-timeout: 1s\nlisten: 127.0.0.1@%s\n' "$P" > serve.conf
REGSIGN_CLOCK=$WORK/clock "$R" --state "$S" serve --config serve.conf > serve.log 2>&1 & DAEMON=$!
trap 'kill -9 $DAEMON 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

served() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "tld." && $2 == "serial" {print $3}'; }
idle() { "$R" --state "$S" ctl status 2>/dev/null | grep -q '^tld\. serial [0-9].* state ok'; }
wait_idle() { for _ in $(seq 100); do idle && return 0; sleep 0.1; done; return 1; }
check "the daemon publishes the zone" wait_idle

lapses=0 close=0 bad_steps="" steps=0
# ttl.max-zone (6 h): no signature served may be nearer its end, or a cache could hold it expired.
floor=$((6 * 3600))
for step in $(seq 1 96); do
	now=$((T0 + step * 1800))
	echo "$now" > clock
	sleep 1.2
	wait_idle || true
	dig @127.0.0.1 -p "$P" AXFR tld. +onesoa +nocomments +nocmd +nostats > axfr.txt 2>/dev/null
	steps=$((steps + 1))
	if ! "$R" verify axfr.txt --origin tld. --time "$(stamp "$now")" --quiet >/dev/null 2>&1; then
		lapses=$((lapses + 1))
		bad_steps="$bad_steps $step"
	fi
	soonest=$(awk '$4 == "RRSIG" {print $9}' axfr.txt | sort | head -1)
	if [ -z "$soonest" ] || [ $(($(date -u -d "${soonest:0:8} ${soonest:8:2}:${soonest:10:2}:${soonest:12:2}" +%s) - now)) -lt $floor ]; then
		close=$((close + 1))
	fi
done
check_match "48 hours in $steps steps: the served zone validated at every step" "^0 $" "$lapses $bad_steps"
check_match "... and no signature was ever nearer its expiration than the largest TTL" "^0$" "$close"

# Signatures made per publication (the log says how many were made and kept).
made=$(sed -n 's/.*published.* (\([0-9]*\) signatures, \([0-9]*\) kept.*/\1 \2/p' serve.log | awk '{print $1 - $2}')
total=$(sed -n 's/.*published.* (\([0-9]*\) signatures.*/\1/p' serve.log | tail -1)
first=$(echo "$made" | head -1)
largest=$(echo "$made" | tail -n +2 | sort -n | tail -1)
count=$(echo "$made" | wc -l)
note "publications: $count; signatures made: first $first, then at most $largest of $total in one publication"
check_match "the first publication signed everything" "^$total$" "$first"
check_match "refreshes re-sign a few at a time: no later publication re-made a third of the zone" "^1$" \
	"$(( ${largest:-$total} * 3 < total ))"
check_match "... and every one was re-made within the 48 hours (the zone was re-signed, not kept)" "^1$" \
	"$(( $(echo "$made" | tail -n +2 | paste -sd+ | bc) >= total ))"
check "the daemon is still up" kill -0 "$DAEMON"
finish
