#!/usr/bin/env bash
# Install the Debian packages that saraban-gateway's tests and tools need.
#
# Idempotent and fast when everything is present: only missing packages are installed, and
# `apt-get update` runs (once) only when something is missing.  Runs as root; as another user it
# uses sudo when available, otherwise it prints what to install and exits 1.
#
# Usage: scripts/install-system-deps.sh [--check]
#   --check   only report missing packages (exit 1 if any), install nothing.
set -euo pipefail

PACKAGES=(
  dovecot-imapd          # throwaway IMAP/LMTP test server (tests/servers/dovecot.py)
  dovecot-lmtpd
  postgresql             # throwaway PostgreSQL test server (tests/servers/postgres.py)
  poppler-utils          # pdfsig / pdftotext / pdftoppm: independent PDF checks
  libnss3-tools          # certutil: NSS trust store for pdfsig
  fonts-tlwg-laksaman-otf  # Thai font for stamps (TLWG rework of TH Sarabun PSK)
  fonts-tlwg-laksaman-ttf
  swaks                  # independent SMTP client for tests
  libnet-ssleay-perl     # swaks --tls
  openssl
  chromium               # headless render of the HTML daily digest (tests/integration/test_digest.py);
                         # also the Chromium producer of the letter corpus (scripts/make-corpus)
  libreoffice-writer-nogui  # `soffice --headless --convert-to pdf`: LibreOffice producer of the corpus
  tesseract-ocr          # OCR of a scanned letter's page-1 header for the clerk (gateway/pdf/ocr.py, #20)
  tesseract-ocr-tha      # its Thai model
  fonts-thai-tlwg        # Laksaman, Garuda, Loma, Kinnari, Norasi, Sawasdee …: the corpus's Thai fonts
  systemd                # systemd-analyze: contrib/systemd's unit checked as systemd reads it
)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  # "ii " = desired install, currently installed, no error flag
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-system-deps: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-system-deps: not root and no sudo; as root run:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Postinst scripts cannot start services without systemd: that is expected (the tests start their
# own instances), and policy-rc.d is not touched here.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

# Verify.
still=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ "$status" == ii* ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "install-system-deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "install-system-deps: installed ${missing[*]}"
