#!/usr/bin/env bash
# The stacks that are previewed and deployed against the cloud: one per Pulumi.<stack>.yaml
# in the current directory, except the offline-only ones below.
#
#   .github/scripts/cloud-stacks.sh    prints them as a sorted JSON array, e.g. ["dev","prod"]
#
# pull-request.yml previews every stack this prints (its matrix); deploy.yml deploys them
# all, every stack but prod first, one at a time, then prod.
set -euo pipefail

# Never previewed or deployed against a cloud: `example`, the task framework guide's
# stand-in app (example_app/), planned offline only; `local`, deployed by `./dev local up`
# into Google's Pub/Sub emulator on a laptop (docs/local.md).
offline_only=(example local)

stacks=()
shopt -s nullglob
for file in Pulumi.*.yaml; do
  stack="${file#Pulumi.}"
  stack="${stack%.yaml}"
  [[ " ${offline_only[*]} " == *" ${stack} "* ]] || stacks+=("${stack}")
done
found="$(jq -cn '$ARGS.positional | sort' --args ${stacks[@]+"${stacks[@]}"})"

echo "${found}"
