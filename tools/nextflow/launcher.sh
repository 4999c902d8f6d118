#!/usr/bin/env bash
# Nextflow @NXF_VERSION@ launcher, written by tools/nextflow/install.sh. Runs the engine offline:
# no plugin downloads, no update check (the official launcher's JVM flags for Java 17).
set -euo pipefail
export NXF_HOME="${NXF_HOME:-$HOME/.nextflow}"
export NXF_OFFLINE="${NXF_OFFLINE:-true}"
export NXF_PLUGINS_DEFAULT="${NXF_PLUGINS_DEFAULT:-false}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
opens=()
for package in java.lang java.io java.nio java.net java.util java.util.concurrent.locks \
    java.util.concurrent.atomic java.nio.file.spi sun.nio.ch sun.nio.fs sun.net.www.protocol.http \
    sun.net.www.protocol.https sun.net.www.protocol.ftp sun.net.www.protocol.file jdk.internal.misc \
    jdk.internal.vm java.util.regex; do
    opens+=("--add-opens=java.base/$package=ALL-UNNAMED")
done
# C1-only JIT: a Nextflow run is short-lived and its engine is not CPU-bound; on 2 cores the C2
# compiler threads competing with the tasks doubled the wall time of a small run (18 s vs 9 s).
# NXF_OPTS comes last, so -XX:TieredStopAtLevel=4 there restores the default.
# shellcheck disable=SC2086 # NXF_OPTS holds several JVM options
exec "$java" "${opens[@]}" -XX:TieredStopAtLevel=1 -Dfile.encoding=UTF-8 -Djava.awt.headless=true ${NXF_OPTS:-} \
    -cp "@NXF_LIB@/*" nextflow.cli.Launcher "$@"
