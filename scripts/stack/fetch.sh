# Fetching the pinned inputs (scripts/stack/pins), shared by the stack scripts (build.sh,
# windows.sh, macos.sh), which source it: each lists this file among the inputs of its cache key.
#
# Expects $here (scripts/stack), $downloads (tarballs and .debs, kept across builds), $work (this
# build's scratch folder: sources land in $work/src/NAME), $sys (where .debs are unpacked) and a
# `log` function.

# --- the archive, from this machine's apt sources (no host is written into the repo) ----------
apt_mirrors() {
  {
    sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '/debian/?$' | sed 's:/$::' | awk '!seen[$0]++'
}

fetch_source() { # name version pool sha256
  local file=$downloads/$(basename "$3")
  if [ -f "$file" ] && echo "$4  $file" | sha256sum -c --quiet - 2>/dev/null; then return; fi
  local m
  for m in $(apt_mirrors); do
    log "downloading $1 $2 from $m/pool/main/$3"
    if curl -fsSL --retry 3 -o "$file.part" "$m/pool/main/$3"; then
      if echo "$4  $file.part" | sha256sum -c --quiet -; then
        mv "$file.part" "$file"
        return
      fi
      log "$1: sha256 mismatch (want $4)"
    fi
  done
  log "could not fetch $1 $2 from any Debian mirror in the apt sources"
  exit 1
}

fetch_deb() { # name version
  local file
  file=$(ls "$downloads/$1_$2_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$file" ]; then
    log "downloading Debian package $1=$2"
    (cd "$downloads" && { apt-get download -q "$1=$2" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get download -q "$1=$2" >/dev/null 2>&1; }; }) ||
      { log "apt-get download $1=$2 failed"; exit 1; }
    file=$(ls "$downloads/$1_$2_"*.deb | head -1)
  fi
  dpkg-deb -x "$file" "$sys"
}

# fetch_pins DEBS: every source of the pins, checked and unpacked into $work/src/NAME, and the
# Debian packages whose name matches the shell pattern DEBS ('*' for all of them), unpacked into
# $sys.
fetch_pins() {
  local kind name version pool sha
  while read -r kind name version pool sha; do
    case "$kind" in
      source) fetch_source "$name" "$version" "$pool" "$sha"
              if [ ! -d "$work/src/$name" ]; then
                mkdir -p "$work/src/$name.part"
                tar -xf "$downloads/$(basename "$pool")" -C "$work/src/$name.part" --strip-components=1
                mv "$work/src/$name.part" "$work/src/$name"
              fi ;;
      deb) # shellcheck disable=SC2254 # $1 is a pattern on purpose
           case "$name" in $1) fetch_deb "$name" "$version" ;; esac ;;
    esac
  done < <(grep -v '^#' "$here/pins" | grep -v '^[[:space:]]*$')
}
