#!/usr/bin/env bash
# Packages every publishable crate as the Rust package registry would receive it, checks the 10 MiB limit,
# then proves a user's project works from the .crate files alone:
#   1. `cargo package` for each crate, in dependency order (model crates, facecore,
#      facecore-server, facecore-cli); fails if any .crate exceeds 10,485,760 bytes; prints the sizes.
#   2. a scratch project outside the workspace depends on `facecore = "0.1"` only; the
#      unpacked .crate files stand in for the registry through [patch.crates-io] (nothing from
#      this checkout's sources), built --offline; it enrols obama.jpg and biden.jpg and must
#      name both people in two_people.jpg, run without network access (unshare -n).
#   3. `cargo install --path` of the unpacked facecore-cli, then `facecore demo` and
#      `facecore models verify` from another directory, without network access.
# The scratch builds share target/ and the workspace's profile settings, so the compiled
# registry dependencies (tract) are reused rather than compiled again.
#
#   scripts/package-check.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LIMIT=10485760
# Outside the workspace, as a user's project would be.
WORK=${FACECORE_PACKAGE_CHECK_DIR:-${TMPDIR:-/tmp}/facecore-package-check}
rm -rf "$WORK"
mkdir -p "$WORK/crates"

# Dependency order: the model crates, then facecore, the server library (`facecore serve`),
# then the CLI.
MODEL_CRATES=$(cd model-crates && ls -d facecore-model-* | sort)
CRATES=($MODEL_CRATES facecore facecore-server facecore-cli)
echo "== cargo package (${#CRATES[@]} crates)"
args=()
for c in "${CRATES[@]}"; do args+=(-p "$c"); done
# --allow-dirty: CI runs on a clean clone; locally this checks the working tree as it is.
cargo package --locked --no-verify --allow-dirty "${args[@]}" 2>&1 | grep -vE "^\s+(Updating|Locking|Adding)|ignoring (test|example)" || true

status=0
printf '%-42s %10s %9s\n' crate bytes "of limit"
for c in "${CRATES[@]}"; do
  version=$(cargo metadata --no-deps --format-version 1 --offline | python3 -c "import json,sys; print(next(p['version'] for p in json.load(sys.stdin)['packages'] if p['name']=='$c'))")
  f=target/package/$c-$version.crate
  size=$(stat -c %s "$f")
  printf '%-42s %10s %8.0f%%\n' "$c-$version.crate" "$size" "$(python3 -c "print($size * 100 / $LIMIT)")"
  if [ "$size" -gt "$LIMIT" ]; then
    echo "FAIL: $f is $size bytes, over the registry's $LIMIT" >&2
    status=1
  fi
  tar -xzf "$f" -C "$WORK/crates"
done
[ $status -eq 0 ] || exit 1

# [patch.crates-io] entries for every packaged library crate, as --config arguments.
patch=()
app_patch=()
for c in "${CRATES[@]}"; do
  [ "$c" = facecore-cli ] && continue
  d=$(ls -d "$WORK/crates/$c"-[0-9]*)
  patch+=(--config "patch.crates-io.$c.path=\"$d\"")
  # The user's project needs the library crates only (no "patch not used" warning).
  [ "$c" = facecore-server ] || app_patch+=(--config "patch.crates-io.$c.path=\"$d\"")
done
# The workspace's profile (dependencies optimised, see the root Cargo.toml), so tract's
# compiled artefacts in target/ are reused.
profile=(
  --config 'profile.dev.opt-level=2' --config 'profile.dev.debug="line-tables-only"'
  --config 'profile.dev.package."*".opt-level=3' --config 'profile.dev.package."*".debug=false'
  --config 'profile.dev.package."*".debug-assertions=false' --config 'profile.dev.package."*".overflow-checks=false'
  --config 'profile.dev.package."*".codegen-units=16'
)

noNet() {
  if unshare -rn true 2>/dev/null; then
    unshare -rn "$@"
  else
    echo "FAIL: unshare -n is not available, cannot prove the program runs without network" >&2
    return 1
  fi
}

