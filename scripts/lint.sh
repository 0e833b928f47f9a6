#!/usr/bin/env bash
# gofmt, go vet and the layering rules of design.md.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "lint: not gofmt-ed (run gofmt -w):"; echo "$unformatted"; fail=1
fi

go vet ./... || fail=1

# kernel/ is pure: nothing of the I/O shell, even transitively.
forbidden='^(github.com/asynkron|github.com/tetratelabs|github.com/containerd|github.com/hashicorp|github.com/cilium|go.opentelemetry.io|net/http|os/exec|net)$|^github.com/pandodc/pando/(actors|runtime|isolators|frameworks|sdk|cmd)'
bad=$(go list -deps ./kernel/... | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
  echo "lint: kernel/ depends on the I/O shell (design.md keeps kernel/ pure):"; echo "$bad"; fail=1
fi
# kernel/ (outside tests) neither reads the clock nor starts goroutines.
clock=$(grep -rnE 'time\.(Now|Since|Until|Sleep|After|Tick|NewTimer|NewTicker)\(|^\s*go (func|[a-zA-Z])' --include='*.go' kernel | grep -v '_test.go' || true)
if [ -n "$clock" ]; then
  echo "lint: kernel/ reads the clock or starts goroutines (time is a parameter there):"; echo "$clock"; fail=1
fi
# frameworks/ are written against sdk/ only, as a third party would.
for pkg in $(go list ./frameworks/... 2>/dev/null); do
  bad=$(go list -deps "$pkg" | grep -E '^github.com/pandodc/pando/(actors|runtime|isolators|kernel/(master|agent|allocator))' || true)
  if [ -n "$bad" ]; then echo "lint: $pkg must use sdk/ only, but depends on:"; echo "$bad"; fail=1; fi
done
exit $fail
