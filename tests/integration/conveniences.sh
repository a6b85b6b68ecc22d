#!/usr/bin/env bash
# Operator conveniences: help COMMAND, the command meant by a typo, verify's
# summary after N problems, --json output (valid, with the documented fields),
# steps that wait for the key holders, a duplicate DS submission as no change,
# a backup that never replaces another by accident, --now on every command,
# --state that must hold state, and what to act on despite --quiet.
. "$(dirname "$0")/lib.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so
# An activation agent outlives the command that starts it: end it before the files go.
trap 'for d in "$WORK"/*/; do [ -S "$d/agent.sock" ] && "$R" --state "$d" deactivate >/dev/null 2>&1; done; rm -rf "$WORK"' EXIT
T0=$(date -u +%Y%m%d%H0000)
T0S=$(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# py EXPR [ARG...] < JSON: EXPR over the document d (a tuple space-separated); fails on what is not JSON.
py() { python3 -c 'import json, sys; d = json.load(sys.stdin); r = eval(sys.argv[1])
print(" ".join(map(str, r)) if isinstance(r, tuple) else r)' "$@"; }
valid() { python3 -m json.tool > /dev/null; }

cp "$DATA/zones/tld.zone" .

# --- help COMMAND ---
cmds=$("$R" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
check_match "the global help lists the commands" "^keygen sign verify ds zone .*registry-zone serve ctl $" "$(echo $cmds) "
same=0
for c in $cmds; do
	if ! a=$("$R" help "$c" 2>&1) || ! b=$("$R" "$c" --help 2>&1) || [ "$a" != "$b" ] || [ -z "$a" ]; then
		same=1
		note "help $c differs from $c --help"
	fi
done
if [ $same -eq 0 ]; then pass "help COMMAND prints COMMAND --help, exit 0, for every command"; else fail "help COMMAND"; fi
check_match "help ds submit is the help of ds submit" "^$(printf '%s' "$("$R" ds submit --help)" | head -1 | sed 's/[][().*|+?{}^$\\]/\\&/g')$" \
	"$("$R" help ds submit | head -1)"
check_exit 0 "help alone is the global help" "$R" help
check_exit 2 "help nosuch is a usage error" "$R" help nosuch
check_match "... and help sing suggests sign" "did you mean 'sign'\?" "$("$R" help sing 2>&1)"

# --- a typo names the command meant ---
check_exit 2 "an unknown command is a usage error" "$R" sing
check_match "sing: did you mean 'sign'?" "unknown command 'sing'; did you mean 'sign'\?" "$("$R" sing 2>&1)"
check_match "enforc: did you mean 'enforce'?" "did you mean 'enforce'\?" "$("$R" enforc 2>&1)"
check_match "a word near nothing gets the list of commands, no guess" "^[^?]*usage: regsign" \
	"$("$R" frobnicate 2>&1 | tr '\n' ' ')"
check_exit 2 "an unknown zone subcommand is a usage error" "$R" zone lsit
check_match "zone lsit: did you mean 'zone list'?" "did you mean 'zone list'\?" "$("$R" zone lsit 2>&1)"
check_match "key lst: did you mean 'key list'?" "did you mean 'key list'\?" "$("$R" key lst 2>&1)"
check_match "domain inof: did you mean 'domain info'?" "did you mean 'domain info'\?" "$("$R" domain inof 2>&1)"

# --- verify: the first N problems, then how many more ---
mkdir -p keys
"$R" keygen --origin big. --algorithm ECDSAP256SHA256 --ksk --keys keys --quiet
"$R" keygen --origin big. --algorithm ECDSAP256SHA256 --keys keys --quiet
{ printf '$ORIGIN big.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n'
  for i in $(seq 60); do echo "h$i A 192.0.2.$i"; done; } > big.zone
"$R" sign big.zone --origin big. --keys keys --out big.signed --quiet --validity 2d
late=$(at 30)
verify() { "$R" verify big.signed --origin big. --time "$late" "$@"; }
verify > v.out 2> v.err
check_match "a zone whose signatures expired is bogus (exit 1)" "^1$" "$?"
total=$(sed -n 's/.*bogus (\([0-9]*\) problems)$/\1/p' v.err)
check_match "the summary counts every problem (more than 20)" "^[0-9]{3}$" "$total"
check_match "the listing stops after 20 problems by default" "^21$" "$(wc -l < v.out)"
check_match "... then says how many more" "^\.\.\. and $((total - 20)) more problems \(20 shown\)$" "$(tail -1 v.out)"
verify --max-problems 5 > v5.out 2> v5.err
check_match "--max-problems 5: five problems, then the rest counted" "^6 \.\.\. and $((total - 5)) more problems \(5 shown\)$" \
	"$(wc -l < v5.out) $(tail -1 v5.out)"
check_match "... the summary still names the total" "bogus \($total problems\)$" "$(cat v5.err)"
check_exit 1 "... and the exit status is still 1" verify --max-problems 5
check_match "--max-problems 0 lists them all" "^$total$" "$(verify --max-problems 0 2>/dev/null | wc -l)"
check_exit 2 "a --max-problems that is not a number is refused" verify --max-problems many

# --- a managed zone with file keys: --json, --quiet, --now ---
S=$WORK/state
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" zone add tld. --policy default --input tld.zone --now "$T0" --quiet
"$R" --state "$S" sign --zone tld. --out tld.signed --now "$T0" --quiet

out=$("$R" --state "$S" zone list --json)
check "zone list --json is one valid JSON document" valid <<<"$out"
check_match "zone list --json has every documented field of a zone" "^True$" "$(py 'set(d["zones"][0]) >= {"name", "policy",
	"input", "output", "serial", "added", "added_text", "last_sign", "last_sign_text", "next_event", "next_event_text",
	"last_failure", "last_failure_text", "last_error", "registry", "parent_agents", "status", "waiting_for"}' <<<"$out")"
check_match "times as epoch seconds and ISO 8601 UTC" "^$T0S $(iso "$T0S")$" \
	"$(py 'd["zones"][0]["last_sign"], d["zones"][0]["last_sign_text"]' <<<"$out")"
check_match "nulls for never, false for no registry, [] for no parent agents" "^None None False \[\] ok$" \
	"$(py 'd["zones"][0]["last_failure"], d["zones"][0]["last_error"], d["zones"][0]["registry"], d["zones"][0]["parent_agents"], d["zones"][0]["status"]' <<<"$out")"
check_match "zone --help documents the fields" "last_sign.*parent_agents" "$("$R" zone --help | tr '\n' ' ')"

out=$("$R" --state "$S" zone show tld. --json --now "$T0")
check "zone show --json is valid JSON" valid <<<"$out"
check_match "zone show --json: the zone, its two keys, its publication and history" "^tld\. 2 1 True$" \
	"$(py 'd["name"], len(d["keys"]), len(d["publications"]), d["history_total"] == len(d["history"]) > 0' <<<"$out")"

out=$("$R" --state "$S" key list --zone tld. --json --now "$T0")
check "key list --json is valid JSON" valid <<<"$out"
tags=$("$R" --state "$S" key list --zone tld. --now "$T0" | awk 'NR > 2 {print $1}' | sort | tr '\n' ' ')
check_match "key list --json has the keys of key list" "^$tags$" "$(py '" ".join(sorted(str(k["tag"]) for k in d["keys"])) + " "' <<<"$out")"
check_match "each key: tag, role, algorithm, state, records, next event, waiting_for" "^True$" "$(py 'all(set(k) >= {"tag",
	"role", "algorithm", "state", "records", "next_event", "waiting_for"} and set(k["records"]) == {"dnskey", "krrsig",
	"zrrsig", "ds"} and all(type(r["pending"]) is bool and r["state"] in ("hidden", "rumoured", "omnipresent",
	"unretentive") for r in k["records"].values()) for k in d["keys"])' <<<"$out")"
