#!/bin/sh
# `make test` set-up: the web inspector's browser test drives Debian's Chromium. Install
# it when it is missing and we can (root with apt-get); otherwise stop with one line.
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium for the inspector's browser test (apt-get install chromium)"
    if apt-get update -qq && apt-get install -y -qq chromium >/dev/null && [ -x "$CHROMIUM" ]; then
        exit 0
    fi
fi
echo "make test needs Chromium at $CHROMIUM for the inspector's browser test: run" \
     "'sudo apt-get install chromium' (Debian/Ubuntu) and 'make test' again" >&2
exit 1
