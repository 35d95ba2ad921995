#!/usr/bin/env bash
# Debian packages the test suite uses as independent peers: DCMTK, Orthanc (a PACS) and a headless Chromium.
set -euo pipefail
missing=()
command -v findscu >/dev/null || missing+=(dcmtk)
command -v chromium >/dev/null || missing+=(chromium)
command -v Orthanc >/dev/null || missing+=(orthanc)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing Debian packages: ${missing[*]} — install them with: sudo apt-get install ${missing[*]}" >&2
  echo "(the tests that need them are skipped until then)" >&2
fi
