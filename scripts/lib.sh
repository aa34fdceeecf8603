# Shared by the scripts in this folder. Source it; it defines ensure_go.

# The Go lvsctl builds with: at least the go.mod version. When the machine has
# none (Debian 12's golang-go is 1.19), the official toolchain is fetched as a
# module from the Go module proxy (golang.org/toolchain, what GOTOOLCHAIN=auto
# does in newer Go), with Debian's Go only as the downloader.
GO_MIN_MINOR=25
GO_FETCH=go1.25.5

go_ok() {
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "${v%%.*}" -gt 1 ] || [ "$(echo "$v" | cut -d. -f2)" -ge "$GO_MIN_MINOR" ]
}

ensure_go() {
	local cand
	for cand in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go; do
		if [ -n "$cand" ] && [ -x "$cand" ] && go_ok "$cand"; then
			GO=$cand
			return
		fi
	done
	echo "lvsctl: no Go 1.$GO_MIN_MINOR or newer here; fetching $GO_FETCH from the Go module proxy" >&2
	if ! command -v go >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
	fi
	local arch dir
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) echo "lvsctl: no Go toolchain for $(uname -m)" >&2; exit 1 ;;
	esac
	dir=$(cd / && GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-$GO_FETCH.linux-$arch" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[ -n "$dir" ] || { echo "lvsctl: could not fetch $GO_FETCH" >&2; exit 1; }
	# Module zips carry no file modes; make the toolchain's programs runnable.
	chmod -R u+w "$dir" && chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
	GO=$dir/bin/go
	go_ok "$GO" || { echo "lvsctl: fetched toolchain does not run" >&2; exit 1; }
}