echo "== a user's project, outside the workspace, on the packaged crates only"
APP=$WORK/app
mkdir -p "$APP/src"
cat >"$APP/Cargo.toml" <<'EOF'
[package]
name = "facecore-user-app"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
facecore = "0.1"

[workspace]
EOF
cat >"$APP/src/main.rs" <<'EOF'
//! What a new user writes after `cargo add facecore`: enrol two people, name them in a photo.
use facecore::{FacePipeline, Gallery, Identity, Image, OperatingPoint, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: app FIXTURES_DIR")?);
    let pipeline = FacePipeline::from_preset(Preset::Accurate)?;
    let mut gallery = Gallery::new();
    for name in ["obama", "biden"] {
        let face = pipeline.embed_best(&Image::open(dir.join(format!("{name}.jpg")))?)?.ok_or("no face")?;
        gallery.enroll(name, &face.embedding)?;
    }
    let threshold = OperatingPoint::Fmr1e3.threshold(pipeline.recognizer().space())?;
    let mut names = Vec::new();
    for face in pipeline.analyze(&Image::open(dir.join("two_people.jpg"))?)? {
        let b = face.face.bbox;
        match gallery.identify(&face.embedding, threshold)? {
            Identity::Known(m) => {
                println!("{} at x={:.0} y={:.0} score {:.3}", m.name, b.x, b.y, m.score);
                names.push(m.name);
            }
            Identity::Unknown(_) => println!("unknown at x={:.0} y={:.0}", b.x, b.y),
        }
    }
    names.sort();
    if names != ["biden", "obama"] {
        return Err(format!("expected biden and obama, got {names:?}").into());
    }
    println!("ok: both people named from the packaged crates");
    Ok(())
}
EOF
# The workspace's lock file pins the registry dependencies to what CI tests (and to what is
# in the local cache, so --offline resolves).
cp Cargo.lock "$APP/Cargo.lock"
t0=$(date +%s)
CARGO_TARGET_DIR=$ROOT/target cargo build --offline --manifest-path "$APP/Cargo.toml" "${app_patch[@]}" "${profile[@]}"
echo "scratch project built in $(( $(date +%s) - t0 )) s"
# Proof that facecore came from the unpacked .crate files, not from this checkout.
(cd "$APP" && cargo tree --offline --prefix none -e normal "${app_patch[@]}" | sort -u | grep "^facecore") | while read -r line; do
  case "$line" in
    facecore-user-app*) ;;
    *"$WORK/crates/"*) echo "  from .crate: $line" ;;
    *) echo "FAIL: $line does not come from the packaged crates" >&2; exit 1 ;;
  esac
done
(cd "$WORK" && noNet "$ROOT/target/debug/facecore-user-app" "$ROOT/tests/fixtures")

echo "== cargo install --path <unpacked facecore-cli>, then facecore demo elsewhere"
t0=$(date +%s)
CARGO_TARGET_DIR=$ROOT/target cargo install --offline --locked --debug --force --path "$(ls -d "$WORK/crates/facecore-cli"-[0-9]*)" \
  --root "$WORK/install" "${patch[@]}" "${profile[@]}" 2>&1 | grep -vE "^\s+(Compiling|Locking|Adding)" || true
echo "cargo install finished in $(( $(date +%s) - t0 )) s"
mkdir -p "$WORK/elsewhere"
(cd "$WORK/elsewhere" && noNet "$WORK/install/bin/facecore" demo --out demo.png | tee demo.txt)
grep -q "obama" "$WORK/elsewhere/demo.txt" && grep -q "biden" "$WORK/elsewhere/demo.txt" || { echo "FAIL: demo did not name both people" >&2; exit 1; }
test -s "$WORK/elsewhere/demo.png"
(cd "$WORK/elsewhere" && noNet "$WORK/install/bin/facecore" models verify)
serve_help=$("$WORK/install/bin/facecore" serve --help)
grep -q -- "--api-keys" <<<"$serve_help" || { echo "FAIL: the installed facecore has no serve command" >&2; exit 1; }
echo "== package check passed"
