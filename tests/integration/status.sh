#!/usr/bin/env bash
# The status page: regsign status --html for a state with a ZSK rollover in
# progress, loaded in headless Chromium at a phone and a desktop size (screenshot,
# the expected elements, no horizontal overflow); the same page from the daemon
# (GET / and /status, CSP, HEAD; POST 405, unknown path 404); a zone name that
# needs HTML escaping; bad input changes nothing.
. "$(dirname "$0")/lib.sh"

for tool in chromium curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

S=$WORK/state
T0=$(date -u +%Y%m%d%H0000)
T0S=$(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
page() { python3 "$SRC/tests/integration/status_page.py" chromium "$@"; }
fact() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; } # fact LINE NAME

cat > tld.zone <<'EOF2'
$TTL 3600
$ORIGIN tld.
@	IN SOA	ns1 hostmaster 2026010101 7200 3600 1209600 600
@	NS	ns1
ns1	A	192.0.2.1
EOF2
cp tld.zone good.zone

# --- a state with a ZSK rollover in progress (cloud-tld: the new ZSK is published 10 days before use) ---
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" zone add tld. --policy cloud-tld --accept-weaker-custody --input tld.zone --now "$T0" --quiet
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$T0" --quiet
"$R" --state "$S" enforce --now "$(at 0 3)" --quiet
ksk=$("$R" --state "$S" key list --zone tld. --now "$(at 0 3)" | awk '$2 == "ksk" {print $1}')
"$R" --state "$S" ds-seen --zone tld. --key "$ksk" --now "$(at 0 4)" --quiet
for d in 1 30 60; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at "$d")" --quiet; done
echo 'garbage here' > tld.zone
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 79)" --quiet 2>/dev/null # a failed publication
cp good.zone tld.zone
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 80)" --quiet
"$R" --state "$S" zone set-secondaries tld. "127.0.0.1@$(free_port)" >/dev/null
NOW=$(at 80 1)
list=$("$R" --state "$S" key list --zone tld. --now "$NOW")
tags=$(printf '%s\n' "$list" | awk '$2 == "zsk" || $2 == "ksk" {print $1}' | sort -n | tr '\n' ' ')
check_match "the state has a ZSK rollover in progress (3 keys, one ZSK only published)" "zsk .*published +rumoured" "$list"

check "status --html writes the page" "$R" --state "$S" status --html page.html --now "$NOW"
check_match "the page is one HTML document with a viewport meta" '^<!DOCTYPE html>.*name="viewport"' "$(head -c 400 page.html | tr -d '\n')"
for t in $tags; do
	check_match "key $t has its row in the key table" "<tr class=\"key\" id=\"key-0-$t\">" "$(cat page.html)"
done
check_match "the key table shows each record state and the next event" \
	'<td>[0-9]+</td><td>zsk</td><td>RSASHA256</td><td>active</td><td>rumoured</td><td>hidden</td><td>hidden</td><td>hidden</td><td class="wrap">DNSKEY omnipresent</td>' \
	"$(cat page.html)"
check_match "the failed publication is listed, and as an alarm" '<td class="bad">failed</td>.*id="alarms".*<tr class="alarm">.*<td>sign</td><td class="bad">failed</td>' \
	"$(tr -d '\n' < page.html)"
check_match "without a daemon the secondaries' serials are not known" '<td>127\.0\.0\.1@[0-9]+</td><td>not known</td>' "$(cat page.html)"
check_match "the timeline is inline SVG with a viewBox, 100% wide" '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 [0-9]+" width="100%"' "$(cat page.html)"
check_match "the DNSKEY count reaches max-dnskeys 3 during the rollover" '<title>DNSKEY RRset size over time \(most: 3\)</title>' "$(cat page.html)"
size_one=$(wc -c < page.html)
note "figure: page size for one zone with a ZSK rollover in progress: $size_one bytes"

