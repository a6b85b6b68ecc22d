#!/usr/bin/env bash
# The published example signatures of RFC 5702 (RSASHA256, RSASHA512) and
# RFC 8080 (Ed25519), reproduced exactly through 'regsign sign'.
. "$(dirname "$0")/lib.sh"

mkdir -p k5702 k8080
cat > k5702/Kexample.net.+008+09033.key <<'K'
example.net. 3600 IN DNSKEY 256 3 8 AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=
K
cat > k5702/Kexample.net.+008+09033.private <<'K'
Private-key-format: v1.2
Algorithm: 8 (RSASHA256)
Modulus: wVwaxrHF2CK64aYKRUibLiH30KpPuPBjel7E8ZydQW1HYWHfoGmidzC2RnhwCC293hCzw+TFR2nqn8OVSY5t2Q==
PublicExponent: AQAB
PrivateExponent: UR44xX6zB3eaeyvTRzmskHADrPCmPWnr8dxsNwiDGHzrMKLN+i/HAam+97HxIKVWNDH2ba9Mf1SA8xu9dcHZAQ==
Prime1: 4c8IvFu1AVXGWeFLLFh5vs7fbdzdC6U82fduE6KkSWk=
Prime2: 2zZpBE8ZXVnL74QjG4zINlDfH+EOEtjJJ3RtaYDugvE=
Exponent1: G2xAPFfK0KGxGANDVNxd1K1c9wOmmJ51mGbzKFFNMFk=
Exponent2: GYxP1Pa7CAwtHm8SAGX594qZVofOMhgd6YFCNyeVpKE=
Coefficient: icQdNRjlZGPmuJm2TIadubcO8X7V4y07aVhX464tx8Q=
K
cat > k5702/Kexample.net.+010+03740.key <<'K'
example.net. 3600 IN DNSKEY 256 3 10 AwEAAdHoNTOW+et86KuJOWRDp1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOnD9u/1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpztNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL
K
cat > k5702/Kexample.net.+010+03740.private <<'K'
Private-key-format: v1.2
Algorithm: 10 (RSASHA512)
Modulus: 0eg1M5b563zoq4k5ZEOnWmd2/BvpjzedJVdfIsDcMuuhE5SQ3pfQ7qmdaeMlC6Nf8DKGoUPGPXe06cP27/WRODtxXquSUytkO0kJDk8KX8PtA0+yBWwy7UnZDyCkynO00Uuk8HPVtZeMO1pHtlAGVnc8VjXZlNKdyit99waaE4s=
PublicExponent: AQAB
PrivateExponent: rFS1IPbJllFFgFc33B5DDlC1egO8e81P4fFadODbp56V7sphKa6AZQCx8NYAew6VXFFPAKTw41QdHnK5kIYOwxvfFDjDcUGza88qbjyrDPSJenkeZbISMUSSqy7AMFzEolkk6WSn6k3thUVRgSlqDoOV3SEIAsrB043XzGrKIVE=
Prime1: 8mbtsu9Tl9v7tKSHdCIeprLIQXQLzxlSZun5T1n/OjvXSUtvD7xnZJ+LHqaBj1dIgMbCq2U8O04QVcK3TS9GiQ==
Prime2: 3a6gkfs74d0Jb7yL4j4adAif4fcp7ZrGt7G5NRVDDY/Mv4TERAKMa0TKN3okKE0A7X+Rv2K84mhT4QLDlllEcw==
Exponent1: v3D5A9uuCn5rgVR7wgV8ba0/KSpsdSiLgsoA42GxiB1gvvs7gJMMmVTDu/ZG1p1ZnpLbhh/S/Qd/MSwyNlxC+Q==
Exponent2: m+ezf9dsDvYQK+gzjOLWYeKq5xWYBEYFGa3BLocMiF4oxkzOZ3JPZSWU/h1Fjp5RV7aPP0Vmx+hNjYMPIQ8Y5w==
Coefficient: Je5YhYpUron/WdOXjxNAxDubAp3i5X7UOUfhJcyIggqwY86IE0Q/Bk0Dw4SC9zxnsimmdBXW2Izd8Lwuk8FQcQ==
K
cat > k8080/Kexample.com.+015+03613.key <<'K'
example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=
K
cat > k8080/Kexample.com.+015+03613.private <<'K'
Private-key-format: v1.2
Algorithm: 15 (ED25519)
PrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=
K
cat > k8080/Kexample.com.+015+35217.key <<'K'
example.com. 3600 IN DNSKEY 257 3 15 zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=
K
cat > k8080/Kexample.com.+015+35217.private <<'K'
Private-key-format: v1.2
Algorithm: 15 (ED25519)
PrivateKey: DSSF3o0s0f+ElWzj9E/Osxw8hLpk55chkmx0LYN5WiY=
K

cat > net.zone <<'Z'
example.net. 3600 IN SOA ns.example.net. admin.example.net. 1 3600 900 604800 3600
example.net. 3600 IN NS ns.example.net.
www.example.net. 3600 IN A 192.0.2.91
Z
cat > com.zone <<'Z'
example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 3600 900 604800 3600
example.com. 3600 IN NS ns.example.com.
example.com. 3600 IN MX 10 mail.example.com.
Z

# rrsig OWNER TYPE TAG FILE: the signature field of the RRSIG over TYPE by TAG.
rrsig() { awk -v o="$1" -v t="$2" -v k="$3" '$1 == o && $4 == "RRSIG" && $5 == t && $11 == k { print $13 }' "$4"; }

# RFC 5702 6.1 and 6.2: two ZSKs, no KSK, so each signs everything.
for alg in 8 10; do
	rm -rf kk && mkdir kk && cp k5702/*+0$(printf %02d $alg)+* kk/
	check "RFC 5702 alg $alg: sign" "$R" sign net.zone --origin example.net. --keys kk --out net$alg.signed \
		--inception 20000101000000 --expiration 20300101000000 --quiet
done
check_match "RFC 5702 6.1 RSASHA256 signature reproduced" \
	'^kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==$' \
	"$(rrsig www.example.net. A 9033 net8.signed)"
check_match "RFC 5702 6.2 RSASHA512 signature reproduced" \
	'^tsb4wnjRUDnB1BUi\+t6TMTXThjVnG\+eCkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYgZBWm/zpq\+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw=$' \
	"$(rrsig www.example.net. A 3740 net10.signed)"

# RFC 8080 6.1 and 6.2 (signatures as corrected by erratum 4935: labels 2).
for tag in 03613 35217; do
	rm -rf kk && mkdir kk && cp k8080/*+$tag.* kk/
	check "RFC 8080 key $tag: sign" "$R" sign com.zone --origin example.com. --keys kk --out com$tag.signed \
		--inception 1438207200 --expiration 1440021600 --quiet
done
check_match "RFC 8080 6.1 Ed25519 signature reproduced" \
	'^oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD\+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==$' \
	"$(rrsig example.com. MX 3613 com03613.signed)"
check_match "RFC 8080 6.2 Ed25519 signature reproduced" \
	'^zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k2pcBg==$' \
	"$(rrsig example.com. MX 35217 com35217.signed)"
check_match "RFC 8080 6.1 DS record" \
	'3613[[:space:]]+15[[:space:]]+2[[:space:]]+3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B' \
	"$("$R" ds --keys k8080 --origin example.com. 2>&1)"
finish