check_match "the KSK: active, DNSKEY rumoured (published at T0), next event with time and what" \
	"^ksk active rumoured False [0-9]+ $(iso $((T0S + 7200)) | sed 's/:00Z$//'):[0-9]{2}Z DNSKEY omnipresent$" \
	"$(py '[(k["role"], k["state"], k["records"]["dnskey"]["state"], k["records"]["dnskey"]["pending"],
	k["next_event"]["time"], k["next_event"]["time_text"], k["next_event"]["what"]) for k in d["keys"]
	if k["role"] == "ksk"][0]' <<<"$out")"
check_match "key list --help documents the fields" "waiting_for.*pending" "$("$R" key --help | tr '\n' ' ')"
out=$("$R" --state "$S" plan --zone tld. --json --days 120 --now "$T0")
check "plan --json is valid JSON" valid <<<"$out"
check_match "plan --json: events with ISO times, a planned ZSK among them" "^True True$" \
	"$(py 'all(e["time_text"].endswith("Z") and e["what"] for e in d["events"]), any(e["planned"] == "new1" and e["tag"] is None for e in d["events"])' <<<"$out")"
check_exit 2 "--json where there is none is refused" "$R" --state "$S" enforce --json --now "$T0"

# JSON strings escaped: quotes, backslash, a tab, non-ASCII, and a byte that is not UTF-8 in a path.
weird=$WORK/$'we"ird\\dir\tä\xff'
mkdir -p "$weird" && sed 's/tld\./odd./g' tld.zone > "$weird/odd.zone"
"$R" --state "$S" zone add odd. --policy default --input "$weird/odd.zone" --now "$T0" --quiet
out=$("$R" --state "$S" zone list --json)
check "zone list --json stays valid with quotes, backslash, tab and non-UTF-8 in a string" valid <<<"$out"
check_match "... and the path reads back (U+00FF for the stray byte)" "^True$" \
	"$(py '[z["input"] for z in d["zones"] if z["name"] == "odd."][0] == sys.argv[2] + "/we\"ird\\dir\t\u00e4\u00ff/odd.zone"' \
	"$WORK" <<<"$out")"
