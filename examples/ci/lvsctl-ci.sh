#!/bin/sh
# The lvsctl steps of a CI pipeline, for the GitHub Actions workflow and the
# GitLab CI pipeline beside this script (and for any other CI):
#
#   lvsctl-ci.sh review DIR   on a merge request: validate the definition in
#                             DIR, plan every host and save the plan
#                             (plan.lvsctl), the rendered plan (plan.txt) and
#                             its JSON (plan.json) in $LVSCTL_CI_OUT, to keep
#                             as the merge request's artifact
#   lvsctl-ci.sh apply        on merge: apply exactly the saved plan that was
#                             reviewed; lvsctl refuses it (exit 1, nothing
#                             changed) when a host changed since the plan
#
# Exit status: review 0 (no changes) or 2 (changes, to be reviewed), apply 0;
# 1 on any error or a stale plan. LVSCTL (default lvsctl) is the program.
set -eu
LVSCTL=${LVSCTL:-lvsctl}
OUT=${LVSCTL_CI_OUT:-lvsctl-plan}

case "${1:-}" in
review)
	dir=${2:?usage: lvsctl-ci.sh review DIR}
	mkdir -p "$OUT"
	"$LVSCTL" validate "$dir"
	code=0
	"$LVSCTL" plan --detailed-exitcode --no-color --out "$OUT/plan.lvsctl" "$dir" >"$OUT/plan.txt" || code=$?
	cat "$OUT/plan.txt"
	case $code in
	0 | 2) ;;
	*) exit "$code" ;;
	esac
	"$LVSCTL" show -o json "$OUT/plan.lvsctl" >"$OUT/plan.json"
	exit "$code"
	;;
apply)
	[ -f "$OUT/plan.lvsctl" ] || {
		echo "lvsctl-ci.sh: no saved plan at $OUT/plan.lvsctl: run review first, or fetch its artifact" >&2
		exit 1
	}
	exec "$LVSCTL" apply --no-color "$OUT/plan.lvsctl"
	;;
*)
	echo "usage: lvsctl-ci.sh review DIR | apply" >&2
	exit 1
	;;
esac
