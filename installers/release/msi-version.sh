#!/usr/bin/env bash
# msi-version.sh VERSION — prints the MSI (WiX) ProductVersion for a release
# version (the tag without its "v"). See installers/README.md, "MSI version".
#
# An MSI version is MAJOR.MINOR.BUILD, numbers only (MAJOR and MINOR up to
# 255, BUILD up to 65535), and Windows Installer compares exactly those three
# fields to decide whether an install is an upgrade. So every release, final
# or not, maps to BUILD = PATCH * 1000 + STAGE:
#
#   X.Y.Z-alpha.N  ->  X.Y.(Z*1000 + 100 + N)     N = 0..99
#   X.Y.Z-beta.N   ->  X.Y.(Z*1000 + 300 + N)
#   X.Y.Z-rc.N     ->  X.Y.(Z*1000 + 500 + N)
#   X.Y.Z          ->  X.Y.(Z*1000 + 999)
#
# e.g. 1.2.3-beta.4 -> 1.2.3304, 1.2.3 -> 1.2.3999, 1.2.4-alpha.1 -> 1.2.4101:
# the order of the MSI versions is the order of the SemVer versions, so
# alpha -> beta -> rc -> final -> next alpha each upgrade in place.
# PATCH is at most 64 (64999 <= 65535). Anything else is refused (exit 1).
set -euo pipefail

version=${1:?usage: msi-version.sh X.Y.Z[-alpha.N|-beta.N|-rc.N]}
re='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-(alpha|beta|rc)\.(0|[1-9][0-9]?))?$'
if [[ ! $version =~ $re ]]; then
    echo "msi-version.sh: '$version' is not X.Y.Z or X.Y.Z-{alpha,beta,rc}.N (N < 100)" >&2
    exit 1
fi
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[3]}
stage=${BASH_REMATCH[5]} n=${BASH_REMATCH[6]:-0}
if ((major > 255 || minor > 255 || patch > 64)); then
    echo "msi-version.sh: '$version' is out of range (MAJOR, MINOR <= 255; PATCH <= 64)" >&2
    exit 1
fi
case $stage in
    alpha) offset=$((100 + n)) ;;
    beta) offset=$((300 + n)) ;;
    rc) offset=$((500 + n)) ;;
    *) offset=999 ;;
esac
echo "$major.$minor.$((patch * 1000 + offset))"
