#!/usr/bin/env bash
# State that goes backwards: key material the state does not know (an intent
# with no key row, stray key files, token objects of a rolled-back state.db)
# is quarantined and reported, never destroyed without the operator; an
# emptied state.db never wipes the token or the key files beside it; every
# command that takes key steps has the clock guard, and a wrong clock's
# traces are reset, audited, with the rollover carrying on correctly.
. "$(dirname "$0")/lib.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so
# Three days ago, so that every signing run below lies in the past of the validators' clock.
T0S=$(( $(date -u +%s) / 3600 * 3600 - 3 * 86400 ))
T0=$(date -u -d "@$T0S" +%Y%m%d%H%M%S)
at() { date -u -d "@$((T0S + $1 * 86400 + ${2:-0} * 3600))" +%Y%m%d%H%M%S; } # at DAYS [HOURS] after T0
# After both parts of issue 13 are in, a state behind its audit log is refused until the operator accepts it.
accept_state() { "$R" --state "$1" audit accept-state --reason "test" >/dev/null 2>&1 || true; }
labels() { # STATE: labels of the public keys in its token, as an independent PKCS#11 client sees them
	SOFTHSM2_CONF=$1/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label regsign --list-objects \
		--type pubkey 2>/dev/null | sed -n 's/^ *label: *//p' | sort
}
privs() { # STATE: how many private keys its token holds (a logged-out client sees none; count the files)
	find "$1"/hsm/tokens -name '*.object' ! -name token.object | wc -l
}
audit_has() { grep -c "action=$2 " "$1/audit.log"; }
re() { printf '%s' "$1" | sed 's/[].+*?()|[^$%]/./g'; } # a locator as a regular expression

cp "$DATA/zones/tld.zone" .
cp "$DATA/policies/fast.yaml" . # rollovers in days rather than months

# --- 1a. no rollback: an intent with no key row, and stray key files (file key store) ---
F=$WORK/files
"$R" --state "$F" keystore init --backend file >/dev/null
"$R" --state "$F" policy import fast.yaml >/dev/null
"$R" --state "$F" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet
# Key files of this zone that no row names: made by another state directory for the same zone.
O=$WORK/other
"$R" --state "$O" keystore init --backend file >/dev/null
"$R" --state "$O" policy import fast.yaml >/dev/null
"$R" --state "$O" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet
mapfile -t extra < <(cd "$O/keys" && ls K*.private | sed 's/\.private$//')
cp "$O/keys/${extra[0]}".* "$O/keys/${extra[1]}".* "$F/keys/"
sqlite3 "$F/state.db" "INSERT INTO key_intent VALUES ('${extra[0]}', 'tld.', $T0S)"
sum0=$(md5sum < "$O/keys/${extra[0]}.private")
out=$("$R" --state "$F" enforce --zone tld. --now "$(at 0 1)" 2>&1)
check_match "an intent with no key row: its material is quarantined and reported, not destroyed" \
	"ALERT: key $(re "${extra[0]}") not in the state \(a key intent with no key row" "$out"
check_match "... a stray key file of the zone too" "ALERT: key $(re "${extra[1]}") not in the state \(no row of the state names it" "$out"
check_match "... its files moved to keys/quarantine/ unchanged, mode 0600" "^$sum0 600 600$" \
	"$(md5sum < "$F/keys/quarantine/${extra[0]}.private") $(stat -c %a "$F/keys/quarantine/${extra[0]}.private" "$F/keys/quarantine/${extra[0]}.key" | tr '\n' ' ' | sed 's/ $//')"
check_match "... none left in keys/" "^0$" "$(ls "$F/keys" | grep -c "${extra[0]}\|${extra[1]}")"
check_match "... no key-destroy in the audit log, a key-quarantine per key" "^0 2$" \
	"$(audit_has "$F" key-destroy) $(audit_has "$F" key-quarantine)"
check_match "... naming locator and why" "action=key-quarantine zone=tld\. .*$(re "${extra[0]}").*a key intent with no key row" \
	"$(grep key-quarantine "$F/audit.log")"
check "... and the audit chain is intact" "$R" --state "$F" audit verify
list=$("$R" --state "$F" key quarantine list)
check_match "key quarantine list shows both" "^tld\. .*$(re "${extra[0]}"): a key intent.*tld\. .*$(re "${extra[1]}"): no row.*2 quarantined key\(s\)$" \
	"$(printf '%s' "$list" | tr '\n' ' ')"