check_match "a zone never signed: last_sign and output null, status never-published" "^None None never-published$" \
	"$(py '[(z["last_sign"], z["output"], z["status"]) for z in d["zones"] if z["name"] == "odd."][0]' <<<"$out")"

# --- --quiet still says what the operator must do ---
"$R" --state "$S" enforce --quiet --now "$(at 0 3)" > q.out 2> q.err
check_match "enforce --quiet: the DS request is on standard error" "ksk [0-9]+ .*DS submitted to the parent" "$(cat q.err)"
check_match "... and nothing else is printed" "^$" "$(cat q.out)"
out=$("$R" --state "$S" key list --zone tld. --json --now "$(at 0 3)")
check_match "key list --json: the KSK waits for ds-seen, its DS request is a submission" "^ds-seen submit None$" \
	"$(py '[(k["waiting_for"], k["records"]["ds"]["request"], k["next_event"]) for k in d["keys"] if k["role"] == "ksk"][0]' <<<"$out")"

# --- --now is taken by every command, as the global help says ---
T=$(at 0 4)
bad=0
for args in "zone show tld." "key list --zone tld." "plan --zone tld." "enforce --zone tld." \
	"sign --zone tld. --out now.signed" "ds --zone tld." "zone show tld. --json" "plan --zone tld. --days 3"; do
	# shellcheck disable=SC2086
	out=$("$R" --state "$S" $args --now "$T" 2>&1) || { bad=1; note "$args --now: exit $?" "$out"; }
	if grep -q "unrecognized option" <<<"$out"; then bad=1; note "$args: $out"; fi
done
if [ $bad -eq 0 ]; then pass "zone show, key list, plan, enforce, sign --zone, ds --zone take --now"; else fail "--now"; fi
check "--now=T works too" "$R" --state "$S" key list --zone tld. --now="$T"

