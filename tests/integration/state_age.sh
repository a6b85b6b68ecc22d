#!/usr/bin/env bash
# A state that goes backwards is noticed: a state database older than its
# audit log (put back from a copy, its WAL lost, emptied) or apart from it is
# refused by every command until an operator puts the newest one back or
# accepts it (audited), and a serial once published is never published again.
# A state directory others may write is refused too.
. "$(dirname "$0")/lib.sh"

S=$WORK/state
T0=$(date -u +%Y%m%d%H0000)
T0S=$(date -u -d "${T0:0:8} ${T0:8:2}:00" +%s)
at() { date -u -d "@$((T0S + $1 * 3600))" +%Y%m%d%H%M%S; } # at HOURS after T0
cat > tld.zone <<'EOF'
$ORIGIN tld.
$TTL 600
@	IN SOA	ns1 hostmaster 2026010101 7200 3600 1209600 600
@	NS	ns1
ns1	A	192.0.2.1
sub	NS	ns.sub
ns.sub	A	192.0.2.10
EOF
cp "$DATA/policies/fast.yaml" . # rollovers in days rather than months
"$R" --state "$S" keystore init --backend file >/dev/null
"$R" --state "$S" policy import fast.yaml >/dev/null
"$R" --state "$S" zone add tld. --policy fast --input tld.zone --now "$T0" --quiet
mkdir -p out
sign() { "$R" --state "$S" sign --zone tld. --out "out/$1" --now "$2" --quiet; }
serial() { awk '$4 == "SOA" {print $7; exit}' "out/$1"; }
check "first publication" sign a.signed "$(at 1)"
first=$(serial a.signed)
cp "$S/state.db" old.db # no process has it open: everything is in state.db itself
cp -a "$S" "$WORK/fork"
check "a second publication" sign b.signed "$(at 2)"
mid=$(serial b.signed)
check "a third, with key steps" sign b.signed "$(at 8)"
last=$(serial b.signed)
check_match "three serials, one after the other" "^$((first + 1)) $((first + 2))$" "$mid $last"
entries=$(wc -l < "$S/audit.log")
log_sum=$(sha256sum < "$S/audit.log")
out_sum=$(sha256sum < out/b.signed)

# --- the state database put back from the copy, its WAL gone ---
cp old.db "$S/state.db" && rm -f "$S/state.db-wal" "$S/state.db-shm"
out=$(sign b.signed "$(at 9)" 2>&1); rc=$?
check_match "sign --zone on a state behind its log is refused, naming both heads and what to do" \
	"^2 .*state\.db is behind its audit log: the state's last entry is [0-9]+ \([0-9a-f]{16}\), the log's $entries \([0-9a-f]{16}\).*put back the newest state\.db.*audit accept-state --reason" \
	"$rc $out"
check_match "... nothing was published" "^$out_sum$" "$(sha256sum < out/b.signed)"
check_match "... and nothing appended to the log" "^$log_sum$" "$(sha256sum < "$S/audit.log")"
for cmd in "enforce --zone tld." "key list --zone tld." "zone list" "zone show tld." "ds-seen --zone tld. --key 1"; do
	out=$("$R" --state "$S" $cmd --now "$(at 9)" 2>&1); rc=$?
	check_match "'$cmd' is refused too" "^2 .*behind its audit log" "$rc $out"
done
printf 'poll: 1s\nlisten: 127.0.0.1@%s\n' "$((20000 + RANDOM % 20000))" > serve.conf
out=$(timeout 20 "$R" --state "$S" serve --config serve.conf 2>&1); rc=$?
check_match "the daemon does not start on it" "^2 .*behind its audit log" "$rc $out"
out=$("$R" --state "$S" audit verify 2>&1); rc=$?
check_match "audit verify says the state is behind, not that it matches" "^1 .*behind its audit log" "$rc $out"
check "audit show still shows the log" "$R" --state "$S" audit show --tail 1
check_match "... all of it still there" "^$log_sum$" "$(sha256sum < "$S/audit.log")"
check_exit 2 "accepting it needs a reason" "$R" --state "$S" audit accept-state --reason ""
check_match "the operator keeps this state" "^state accepted" \
	"$("$R" --state "$S" audit accept-state --reason "WAL lost on the old disk; checked the zones" 2>&1)"