check "a second run finds nothing new" "$R" --state "$F" enforce --zone tld. --now "$(at 0 2)" --quiet
check_match "... nothing quarantined twice" "^2$" "$(audit_has "$F" key-quarantine)"
check_exit 2 "destroy without a reason is refused" "$R" --state "$F" key quarantine destroy "${extra[0]}"
check_exit 2 "an unknown locator is refused" "$R" --state "$F" key quarantine destroy Ktld.+013+00001 --reason x
check "the operator destroys one" "$R" --state "$F" key quarantine destroy "${extra[0]}" --reason "made by a test state"
check_match "... its files are gone" "^0$" "$(ls "$F/keys/quarantine" | grep -c "${extra[0]}")"
check_match "... audited as key-destroy with the reason" "action=key-destroy zone=tld\. .*$(re "${extra[0]}").*reason: made by a test state" \
	"$(tail -1 "$F/audit.log")"
check "the operator puts the other back" "$R" --state "$F" key quarantine release "${extra[1]}"
check_match "... its files are back in keys/" "^2$" "$(ls "$F/keys" | grep -c "${extra[1]}")"
check_match "... audited as key-release" "action=key-release zone=tld\. .*$(re "${extra[1]}")" "$(tail -1 "$F/audit.log")"
check_match "... the list is empty" "^0 quarantined key\(s\)$" "$("$R" --state "$F" key quarantine list)"
# A kill between a quarantine's commit and the move: its row is there, its files still in keys/.
sqlite3 "$F/state.db" "INSERT INTO quarantine VALUES ('${extra[1]}', 'tld.', $T0S, '', 'no row of the state names it')"
out=$("$R" --state "$F" enforce --zone tld. --now "$(at 0 3)" 2>&1)
check_match "an interrupted quarantine is finished by the next run" "quarantined key $(re "${extra[1]}") set aside: an interrupted run" "$out"
check_match "... its files moved to keys/quarantine/" "^0 2$" \
	"$(ls "$F/keys" | grep -c "${extra[1]}") $(ls "$F/keys/quarantine" | grep -c "${extra[1]}")"
check_match "... and it is quarantined once" "^1 quarantined key\(s\)$" "$("$R" --state "$F" key quarantine list | tail -1)"

# --- 1b. a rolled-back state.db and a published ZSK in the token (the embedded default) ---
S=$WORK/state
"$R" --state "$S" policy import fast.yaml >/dev/null
"$R" --state "$S" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet
for d in 0 1; do for h in 0 4 8 12 16 20; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at $d $h)" --quiet; done; done
cp "$S/state.db" old.db
# The ZSK rollover: the new ZSK is made and published.
for h in 0 4; do "$R" --state "$S" sign --zone tld. --out tld.signed --now "$(at 2 $h)" --quiet; done
new=$("$R" --state "$S" key list --zone tld. --json --now "$(at 2 4)" |
	python3 -c 'import json,sys; ks=json.load(sys.stdin)["keys"]; z=[k for k in ks if k["role"]=="zsk"]; z.sort(key=lambda k: k["created"]); print(z[-1]["tag"], z[-1]["locator"])')
