#!/bin/sh
# Entry point of the Herald image: the command names what this container runs.
#
#   docker run herald gateway            # any directory services/<name>/src/main.ts
#   docker run herald worker-email
#   docker run herald migrate            # create the database if missing, apply migrations
#   docker run herald token --sub S --scope "A B"
#   docker run herald help               # list what can be run
#   docker run -it herald sh             # any other program runs as given (debugging)
#
# Services run their TypeScript directly with tsx, exactly as `pnpm start` does
# (packages/cli/src/services.ts): node <flags> --import <tsx loader> services/<name>/src/main.ts,
# with the flags of packages/cli/src/node-flags.ts (a test checks they agree).
# tsx is a dependency of @herald/cli, so its loader is resolved from there; the
# production image has no devDependencies, so the root has no tsx of its own.
#
# HERALD_ENTRYPOINT_DRY_RUN=1 prints the command instead of running it.
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

available_services() {
  for main in services/*/src/main.ts; do
    [ -f "$main" ] || continue
    name=${main#services/}
    echo "${name%%/*}"
  done
}

usage() {
  echo "usage: <command> [args...]"
  echo
  echo "services:"
  for name in $(available_services); do echo "  $name"; done
  echo
  echo "one-shot:"
  echo "  migrate    create the database if missing and apply migrations"
  echo '  token      print a service token: token --sub S --scope "A B" [--ttl 1h]'
}

run() {
  if [ "${HERALD_ENTRYPOINT_DRY_RUN:-}" = 1 ]; then
    echo "$*"
    exit 0
  fi
  exec "$@"
}

tsx_loader() {
  node -p 'require("node:url").pathToFileURL(require.resolve("tsx", { paths: [process.argv[1]] })).href' \
    "$root/packages/cli"
}

command=${1:-help}
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
  help | -h | --help)
    usage
    exit 0
    ;;
  migrate | token)
    run node --enable-source-maps --import "$(tsx_loader)" packages/cli/src/main.ts "$command" "$@"
    ;;
esac

# A service name, never a path: "services/../x" or "a/b" cannot name a service.
case "$command" in
  */* | .*) ;;
  *)
    if [ -f "services/$command/src/main.ts" ]; then
      run node --enable-source-maps --min-semi-space-size=64 --max-semi-space-size=64 --import "$(tsx_loader)" "services/$command/src/main.ts" "$@"
    fi
    ;;
esac

# Anything else that exists runs as given, e.g. `sh` or `node -e ...` for debugging.
case "$command" in
  */*)
    if [ -f "$command" ] && [ -x "$command" ]; then run "$command" "$@"; fi
    ;;
  *)
    if command -v "$command" >/dev/null 2>&1; then run "$command" "$@"; fi
    ;;
esac

echo "herald: unknown command '$command'" >&2
usage >&2
exit 2
