#!/usr/bin/env bash
# Vendors the console's third-party front-end files from npm into web/vendor,
# where go:embed takes them. Run it to upgrade; commit the result.
set -euo pipefail
cd "$(dirname "$0")"
UPLOT_VERSION=1.6.32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null && tar -xzf uplot-*.tgz)
mkdir -p web/vendor
cp "$tmp/package/dist/uPlot.esm.js" web/vendor/uPlot.esm.js
cp "$tmp/package/dist/uPlot.min.css" web/vendor/uPlot.min.css
cp "$tmp/package/LICENSE" web/vendor/uPlot.LICENSE
echo "uPlot ${UPLOT_VERSION}" > web/vendor/VERSIONS
ls -l web/vendor