tag=${new%% *}
loc=${new#* }
check_match "the new ZSK is in the published DNSKEY set" "dnskey=([0-9]+,)*$tag[,) ]" \
	"$(grep 'action=sign ' "$S/audit.log" | tail -1)"
before=$(privs "$S")
# The state goes back to the copy, taken (as a hot copy can be) while the run that made the ZSK was under way.
cp old.db "$S/state.db"
rm -f "$S/state.db-wal" "$S/state.db-shm"
sqlite3 "$S/state.db" "INSERT INTO key_intent VALUES ('$loc', 'tld.', $((T0S + 2 * 86400)))"
accept_state "$S"
out=$("$R" --state "$S" enforce --zone tld. --now "$(at 2 5)" 2>&1)
check_match "after the rollback the published ZSK is quarantined and reported" "ALERT: key $(re "$loc") 'tld\. zsk $tag " "$out"
made=$(printf '%s\n' "$out" | grep -c ': created (')
check_match "... its private key is still in the token (no object destroyed)" "^$((before + 2 * made))$" "$(privs "$S")"
check_match "... relabelled for the operator" "^quarantine tld\. zsk $tag ECDSAP256SHA256$" "$(labels "$S" | grep "zsk $tag")"
check_match "... no key-destroy recorded for it" "^$" "$(grep 'action=key-destroy' "$S/audit.log" | grep -F "$loc")"
check_match "... key quarantine list names it" "tld\. .*$(re "$loc") 'tld\. zsk $tag " \
	"$("$R" --state "$S" key quarantine list)"
check_match "... and keystore list shows it as quarantined, not as a stray" "^tld\. +- +- +- +quarantined +$(re "$loc")$" \
	"$("$R" --state "$S" keystore list | grep -F "$loc")"
# The same kill in the token: the row is there, the object still labelled as a key of the zone.
row=$(sqlite3 "$S/state.db" "SELECT quote(zone), time, quote(label), quote(why) FROM quarantine WHERE locator = '$loc'" | tr '|' ',')
"$R" --state "$S" key quarantine release "$loc" >/dev/null
sqlite3 "$S/state.db" "INSERT INTO quarantine VALUES ('$loc', $row)"
check_match "(the object is labelled as a key of the zone again)" "^tld\. zsk $tag ECDSAP256SHA256$" "$(labels "$S" | grep "zsk $tag")"
out=$("$R" --state "$S" enforce --zone tld. --now "$(at 2 6)" 2>&1)
check_match "an interrupted quarantine in the token is finished by the next run" "quarantined key $(re "$loc") set aside" "$out"
check_match "... relabelled for the operator" "^quarantine tld\. zsk $tag ECDSAP256SHA256$" "$(labels "$S" | grep "zsk $tag")"
# A kill inside C_GenerateKeyPair: SoftHSM2 has made an object but not yet written its id and label.
# pkcs11-tool writes a public key object with neither, which is what regsign takes for such a shell.
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout -outform DER -out shell.der 2>/dev/null
SOFTHSM2_CONF=$S/hsm/softhsm2.conf pkcs11-tool --module "$MODULE" --token-label regsign --write-object shell.der \
	--type pubkey >/dev/null 2>&1
cut=pkcs11:id=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')
sqlite3 "$S/state.db" "INSERT INTO key_intent VALUES ('$cut', 'tld.', $((T0S + 2 * 86400)))"
check_match "(the token holds an object with no label)" "^1$" "$(labels "$S" | grep -c '^$')"
out=$("$R" --state "$S" enforce --zone tld. --now "$(at 2 6)" 2>&1)
check_match "the object an interrupted generation left half-made is set aside with its intent's locator" \
	"ALERT: key $(re "$cut") 'tld\. new \(an interrupted key generation\)' not in the state.*half-made" "$out"
check_match "... labelled for the operator, nothing unnamed left" "^0 1$" \
	"$(labels "$S" | grep -c '^$') $(labels "$S" | grep -c '^quarantine tld\. new (an interrupted key generation)$')"
check_match "... with that locator's id" "^$(printf '%s' "${cut#pkcs11:id=}" | tr -d '%')$" "$(SOFTHSM2_CONF=$S/hsm/softhsm2.conf \
	pkcs11-tool --module "$MODULE" --token-label regsign --list-objects --type pubkey 2>/dev/null |
	grep -A3 'label: *quarantine tld\. new' | sed -n 's/^ *ID: *//p')"
check_match "... and listed" "$(re "$cut") 'tld\. new \(an interrupted key generation\)'" "$("$R" --state "$S" key quarantine list)"

# --- 1c. an emptied state.db never wipes the token or the key files ---
tokfiles=$(find "$S/hsm" -type f | sort | xargs md5sum | md5sum)
rm -f "$S"/state.db*
# With the audit log's check, the new empty state.db (made by the first command) is refused until accepted.
"$R" --state "$S" policy import fast.yaml >/dev/null 2>&1
accept_state "$S"
"$R" --state "$S" policy import fast.yaml >/dev/null
out=$("$R" --state "$S" zone add tld. --policy fast --input tld.zone --now "$(at 2 6)" 2>&1); rc=$?
check_match "zone add beside a token with keys and no state is refused, saying what and what to do" \
	"^2 .*hsm' holds a SoftHSM2 token with [0-9]+ key object\(s\).*restore state\.db from a backup, or move .* away" \
	"$rc $(grep -v '^regsign: warning:' <<<"$out")"
check_match "... the token is untouched" "^$tokfiles$" "$(find "$S/hsm" -type f | sort | xargs md5sum | md5sum)"
check_exit 2 "... and the zone was not added" "$R" --state "$S" zone show tld.
filekeys=$(ls "$F/keys" | sort | md5sum)
rm -f "$F"/state.db*
# With the audit log's check, the new empty state.db (made by the first command) is refused until accepted.
"$R" --state "$F" policy import fast.yaml >/dev/null 2>&1
accept_state "$F"
"$R" --state "$F" policy import fast.yaml >/dev/null
out=$("$R" --state "$F" zone add tld. --policy fast --input tld.zone --now "$(at 2 6)" 2>&1); rc=$?
check_match "zone add beside key files no row names is refused too" \
	"^2 .*keys' holds [0-9]+ key file\(s\) the state does not know.*restore state\.db from a backup" \
	"$rc $(grep -v '^regsign: warning:' <<<"$out")"
check_match "... the key files are untouched" "^$filekeys$" "$(ls "$F/keys" | sort | md5sum)"

# --- 2. the clock guard of every key step, and a reset after a wrong clock ---
C=$WORK/clock
"$R" --state "$C" policy import fast.yaml >/dev/null
"$R" --state "$C" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet
for h in 0 4 8 12 16 20; do "$R" --state "$C" sign --zone tld. --out c.signed --now "$(at 0 $h)" --quiet; done
keys=$("$R" --state "$C" key list --zone tld. --now "$(at 0 20)")
far=$(date -u -d "@$((T0S + 3650 * 86400))" +%Y%m%d%H%M%S)
out=$(REGSIGN_NOW=$far "$R" --state "$C" enforce --zone tld. 2>&1); rc=$?
check_match "enforce by a clock ten years ahead is refused" "^2 .*clock is .* ahead of the last (key step|signing run).*clock\.max-jump" "$rc $out"
check "... no key step was taken" test "$keys" = "$("$R" --state "$C" key list --zone tld. --now "$(at 0 20)")"
check_exit 2 "... rollover by that clock too" env REGSIGN_NOW=$far "$R" --state "$C" rollover --zone tld. --zsk --quiet
check_exit 2 "... ds-seen by that clock too" env REGSIGN_NOW=$far "$R" --state "$C" ds-seen --zone tld. \
	--key "$(printf '%s' "$keys" | awk '$2 == "ksk" {print $1}')"
check_exit 2 "... and sign" env REGSIGN_NOW=$far "$R" --state "$C" sign --zone tld. --out c.signed --quiet
check "... with nothing recorded but refusals" test "$keys" = "$("$R" --state "$C" key list --zone tld. --now "$(at 0 20)")"
# A clock 20 hours ahead (within clock.max-jump) runs for a day of that clock's time.
for h in 16 20 24; do REGSIGN_NOW=$(at 1 $h) "$R" --state "$C" sign --zone tld. --out c.signed --quiet; done
out=$("$R" --state "$C" sign --zone tld. --out c.signed --now "$(at 1 4)" 2>&1); rc=$?
check_match "afterwards the right clock is refused" "^2 .*(before the last enforcement|behind the last signing run)" "$rc $out"
check_exit 2 "clock-reset needs a reason" "$R" --state "$C" zone clock-reset --zone tld. --now "$(at 1 4)"
check "zone clock-reset at the right time" "$R" --state "$C" zone clock-reset --zone tld. --reason "ntp was off by 20h" --now "$(at 1 4)"
check_match "... audited with what changed and why" \
	"action=clock-reset zone=tld\. .*clock reset to $(at 1 4) \(latest run was dated $(at 2 0)\): [1-9][0-9]* zone time\(s\) and [0-9]+ time\(s\) of [0-9]+ key\(s\).*reason: ntp was off by 20h" \
	"$(grep clock-reset "$C/audit.log")"
future=$("$R" --state "$C" key list --zone tld. --json --now "$(at 1 4)" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ts = [v for k in d["keys"] for f, v in k.items() if f in ("created", "published", "active", "retired", "removed", "backup") and v]
ts += [r["since"] for k in d["keys"] for r in k["records"].values() if r.get("since")]
print(sum(1 for t in ts if t > d["now"]))')
check_match "... no key time lies in the future any more" "^0$" "$future"
check "the right clock signs again, without --force-clock" "$R" --state "$C" sign --zone tld. --out c.signed --now "$(at 1 4)"
check "... and by the clock itself" env REGSIGN_NOW="$(at 1 5)" "$R" --state "$C" sign --zone tld. --out c.signed --quiet
# The ZSK rollover carries on from there: every version validates, and the old ZSK leaves only after the new one's
# DNSKEY and signatures had their full waits counted from the reset.
bad=0
steps=""
for h in $(seq 8 4 44); do
	t=$(at 1 $h)
	out=$("$R" --state "$C" sign --zone tld. --out c.signed --now "$t" 2>&1) || bad=$((bad + 1))
	steps="$steps$out"$'\n'
	"$R" verify c.signed --origin tld. --time "$t" --quiet >/dev/null 2>&1 || bad=$((bad + 1))
	ldns-verify-zone c.signed >/dev/null 2>&1 || bad=$((bad + 1))
done
check_match "a day and a half of signing after the reset: every run and every version validates" "^0$" "$bad"
list=$("$R" --state "$C" key list --zone tld. --now "$(at 1 44)")
check_match "... the new ZSK took over" "zsk +ECDSAP256SHA256 +active +omnipresent +hidden +omnipresent" "$list"
check_match "... and the old one was withdrawn and removed" "zsk: removed|removed: key material to be destroyed" "$steps"
first_removed=$(printf '%s' "$steps" | grep -m1 'zsk .*DNSKEY unretentive' | awk '{print $1}')
new_signs=$(printf '%s' "$steps" | grep -m1 'zsk .*ZRRSIG omnipresent' | awk '{print $1}')
check_match "... the old DNSKEY went only after the new signatures were everywhere" "^1$" \
	"$([ -n "$first_removed" ] && [ -n "$new_signs" ] && [ "$first_removed" -ge "$new_signs" ] && echo 1)"
validate "after the rollover" c.signed tld.

finish
