# Shared by the scripts in this folder. Source it; it defines ensure_go and
# run_govulncheck.

# The Go lvsctl builds with: at least GO_MIN, the first release of the minor
# version go.mod names with no known vulnerability reachable from lvsctl
# (govulncheck, database of 2026-11-05: go1.26.8 has some, go1.26.10 none).
# When the machine has no such Go (Debian 12's golang-go is 1.19; a machine
# may have an older patch release), the official toolchain is fetched as a
# module from the Go module proxy (golang.org/toolchain, what GOTOOLCHAIN=auto
# does), with the machine's Go (or Debian's) only as the downloader.
GO_MIN=1.26.10
GO_FETCH=go$GO_MIN

# go_ok GO: GO runs and is at least GO_MIN (a release, not a devel build).
go_ok() {
	local v
	v=$("$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	v=${v%%[-+ ]*}
	case "$v" in *rc* | *beta* | "") return 1 ;; esac
	[ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -n1)" = "$GO_MIN" ]
}

ensure_go() {
	local cand
	for cand in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go; do
		if [ -n "$cand" ] && [ -x "$cand" ] && go_ok "$cand"; then
			GO=$cand
			use_go
			return
		fi
	done
	echo "lvsctl: no Go $GO_MIN or newer here; fetching $GO_FETCH from the Go module proxy" >&2
	local dl=go
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		dl=/usr/local/go/bin/go
	elif ! command -v go >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
	fi
	local arch dir
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) echo "lvsctl: no Go toolchain for $(uname -m)" >&2; exit 1 ;;
	esac
	dir=$(cd / && GOFLAGS=-mod=mod GOTOOLCHAIN=local $dl mod download -json "golang.org/toolchain@v0.0.1-$GO_FETCH.linux-$arch" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	[ -n "$dir" ] || { echo "lvsctl: could not fetch $GO_FETCH" >&2; exit 1; }
	# Module zips carry no file modes; make the toolchain's programs runnable.
	chmod -R u+w "$dir" && chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
	GO=$dir/bin/go
	go_ok "$GO" || { echo "lvsctl: fetched toolchain does not run" >&2; exit 1; }
	use_go
}

# use_go puts $GO first on PATH, so that everything the tests build (the
# binaries they run, the VM lab's programs) is built by it too.
use_go() {
	PATH="$(dirname "$GO"):$PATH"
	export PATH
	export GOTOOLCHAIN=local
}

# Versions of the vulnerability checker and of the snapshot of its database
# that is used when vuln.go.dev cannot be reached (both from the module proxy).
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_SNAPSHOT=v0.0.0-20261105234957-e22db6528018

# run_govulncheck checks the packages for known vulnerabilities reachable from
# lvsctl, in the standard library of $GO and in every module. The database is
# vuln.go.dev when it answers, else the golang.org/x/vulndb snapshot above,
# indexed here. With neither, it says so plainly and returns 0: a check that
# could not run is reported, never passed off as a pass.
run_govulncheck() {
	local db=""
	if command -v curl >/dev/null 2>&1 && curl -fsS --max-time 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then
		echo "== govulncheck: database vuln.go.dev (current)"
	else
		local src out=${LVSCTL_VULNDB_CACHE:-/var/cache/lvsctl-vulndb}/$VULNDB_SNAPSHOT
		if [ ! -f "$out/index/modules.json" ]; then
			src=$(cd / && GOFLAGS=-mod=mod $GO mod download -json "golang.org/x/vulndb@$VULNDB_SNAPSHOT" 2>/dev/null |
				sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p') || true
			if [ -n "$src" ] && [ -d "$src/data/osv" ]; then
				mkdir -p "$(dirname "$out")"
				rm -rf "$out.tmp"
				(cd / && GOFLAGS=-mod=mod $GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_SNAPSHOT" -vulns "$src/data/osv" -out "$out.tmp") &&
					mv "$out.tmp" "$out" || rm -rf "$out.tmp"
			fi
		fi
		if [ ! -f "$out/index/modules.json" ]; then
			echo "== govulncheck: NOT RUN: neither vuln.go.dev nor the golang.org/x/vulndb snapshot could be reached; no vulnerability check was made"
			return 0
		fi
		db=file://$out
		echo "== govulncheck: vuln.go.dev unreachable; database: the golang.org/x/vulndb snapshot $VULNDB_SNAPSHOT"
	fi
	GOFLAGS=-mod=mod $GO run "$GOVULNCHECK" ${db:+-db "$db"} ./...
}
