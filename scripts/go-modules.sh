# Sourced by scripts/install-pulumi and scripts/install-testbed: build a binary from its Go
# module on machines that reach only the Go module proxy. Expects BIN and BUILD set and
# TOOL naming the script (for messages).

say() { printf '%s: %s\n' "$TOOL" "$*" >&2; }
die() { say "error: $*"; exit 1; }

fresh() { # fresh NAME VERSION: is bin/NAME there at VERSION?
  [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]
}
stamp() { printf '%s\n' "$2" >"$BIN/.$1.version"; }

need_go() {
  command -v go >/dev/null ||
    die "no official release could be downloaded and Go is not installed: install Go >= 1.24 (https://go.dev/doc/install) and run this again"
}

downloaded() { # downloaded MODULE@VERSION FIELD: the GoMod file or the Dir of a module, fetched if need be
  go mod download -json "$1" | sed -n "s/.*\"$2\": \"\(.*\)\",/\1/p"
}

# served_at_most MODULE VERSION: VERSION if the module proxy serves it, else the
# newest release it serves below VERSION.
served_at_most() {
  go list -m -versions "$1" | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V |
    while read -r v; do printf '%s\n%s\n' "$v" "$2" | sort -V -C && printf '%s\n' "$v"; done | tail -n1
}

# wrapper NAME MODULE VERSION [REPLACE...]: a throwaway module requiring MODULE@VERSION with
# the upstream replace directives, then each extra "old => new version" REPLACE. Relative
# ones (=> ../sdk) point inside the upstream repository, so they become the sibling module
# at $WRAPPER_RELATIVE if set (Kubernetes' staging modules), else at the version the upstream
# go.mod requires (or the nearest release below it that is served). $WRAPPER_GO is the go
# directive (default 1.24).
wrapper() {
  local name=$1 module=$2 version=$3 dir=$BUILD/$1 gomod line target required
  shift 3
  rm -rf "$dir" && mkdir -p "$dir"
  gomod=$(downloaded "$module@$version" GoMod)
  [ -f "$gomod" ] || die "could not download $module@$version from the Go module proxy"
  printf 'module hecate.invalid/build/%s\n\ngo %s\n\nrequire %s %s\n' \
    "$name" "${WRAPPER_GO:-1.24}" "$module" "$version" >"$dir/go.mod"
  # Single-line and block replace directives, one "old => new" per line.
  awk '/^replace \(/ {b=1; next} b && /^\)/ {b=0; next} b {print; next} /^replace / {sub(/^replace /, ""); print}' "$gomod" |
    while read -r line; do
      [ -n "$line" ] && [ "${line#//}" = "$line" ] || continue
      target=${line%% =>*}; target=${target%% *}
      case " $* " in *" $target "*) continue ;; esac # an extra replace wins
      case ${line#*=> } in
        .*)
          required=${WRAPPER_RELATIVE:-}
          if [ -z "$required" ]; then
            required=$(awk -v m="$target" '$1 == m && $2 ~ /^v/ {print $2; exit}' "$gomod")
            [ -n "$required" ] || die "$module replaces $target with a local path but does not require a version of it"
            required=$(served_at_most "$target" "$required")
            [ -n "$required" ] || die "no release of $target at or below the one $module requires is served"
          fi
          printf 'replace %s => %s %s\n' "$target" "$target" "$required" ;;
        *) printf 'replace %s\n' "$line" ;;
      esac
    done >>"$dir/go.mod"
  for line in "$@"; do printf 'replace %s\n' "$line" >>"$dir/go.mod"; done
  printf '%s' "$dir"
}

quietly() { # run a go command without its hundreds of "go: downloading" lines
  "$@" 2>&1 | { grep -v '^go: downloading' || true; } >&2
}

go_build() { # go_build DIR OUT PKG [LDFLAGS]
  (cd "$1" && GOFLAGS=-mod=mod CGO_ENABLED=0 quietly go build -trimpath -ldflags "-s -w ${4:-}" -o "$2" "$3") ||
    die "go build of $3 failed (see above)"
}