# --- in headless Chromium ---
phone=$(page page.html "$WORK" 390x844:mobile 1280x900 2>&1 | grep '^390x844 ')
desk=$(page page.html "$WORK" 1280x900 2>&1 | grep '^1280x900 ')
for size in phone desk; do
	line=${!size}
	[ "$(fact "$line" title)" = regsign_status ] || { fail "$size: chromium loaded the page"; note "$line"; continue; }
	pass "$size: chromium loaded the page"
	want=$(printf '%s\n' $tags | sed 's/^/key-0-/' | tr '\n' ',' | sed 's/,$//')
	check_match "$size: each key has its table row" "^$(printf '%s\n' $want | tr ',' '\n' | sort | tr '\n' ',' | sed 's/,$//')$" \
		"$(fact "$line" key_rows | tr ',' '\n' | sort | tr '\n' ',' | sed 's/,$//')"
	rows=$(fact "$line" timeline_rows)
	for t in $tags new1; do
		check_match "$size: key $t has its timeline row" "(^|,)$t(,|$)" "$rows"
	done
	check_match "$size: the now line, the max-dnskeys line, the DNSKEY count" "^1 1 1$" \
		"$(fact "$line" now_lines) $(fact "$line" max_lines) $(fact "$line" count_paths)"
	check_match "$size: spans carry <title> details" "^[1-9][0-9]*$" "$(fact "$line" span_titles)"
	check_match "$size: the alarms section, with the failed publication" "^1 [1-9]" "$(fact "$line" alarms_section) $(fact "$line" alarm_rows)"
	check_match "$size: no script, no external resource" "^0 0$" "$(fact "$line" scripts) $(fact "$line" external)"
	pw=$(fact "$line" png_width) pb=$(fact "$line" png_bytes)
	if [ "$pw" = "${line%%x*}" ] && [ "$pb" -gt 20000 ]; then pass "$size: a screenshot of the page ($pb bytes)"; else fail "$size: screenshot ($pw px, $pb bytes)"; fi
done
sw=$(fact "$phone" scroll_width) iw=$(fact "$phone" inner_width)
if [ "$(fact "$phone" title)" = regsign_status ] && [ -n "$sw" ] && [ "$iw" = 390 ] && [ "$sw" -le "$iw" ]; then pass "390 px: nothing overflows horizontally (scrollWidth $sw)"
else fail "390 px: scrollWidth $sw > innerWidth $iw"; fi

# --- the daemon serves the same page ---
M=$(free_port)
echo "$((T0S + 80 * 86400 + 3600))" > clock
printf 'metrics: 127.0.0.1@%s\npoll: 1s\n' "$M" > serve.conf
REGSIGN_CLOCK=$WORK/clock "$R" --state "$S" serve --config serve.conf >> serve.log 2>&1 &
DAEMON=$!
served() { "$R" --state "$S" ctl status 2>/dev/null | awk '$1 == "tld." && $2 == "serial" {print $3}'; }
before=$("$R" --state "$S" zone list | awk '$1 == "tld." {print $5}')
# Its first publication is a refresh at the clock's time; the clock stands still, so it is the last one.
for _ in $(seq 300); do [ -n "$(served)" ] && [ "$(served)" != "-" ] && [ "$(served)" != "$before" ] && break; sleep 0.1; done
head=$(curl -s -D - -o served.html "http://127.0.0.1:$M/" | tr -d '\r')
check_match "GET / answers 200 text/html" "^HTTP/1.1 200 OK.*Content-Type: text/html; charset=utf-8" "$(printf '%s' "$head" | tr '\n' ' ')"
check_match "... with the Content-Security-Policy" "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:" "$head"
curl -s -o status.html "http://127.0.0.1:$M/status"
"$R" --state "$S" status --html cli.html --now "$NOW"
strip() { sed 's/made by regsign [a-z]*//' "$1"; }
if [ -s served.html ] && cmp -s <(strip served.html) <(strip cli.html); then pass "the served page is the page status --html writes (the daemon answering its control socket)"
else fail "served page and status --html differ"; note "$(diff <(strip served.html) <(strip cli.html) | head -20)"; fi
check "GET /status is the same page" test -s status.html -a "$(cmp -s served.html status.html && echo same)" = same
check_match "the daemon's page has the secondaries from its own view" '<td>127\.0\.0\.1@[0-9]+</td><td>not heard yet</td>' "$(cat served.html)"
check_match "HEAD / has the headers and no body" "^200 0$" "$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$M/")"
check_match "POST / is refused: 405" "^405$" "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$M/")"
check_match "an unknown path: 404" "^404$" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M/ctl/stop")"
check_match "/metrics still answers" "^regsign_zone_serial\{zone=\"tld\.\"\} [1-9]" "$(curl -s "http://127.0.0.1:$M/metrics" | grep '^regsign_zone_serial')"
kill "$DAEMON"; wait "$DAEMON"; rc=$?
check_match "the daemon stops cleanly, with nothing from the sanitizers" "^0 0$" "$rc $(grep -c -E 'AddressSanitizer|LeakSanitizer|runtime error' serve.log)"

