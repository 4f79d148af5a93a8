#!/usr/bin/env bash
# update-assets.sh re-downloads the GraphiQL page's scripts and stylesheet
# from the npm registry into assets/, so the vendored files can be rebuilt
# byte for byte. npm pack checks each tarball against the registry's
# integrity hash.
#
# The versions are those gqlgen v0.17.98's playground loads from jsDelivr
# (graphql/playground/playground.go), so the hashes equal the ones it pins.
# graphiql 4.1.2 is also the newest release with a UMD bundle (5.x is ES
# modules only); React 18.3.1 would be the newest with UMD builds (19 has
# none).
#
# After changing a version: run this script, then copy the printed
# versions and hashes into the assets table in playground.go, and run
# go test ./internal/playground/.
set -euo pipefail

GRAPHIQL_VERSION=4.1.2
REACT_VERSION=18.2.0
REACT_DOM_VERSION=18.2.0

cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# unpack NAME VERSION: extract the npm tarball of NAME@VERSION to $tmp/NAME.
unpack() {
	(cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
	mkdir -p "$tmp/$1"
	tar -xzf "$tmp/$1-$2.tgz" -C "$tmp/$1" --strip-components=1
}

# vendor NAME VERSION FILE...: copy FILEs and LICENSE of the package to
# assets/NAME-VERSION/.
vendor() {
	local name=$1 dir=assets/$1-$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$tmp/$name/LICENSE" "$dir/"
	for f in "$@"; do
		cp "$tmp/$name/$f" "$dir/"
		printf '%-48s sha256-%s\n' "$dir/$(basename "$f")" \
			"$(openssl dgst -sha256 -binary "$dir/$(basename "$f")" | openssl base64 -A)"
	done
}

rm -rf assets
unpack graphiql "$GRAPHIQL_VERSION"
unpack react "$REACT_VERSION"
unpack react-dom "$REACT_DOM_VERSION"
vendor graphiql "$GRAPHIQL_VERSION" graphiql.min.js graphiql.min.css
vendor react "$REACT_VERSION" umd/react.production.min.js
vendor react-dom "$REACT_DOM_VERSION" umd/react-dom.production.min.js