# --- --state must hold state, unless the command starts one ---
none=$WORK/x-nonexistent
out=$("$R" --state "$none" zone list 2>&1); rc=$?
check_match "zone list in a directory without state: exit 2, saying so" "^2 .*holds no regsign state" "$rc $out"
check "... and the directory is not made" test ! -e "$none"
check_exit 2 "key list there too" "$R" --state "$none" key list --zone tld.
check "... still no directory" test ! -e "$none"
check "zone add starts a state there" "$R" --state "$none" zone add tld. --policy default --input tld.zone --now "$T0" --quiet
check "... which now holds its database" test -f "$none/state.db"

# --- backup keeps an existing file unless --force ---
# The embedded default token (no keystore init): its shares are kept in DIR/hsm, so backup needs none.
E=$WORK/embedded
"$R" --state "$E" zone add tld. --policy default --input tld.zone --now "$T0" --quiet
check "backup --out a new file" "$R" --state "$E" backup --out keys.backup --now "$T0"
sum=$(md5sum < keys.backup)
echo "an older backup" > old.backup
out=$("$R" --state "$E" backup --out old.backup --now "$T0" 2>&1); rc=$?
check_match "backup over an existing file is refused (exit 2), naming it" "^2 .*'old\.backup' already exists.*--force" "$rc $out"
check_match "... and the file is untouched" "^an older backup$" "$(cat old.backup)"
# Another time: a backup written now would differ in its header.
check_exit 2 "backup over the last backup is refused too" "$R" --state "$E" backup --out keys.backup --now "$(at 0 1)"
check_match "... which stays as it was" "^$sum$" "$(md5sum < keys.backup)"
check "backup --force replaces it" "$R" --state "$E" backup --out old.backup --force --now "$T0"
check_match "... with a backup" "^regsign-backup v1 " "$(grep '^regsign-backup' old.backup)"
check_match "backup --help names --force" "\-\-force" "$("$R" backup --help)"

# --- a duplicate ds submit is no change ---
G=$WORK/registry
printf '$ORIGIN cloud.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 600\n@ NS ns1\nns1 A 192.0.2.1\n' > template.zone
"$R" --state "$G" keystore init --backend file >/dev/null
"$R" --state "$G" zone add cloud. --policy default --input template.zone --now "$T0" --quiet
printf 'secret-1\n' | "$R" --state "$G" registrar add reg1 --name R >/dev/null
"$R" --state "$G" registry --check off >/dev/null
"$R" --state "$G" domain add a.cloud. --zone cloud. --registrar reg1 --ns ns.example.net. >/dev/null
DS1="12345 13 2 $(printf '%064d' 1)"
DS2="23456 13 2 $(printf '%064d' 2)"
check "ds submit" "$R" --state "$G" ds submit --domain a.cloud. --ds "$DS1"
hist() { "$R" --state "$G" domain info a.cloud. | sed -n '/^history:/,$p' | grep -c '^  '; }
h=$(hist)
a=$(wc -l < "$G/audit.log")
out=$("$R" --state "$G" ds submit --domain a.cloud. --ds "$DS1" 2>&1); rc=$?
check_match "the same DS again: exit 0, no change" "^0 no change: DS $DS1 is already published for a\.cloud\.$" "$rc $out"
check_match "... no history line added" "^$h$" "$(hist)"
check_match "... no audit entry added" "^$a$" "$(wc -l < "$G/audit.log")"
check "... and the audit chain holds" "$R" --state "$G" audit verify
check "a new DS beside the stored one is a change" "$R" --state "$G" ds submit --domain a.cloud. --ds "$DS1" --ds "$DS2"
check_match "... recorded in the history" "^$((h + 1))$" "$(hist)"
out=$("$R" --state "$G" domain info a.cloud. --json)
check "domain info --json is valid JSON" valid <<<"$out"
check_match "domain info --json: name, NS, both DS with their fields, history" "^a\.cloud\. ns\.example\.net\. 12345,23456 13 2 $(printf '%064d' 1) False 3$" \
	"$(py '(d["domain"], ",".join(d["ns"]), ",".join(str(x["key_tag"]) for x in d["ds"]), d["ds"][0]["algorithm"],
	d["ds"][0]["digest_type"], d["ds"][0]["digest"], d["ds"][0]["from_dnskey"], len(d["history"]))' <<<"$out")"
