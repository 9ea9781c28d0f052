/**
 * The simulated hosts' libvirt: a `virsh` that keeps domains as files under the host's
 * directory (`var/run/oneblk-sim/domains/<name>`; SimRunner runs commands with the host's
 * directory as cwd and maps absolute path arguments into it). The scripted oned creates a
 * domain on deploy/resume, moves it on live migration and removes it on shutdown. Supported:
 * domstate, save <dom> <file> (writes a checkpoint header, removes the domain), restore
 * <file> (recreates it), and domfsfreeze/domfsthaw/blockresize/suspend/resume (no-ops on an
 * existing domain). Actions find it through ONEBLK_VIRSH.
 */
export const SIM_VIRSH = `#!/bin/sh
# Simulated virsh for oneblk's simulated hosts (written by tools/sim/oned/scripted/virsh.ts).
set -u
dir=./var/run/oneblk-sim/domains
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--connect) shift 2 ;;
    -q|--quiet|-r|--readonly) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "error: no command" >&2; exit 1; }
cmd=$1; shift
need() { [ -f "$dir/$1" ] || { echo "error: failed to get domain '$1'" >&2; exit 1; }; }
case "$cmd" in
  domstate)
    need "$1"; echo running; echo ;;
  save)
    need "$1"
    { printf 'ONEBLK-SIM-CHECKPOINT %s\\n' "$1"; cat "$dir/$1"; } |
      dd of="$2" conv=notrunc status=none || exit 1
    rm -f "$dir/$1"
    echo; echo "Domain '$1' saved to $2" ;;
  restore)
    hdr=$(head -c 200 "$1" 2>/dev/null | head -n 1)
    case "$hdr" in
      "ONEBLK-SIM-CHECKPOINT "*) dom=\${hdr#ONEBLK-SIM-CHECKPOINT } ;;
      *) echo "error: Failed to restore domain from $1" >&2; exit 1 ;;
    esac
    [ -f "$dir/$dom" ] && { echo "error: domain '$dom' is already active" >&2; exit 1; }
    mkdir -p "$dir" && echo "$dom restored" > "$dir/$dom"
    echo "Domain restored from $1" ;;
  domfsfreeze|domfsthaw|blockresize|suspend|resume|domblklist)
    need "$1" ;;
  *)
    echo "error: simulated virsh does not know '$cmd'" >&2; exit 1 ;;
esac
`;