# --- the page on a listener of its own: metrics and page apart ---
PS=$(free_port)
REGSIGN_CLOCK=$WORK/clock "$R" --state "$S" serve --config serve.conf --status "127.0.0.1@$PS" >> serve.log 2>&1 &
DAEMON=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PS/" && break; sleep 0.1; done
curl -s -o own.html "http://127.0.0.1:$PS/"
if [ -s own.html ] && cmp -s <(strip own.html) <(strip cli.html); then pass "with status ADDR@PORT the page is served there"
else fail "the page on the status listener"; note "$(diff <(strip own.html) <(strip cli.html) | head -10)"; fi
check_match "... and no longer on the metrics listener (404), which keeps /metrics" "^404 404 200$" \
	"$(for u in "$M/" "$PS/metrics" "$M/metrics"; do curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$u"; done | sed 's/ $//')"
kill "$DAEMON"; wait "$DAEMON"; rc=$?
check_match "... and the daemon stops cleanly" "^0 0$" "$rc $(grep -c -E 'AddressSanitizer|LeakSanitizer|runtime error' serve.log)"
out=$("$R" --state "$S" serve --config serve.conf --status 127.0.0.1 2>&1); rc=$?
check_match "a status listener without a port: one line, exit 2" "^2 1 regsign: .*status" "$rc $(printf '%s\n' "$out" | wc -l) $out"

# --- a zone name that must be escaped ---
W=$WORK/weird
printf '$TTL 3600\n$ORIGIN we\\034i\\060r\\062d\\038.\n@ IN SOA ns1 h 1 7200 3600 1209600 600\n@ NS ns1\nns1 A 192.0.2.1\n' > w.zone
"$R" --state "$W" keystore init --backend file >/dev/null
"$R" --state "$W" zone add 'we\"i<r>d&.' --policy default --accept-weaker-custody --input w.zone --quiet
check "status --html --zone with the name as given" "$R" --state "$W" status --html weird.html --zone 'we\"i<r>d&.'
check_match "the name is HTML-escaped" '<h2>we\\&quot;i\\&lt;r\\&gt;d\\&amp;\.</h2>' "$(cat weird.html)"
check_match "no raw < or \" of the name is in the page" "^0$" "$(grep -c -F -e 'i\<r' -e 'we\"' weird.html)"
wl=$(page weird.html "$WORK" 390x844:mobile 2>&1 | grep '^390x844 ')
check_match "the browser shows the name as it is" '^we\\"i\\<r\\>d\\&\.$' "$(fact "$wl" zone_names)"

# --- bad input: one line, non-zero, the file untouched ---
cp page.html before.html
out=$("$R" --state "$S" status --html page.html --zone nosuch. --now "$NOW" 2>&1); rc=$?
check_match "an unknown --zone: one line, exit 2" "^2 1 regsign: status: zone 'nosuch\.' is not managed here$" "$rc $(printf '%s\n' "$out" | wc -l) $out"
out=$("$R" --state "$S" status --html page.html --zone 'a..b' --now "$NOW" 2>&1); rc=$?
check_match "a --zone that is no name: one line, exit 2" "^2 1 regsign: status: 'a\.\.b' is not a domain name$" "$rc $(printf '%s\n' "$out" | wc -l) $out"
check "... and the page is untouched" cmp -s page.html before.html
out=$("$R" --state "$S" status --html "$WORK/nodir/page.html" --now "$NOW" 2>&1); rc=$?
check_match "an unwritable FILE: one line, non-zero" "^[1-9] 1 regsign: status: .*nodir/page\.html" "$rc $(printf '%s\n' "$out" | wc -l) $out"
check_match "... and no file appears" "^0$" "$(ls "$WORK/nodir" 2>/dev/null | wc -l)"
out=$("$R" --state "$S" status --now "$NOW" 2>&1); rc=$?
check_match "no --html: one line, exit 2" "^2 1 regsign: status: say where" "$rc $(printf '%s\n' "$out" | wc -l) $out"

# --- figure: 20 zones ---
Z=$WORK/twenty
"$R" --state "$Z" keystore init --backend file >/dev/null
for i in $(seq 1 20); do
	sed "s/^\$ORIGIN tld\./\$ORIGIN z$i.tld./" good.zone > "z$i.zone"
	"$R" --state "$Z" zone add "z$i.tld." --policy cloud-tld --accept-weaker-custody --input "z$i.zone" --now "$T0" --quiet
	"$R" --state "$Z" sign --zone "z$i.tld." --out "z$i.signed" --now "$T0" --quiet
done
start=$(date +%s%N)
check "status --html for 20 zones" "$R" --state "$Z" status --html twenty.html --now "$(at 80 1)"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_match "20 zone sections" "^20$" "$(grep -o '<section class="zone"' twenty.html | wc -l)"
note "figure: page size for 20 zones: $(wc -c < twenty.html) bytes, written in $ms ms"

echo "1..$T_N"
[ "$T_FAIL" -eq 0 ]