check_match "domain --help documents the fields" "from_dnskey" "$("$R" domain --help)"
bad=0
for args in "registry-zone --zone cloud. --out cloud.signed --quiet" "domain info a.cloud." "domain info a.cloud. --json"; do
	# shellcheck disable=SC2086
	out=$("$R" --state "$G" $args --now "$(at 0 1)" 2>&1) || { bad=1; note "$args --now: exit $?" "$out"; }
	if grep -q "unrecognized option" <<<"$out"; then bad=1; note "$args: $out"; fi
done
if [ $bad -eq 0 ]; then pass "registry-zone and domain info take --now"; else fail "--now (registry)"; fi

# --- steps that wait for the key holders ---
if [ ! -r "$MODULE" ]; then
	pass "# SKIP SoftHSM2 missing: key holders not checked"
	finish
	exit
fi
C=$WORK/custody
SH=$WORK/shares
"$R" --state "$C" keystore init --shares-dir "$SH" --holders 2 --threshold 2 >/dev/null 2>&1
"$R" --state "$C" zone add tld. --policy default --input tld.zone --now "$T0" --quiet 2>/dev/null
out=$("$R" --state "$C" sign --zone tld. --out c.signed --now "$T0" 2>&1); rc=$?
check_match "a token nobody activated: sign fails" "^2 " "$rc $out"
check_match "zone list says the zone waits for the key holders, and for what" \
	"^tld\. .*waits for key holders: .*admin activation" "$("$R" --state "$C" zone list --now "$T0" | tail -n +2)"
check_match "key list says so under the table" "^waits for key holders: .*regsign activate" \
	"$("$R" --state "$C" key list --zone tld. --now "$T0" 2>&1 >/dev/null)"
check_match "zone show too" "^custody +waits for key holders" "$("$R" --state "$C" zone show tld. --now "$T0")"
check_match "--json: waiting_for key holders, with the detail" "^key holders .*admin activation.* key holders$" \
	"$("$R" --state "$C" zone list --json | py 'd["zones"][0]["waiting_for"] + " " + d["zones"][0]["waiting_detail"]') $("$R" --state "$C" key list --zone tld. --json --now "$T0" | py 'd["waiting_for"]')"
check_match "a zone with file keys waits for nobody" "^None$" \
	"$("$R" --state "$S" zone list --json | py '[z["waiting_for"] for z in d["zones"] if z["name"] == "tld."][0]')"
act() { "$R" --state "$C" activate --share "$SH/activation-1-of-2.share" --share "$SH/activation-2-of-2.share" "$@"; }
check "the key holders activate, with an admin share" act --admin-share "$SH/admin-1-of-2.share" --for 1h
check_match "zone list: no longer waiting" "^tld\. +default .*FAILED" "$("$R" --state "$C" zone list --now "$T0" | tail -n +2)"
"$R" --state "$C" enforce --now "$T0" --quiet
check "... the keys are made and the zone is signed" "$R" --state "$C" sign --zone tld. --out c.signed --now "$T0" --quiet
check_match "... and it is ok" "^tld\. .* ok$" "$("$R" --state "$C" zone list --now "$T0" | tail -n +2)"
"$R" --state "$C" deactivate >/dev/null
out=$("$R" --state "$C" sign --zone tld. --out c.signed --now "$(at 0 1)" 2>&1)
check_match "deactivated: signing fails as not activated" "not activated" "$out"
check_match "zone list: waits for key holders, as the failure says" "^tld\. .*waits for key holders: .*not activated.*FAILED" \
	"$("$R" --state "$C" zone list --now "$(at 0 1)" | tail -n +2)"

finish
