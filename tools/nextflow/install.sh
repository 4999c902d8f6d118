#!/usr/bin/env bash
# Assemble the real Nextflow engine (version pinned in pom.xml) from Maven Central into .tools/ and
# write the launcher .tools/bin/nextflow. Idempotent: does nothing when the launcher already works.
# Needs Java 17 and Maven; installs them from Debian's packages when missing and we are root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(sed -n 's:.*<nextflow.version>\(.*\)</nextflow.version>.*:\1:p' "$here/pom.xml")"
dest="$root/.tools/nextflow-$version"
launcher="$root/.tools/bin/nextflow"
render_launcher() { sed "s:@NXF_LIB@:$dest/lib:; s:@NXF_VERSION@:$version:" "$here/launcher.sh"; }

# Up to date: the engine is complete and the launcher is the one the current template writes.
if [[ -x "$launcher" && -f "$dest/.complete" ]] &&
    cmp -s "$launcher" <(render_launcher); then
    exit 0
fi

"$root/tools/debian-install.sh" "java mvn" openjdk-17-jre-headless maven

if [[ ! -f "$dest/.complete" ]]; then
    echo "[setup] assembling Nextflow $version from Maven Central into $dest"
    rm -rf "$dest.partial"
    mkdir -p "$dest.partial/lib"
    if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$dest.partial/lib" > "$dest.partial/maven.log" 2>&1; then
        cat "$dest.partial/maven.log" >&2
        echo "[setup] error: Maven could not resolve Nextflow $version (log above)" >&2
        exit 1
    fi
    # Maven resolves nearest-wins: refuse a lib/ with two versions of one artifact or Groovy 3 jars.
    dupes="$(ls "$dest.partial/lib" | sed -E 's/-[0-9][^-]*(-[a-z0-9.]+)?\.jar$//' | sort | uniq -d)"
    if [[ -n "$dupes" ]] || ls "$dest.partial/lib" | grep -q '^groovy-3'; then
        echo "[setup] error: conflicting jars in the resolved Nextflow classpath: $dupes" >&2
        exit 1
    fi
    rm -rf "$dest"
    mv "$dest.partial" "$dest"
    touch "$dest/.complete"
fi
mkdir -p "$root/.tools/bin"
render_launcher > "$launcher.tmp"
chmod +x "$launcher.tmp"
mv "$launcher.tmp" "$launcher"
"$launcher" -version | grep -q "$version"
echo "[setup] Nextflow $version ready: $launcher"
