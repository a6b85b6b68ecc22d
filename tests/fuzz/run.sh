#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for a bounded
# time on the seed corpus; TAP output. FUZZ_SECONDS sets the time (default 60).
set -u
SRC=${SRCDIR:?}
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=$(mktemp -d /tmp/regsign-fuzz.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
n=0
failed=0
if ! command -v clang >/dev/null; then
	echo "1..0 # SKIP clang is not installed"
	exit 0
fi
# The shipped policies and EPP schemas are compiled in, as the Meson build does.
if ! cc -o "$OUT/embed" "$SRC/tools/embed.c" ||
	! "$OUT/embed" "$OUT/builtin_policies.c" rs_builtin_policies "$SRC"/policies/*.yaml ||
	! "$OUT/embed" "$OUT/epp_schemas.c" rs_epp_schemas "$SRC"/schemas/*.xsd; then
	echo "1..1"
	echo "not ok 1 - the shipped policies and schemas can be embedded"
	exit 1
fi
for target in "$SRC"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$target" .c)
	n=$((n + 1))
	if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -DREGSIGN_VERSION='"fuzz"' \
		-DRS_P11_MODULE_DIR="\"$(pkg-config --variable=p11_module_path p11-kit-1)\"" -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I"$SRC/include" "$target" \
		$(find "$SRC/src/lib" -name '*.c') "$OUT/builtin_policies.c" "$OUT/epp_schemas.c" \
		$(pkg-config --cflags --libs libzscanner libknot libssl libcrypto libsodium yaml-0.1 sqlite3 ldns \
			p11-kit-1 libxml-2.0 gpgme) -lunbound -lpthread \
		-o "$OUT/$name" 2> "$OUT/$name.build"; then
		echo "not ok $n - $name builds"
		sed 's/^/# /' "$OUT/$name.build" | head -20
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$OUT/corpus-$name"
	if [ "$name" = fuzz_policy ]; then
		cp "$SRC"/policies/*.yaml "$SRC"/tests/data/policies/bad/*.yaml "$OUT/corpus-$name/"
	elif [ "$name" = fuzz_custody ]; then
		cp "$SRC"/tests/fuzz/custody/* "$OUT/corpus-$name/"
	elif [ "$name" = fuzz_epp ]; then
		cp "$SRC"/tests/fuzz/epp/* "$OUT/corpus-$name/"
	else
		cp "$SRC"/tests/fuzz/corpus/* "$SRC"/tests/data/zones/*.zone "$SRC"/tests/data/bad/*.zone \
			"$SRC"/tests/data/zonemd/*.zone "$OUT/corpus-$name/" 2>/dev/null
	fi
	if "$OUT/$name" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$OUT/" "$OUT/corpus-$name" > "$OUT/$name.log" 2>&1; then
		runs=$(grep -o 'Done [0-9]* runs' "$OUT/$name.log" | tail -1)
		echo "ok $n - $name: no crash in ${SECONDS_EACH}s ($runs)"
	else
		echo "not ok $n - $name found a crash"
		grep -E 'ERROR|SUMMARY|runtime error' "$OUT/$name.log" | head -10 | sed 's/^/# /'
		for a in "$OUT"/crash-* "$OUT"/leak-* "$OUT"/timeout-*; do
			[ -e "$a" ] && echo "# input: $(base64 -w0 < "$a" | head -c 600)"
		done
		failed=$((failed + 1))
	fi
done
echo "1..$n"
[ $failed -eq 0 ]
