#!/usr/bin/env bash
# The stacks that are previewed and deployed against the cloud: one per Pulumi.<stack>.yaml
# in the current directory, except the offline-only ones below.
#
#   .github/scripts/cloud-stacks.sh                  prints them as a sorted JSON array, e.g. ["dev","prod"]
#   .github/scripts/cloud-stacks.sh --expect dev prod  exits 1 unless they are exactly these
#
# pull-request.yml previews every stack this prints (its matrix). deploy.yml deploys a fixed
# list, one job per stack in promotion order, and checks it with --expect so that a new stack
# file cannot go undeployed (or a deleted one stay in the list) without anyone noticing.
set -euo pipefail

# Planned offline only (./dev plan --stack example), never previewed or deployed against a
# cloud: the task framework guide's stand-in app (example_app/), with made-up projects.
offline_only=(example)

stacks=()
shopt -s nullglob
for file in Pulumi.*.yaml; do
  stack="${file#Pulumi.}"
  stack="${stack%.yaml}"
  [[ " ${offline_only[*]} " == *" ${stack} "* ]] || stacks+=("${stack}")
done
found="$(jq -cn '$ARGS.positional | sort' --args ${stacks[@]+"${stacks[@]}"})"

if [[ "${1:-}" != "--expect" ]]; then
  echo "${found}"
  exit 0
fi
shift
expected="$(jq -cn '$ARGS.positional | sort' --args "$@")"
if [[ "${found}" != "${expected}" ]]; then
  echo "error: the cloud stacks (Pulumi.<stack>.yaml files, less ${offline_only[*]}) are ${found}, but deploy.yml deploys ${expected}:" \
    "give each stack a job in deploy.yml, in promotion order, or list it as offline-only in .github/scripts/cloud-stacks.sh" >&2
  exit 1
fi
echo "deploying ${expected}, one job per stack file"