check_match "... which is audited, with both heads and the serials published meanwhile" \
	"action=audit-accept-state .*last entry [0-9]+ [0-9a-f]{16}, the log's $entries [0-9a-f]{16}\), is kept: WAL lost.*serials published meanwhile: tld\. $last" \
	"$(tail -1 "$S/audit.log")"
check "the chain verifies again" "$R" --state "$S" audit verify
check_exit 2 "there is nothing more to accept" "$R" --state "$S" audit accept-state --reason "again"
check "the next publication, to a file the state never wrote" sign c.signed "$(at 9)"
check_match "... takes a serial above every one published (a repeat would be $((first + 1)))" "^$((last + 1))$" \
	"$(serial c.signed)"
check "enforce works again" "$R" --state "$S" enforce --zone tld. --now "$(at 10)" --quiet

# --- a state database from another history: it and the log part ---
"$R" --state "$WORK/fork" sign --zone tld. --out "$WORK/fork.signed" --now "$(at 3)" --quiet
fork_entry=$(tail -1 "$WORK/fork/audit.log" | sed 's/ prev=.*//')
cp "$WORK/fork/state.db" "$S/state.db" && rm -f "$S/state.db-wal" "$S/state.db-shm"
out=$(sign c.signed "$(at 11)" 2>&1); rc=$?
check_match "a state apart from the log is refused" "^2 .*state\.db is (apart from|behind) its audit log" "$rc $out"
check "the operator keeps it" "$R" --state "$S" audit accept-state --reason "the fork is the one to keep"
check_match "the entry only that state held is in the log again, quoted" \
	"action=audit-reentry .*an entry of the state database the log does not hold: ${fork_entry:0:40}" \
	"$(grep audit-reentry "$S/audit.log")"
check "... and the chain verifies" "$R" --state "$S" audit verify

# --- an emptied state database next to its log ---
keys_before=$(ls "$S/keys" | sort | sha256sum)
rm -f "$S"/state.db*
out=$("$R" --state "$S" zone add tld. --policy default --input tld.zone --now "$(at 12)" 2>&1); rc=$?
check_match "zone add on a new, empty state next to the old log is refused" \
	"^2 .*behind its audit log: the state's last entry is 0 \(none\)" "$rc $out"
check_match "... and the old keys are all still there" "^$keys_before$" "$(ls "$S/keys" | sort | sha256sum)"

# --- a state directory others may write ---
M=$WORK/modes
"$R" --state "$M" keystore init --backend file >/dev/null
"$R" --state "$M" zone add tld. --policy default --input tld.zone --now "$T0" --quiet
for part in "" /state.db /keys /audit.log; do
	chmod g+w "$M$part"
	out=$("$R" --state "$M" zone list 2>&1); rc=$?
	check_match "a state whose ${part:-directory} its group may write is refused, saying what to do" \
		"^2 .*'$M$part' is writable by its group \(mode 0[67][0-7]{2}\).*chmod go-w" "$rc $out"
	chmod g-w "$M$part"
done
chmod o+w "$M/state.db"
out=$("$R" --state "$M" sign --zone tld. --out "$WORK/m.signed" --now "$(at 1)" 2>&1); rc=$?
check_match "... so is one others may write, before anything is signed" "^2 .*writable by others" "$rc $out"
check "... and nothing was" test ! -e "$WORK/m.signed"
chmod o-w "$M/state.db"
check "with the modes right it works" "$R" --state "$M" sign --zone tld. --out "$WORK/m.signed" --now "$(at 1)" --quiet

finish
