#!/usr/bin/env bash
# Re-runs every finding of issue 15 against the built CLI and reports, per finding, whether it is fixed: the exit
# code, one "error: ..." line naming the flag, file or field, no stack trace, and no mixed or lost run. Ends with the
# totals the issue asks for: stack traces, silently accepted bad values, mixed or lost runs.
#
#   dotnet build && tests/issue-15/rerun.sh [path/to/IftSharp.Cli]
#
# Cases tagged [data], [model], [tokenizer], [generate] or [init-model] are fixed in those areas' own branches; the
# rest by the error boundary, the flag ranges and the run folder (branch h6-reliability).
# The disk-full and read-only cases mount small tmpfs file systems and need root; elsewhere they are reported as skipped.
# python3 (any version, standard library only) writes the damaged safetensors files. Nothing outside a temporary
# folder is written; the folder is removed at the end.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLI="${1:-$ROOT/src/IftSharp.Cli/bin/Debug/net10.0/IftSharp.Cli}"
[ -x "$CLI" ] || { echo "no CLI at $CLI: run dotnet build first, or pass its path" >&2; exit 2; }
DATA="$ROOT/data/demo/train.jsonl"
FIX="$ROOT/tests/IftSharp.Tests/Fixtures/tokenization"
W="$(mktemp -d /tmp/iftsharp-issue15-XXXXXX)"
MOUNTS=()
cleanup() { for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT

pass=0; fail=0; skipped=0; traces=0; accepted=0; mixed=0
report() { # report KIND(trace|accepted|mixed) NAME OK(0/1) DETAIL
    if [ "$3" = 0 ]; then pass=$((pass + 1)); printf '  ok    %-58s %s\n' "$2" "$4"
    else
        fail=$((fail + 1)); printf '  FAIL  %-58s %s\n' "$2" "$4"
        if grep -q -e '^   at ' -e 'Unhandled exception' "$W/err" 2>/dev/null; then traces=$((traces + 1))
        elif [ "$1" = mixed ]; then mixed=$((mixed + 1))
        else accepted=$((accepted + 1)); fi
    fi
}
skip() { skipped=$((skipped + 1)); printf '  skip  %-58s %s\n' "$1" "$2"; }
run() { "$CLI" "$@" 2> "$W/err" | tr -d '\000' > "$W/out"; echo "${PIPESTATUS[0]}" > "$W/rc"; }
rc() { cat "$W/rc"; }
error_line() { grep '^error: ' "$W/err" | head -1; }
# expect KIND NAME CODE FRAGMENT -- ARGS...: the run ends with CODE, one error line holding FRAGMENT, no trace.
expect() {
    local kind="$1" name="$2" code="$3" fragment="$4"; shift 5
    run "$@"
    local line; line="$(error_line)"
    local n; n="$(grep -c '^error: ' "$W/err")"
    if grep -q -e '^   at ' -e 'Unhandled exception' "$W/err"; then report "$kind" "$name" 1 "stack trace (exit $(rc))"
    elif [ "$(rc)" != "$code" ]; then report "$kind" "$name" 1 "exit $(rc), expected $code: ${line:-$(head -c 160 "$W/out" | tr '\n' ' ')}"
    elif [ "$n" != 1 ] || [[ "$line" != *"$fragment"* ]]; then report "$kind" "$name" 1 "message: ${line:-none} (expected '$fragment')"
    else report "$kind" "$name" 0 "exit $code: ${line:0:100}"; fi
}
train() { run train --method sft --model "$MODEL" --dataset "$DATA" --batch-size 2 "$@"; }
# tmpfs OPTIONS: mounts a tmpfs and sets MNT to it (fails where mounting is not allowed).
tmpfs() { MNT="$W/mnt-$RANDOM"; mkdir -p "$MNT"; mount -t tmpfs -o "$1" tmpfs "$MNT" 2>/dev/null || { rmdir "$MNT"; return 1; }; \
    MOUNTS+=("$MNT"); }

echo "issue 15, re-run against $CLI"
mkdir -p "$W/tok"
cp "$FIX/byte_level_tokenizer.json" "$W/tok/tokenizer.json"
cp "$FIX/byte_level_tokenizer_config.json" "$W/tok/tokenizer_config.json"
echo '{"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
 "num_key_value_heads": 1, "tie_word_embeddings": true, "max_position_embeddings": 256}' > "$W/tiny.json"
"$CLI" init-model --config "$W/tiny.json" --tokenizer "$W/tok" --output "$W/model" > /dev/null || { echo "init-model failed" >&2; exit 1; }
MODEL="$W/model"
model_copy() { rm -rf "$W/$1"; cp -r "$MODEL" "$W/$1"; echo "$W/$1"; }

# A copy of the model whose safetensors file is rewritten by python (header field removed or mistyped, a tensor
# stored as F8_E4M3 or I32, NaN weights, a vocabulary shrunk below the tokenizer's ids).
damage() { # damage DIR MODE
    python3 - "$1" "$2" <<'PY'
import json, struct, sys, os
d, mode = sys.argv[1], sys.argv[2]
path = os.path.join(d, "model.safetensors")
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n]); data = raw[8 + n:]
meta = header.pop("__metadata__", None)
names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
blobs = {k: data[header[k]["data_offsets"][0]:header[k]["data_offsets"][1]] for k in names}
target = "model.norm.weight"
if mode == "no-dtype": del header[target]["dtype"]
elif mode == "shape-string": header[target]["shape"] = "16"
elif mode == "f8": header[target]["dtype"] = "F8_E4M3"; blobs[target] = bytes(len(blobs[target]) // 4)
elif mode == "i32": header[target]["dtype"] = "I32"; blobs[target] = struct.pack("<16i", *range(16))
elif mode == "nan": blobs[target] = struct.pack("<f", float("nan")) * (len(blobs[target]) // 4)
elif mode == "vocab":
    e = "model.embed_tokens.weight"; rows, cols = header[e]["shape"]
    header[e]["shape"] = [100, cols]; blobs[e] = blobs[e][:100 * cols * 4]
    c = json.load(open(os.path.join(d, "config.json"))); c["vocab_size"] = 100
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
if mode not in ("no-dtype", "shape-string"):
    at = 0
    for k in names:
        header[k]["data_offsets"] = [at, at + len(blobs[k])]; at += len(blobs[k])
if meta is not None: header["__metadata__"] = meta
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs[k] for k in names))
PY
}

echo "Runs mixed or lost"
out="$W/reuse"; train --output "$out" --max-steps 6 --save-steps 1
expect mixed "new run into another run's folder is refused" 2 "already holds a training run" -- \
    train --method sft --model "$MODEL" --dataset "$DATA" --batch-size 2 --output "$out" --max-steps 3 --save-total-limit 2 \
        --learning-rate 0.01
train --output "$out" --max-steps 3 --save-steps 1 --save-total-limit 2 --learning-rate 0.01 --overwrite
ckpts="$(cd "$out" && ls -d checkpoint-* | tr '\n' ' ')"
report mixed "--overwrite keeps only the new run's checkpoints" \
    "$([ "$(rc)" = 0 ] && [ "$ckpts" = "checkpoint-2 checkpoint-3 " ] && echo 0 || echo 1)" "exit $(rc): $ckpts"

out="$W/twice"
"$CLI" train --method sft --model "$MODEL" --dataset "$DATA" --batch-size 2 --output "$out" --max-steps 100000 > "$W/first" 2>&1 &
first=$!
for _ in $(seq 600); do [ -s "$out/metrics.jsonl" ] && break; sleep 0.1; done
expect mixed "a second training into the same --output at once" 1 "another training run is writing" -- \
    train --method sft --model "$MODEL" --dataset "$DATA" --batch-size 2 --output "$out" --max-steps 3
kill -TERM "$first"; wait "$first" 2>/dev/null
dups="$(grep -o '"step":[0-9]*' "$out/metrics.jsonl" | sort | uniq -d | wc -l)"
report mixed "metrics.jsonl of the first run has no step twice" "$([ "$dups" = 0 ] && echo 0 || echo 1)" "$dups repeated steps"

trained="$W/reuse"; before="$(sha256sum "$trained/model.safetensors" | cut -c1-64)"
expect mixed "[init-model] --output at a trained model is refused" 2 "--overwrite" -- \
    init-model --config "$W/tiny.json" --tokenizer "$W/tok" --output "$trained"
report mixed "[init-model] left the trained weights as they were" \
    "$([ "$(sha256sum "$trained/model.safetensors" | cut -c1-64)" = "$before" ] && echo 0 || echo 1)" ""

out="$W/other"; train --output "$out" --max-steps 4 --save-steps 1
expect mixed "--resume with another --batch-size" 2 "--batch-size was 2, now 4" -- \
    train --method sft --model "$MODEL" --dataset "$DATA" --batch-size 4 --output "$out" --max-steps 4 --save-steps 1 --resume
head -n 60 "$DATA" > "$W/half.jsonl"
expect mixed "--resume with another --dataset" 2 "--dataset: not the data it was trained on" -- \
    train --method sft --model "$MODEL" --dataset "$W/half.jsonl" --batch-size 2 --output "$out" --max-steps 4 --save-steps 1 --resume

out="$W/final"; train --output "$out" --max-steps 2 --save-steps 1
rm -f "$out/model.safetensors" "$out/tokenizer_config.json"   # what a kill during the final save leaves
train --output "$out" --max-steps 2 --save-steps 1 --resume
report mixed "a kill during the final save: --resume writes the final model" \
    "$([ "$(rc)" = 0 ] && [ -f "$out/model.safetensors" ] && [ -f "$out/tokenizer_config.json" ] && echo 0 || echo 1)" \
        "exit $(rc): $(tail -1 "$W/out")"

for damage_case in "metrics.jsonl's last line cut" "empty trainer_state.json" "truncated optimizer.bin"; do
    out="$W/damaged-$RANDOM"; train --output "$out" --max-steps 4 --save-steps 1
    rm -rf "$out/checkpoint-4" "$out/model.safetensors"   # stopped after step 4's line, before its checkpoint
    case "$damage_case" in
        metrics*) head -c -20 "$out/metrics.jsonl" > "$W/m" && mv "$W/m" "$out/metrics.jsonl" ;;
        empty*) : > "$out/checkpoint-3/trainer_state.json" ;;
        truncated*) truncate -s 100 "$out/checkpoint-3/optimizer.bin" ;;
    esac
    train --output "$out" --max-steps 4 --save-steps 1 --resume
    lines="$(wc -l < "$out/metrics.jsonl")"
    report mixed "resume after $damage_case" "$([ "$(rc)" = 0 ] && [ "$lines" = 4 ] && ! grep -q '^   at ' "$W/err" && echo 0 || echo 1)" \
        "exit $(rc), $lines metrics lines: $(grep -m1 -o 'unreadable ([^)]*)' "$W/out")"
done

echo "Stack traces before"
touch "$W/a-file"
expect trace "output path is an existing file" 1 "is a file; expected a folder" -- train --method sft --model "$MODEL" --dataset \
    "$DATA" --output "$W/a-file"
if tmpfs ro,size=64k; then
    expect trace "read-only output" 1 "Read-only file system" -- train --method sft --model "$MODEL" --dataset "$DATA" --output "$MNT/out"
else skip "read-only output" "cannot mount a tmpfs here (needs root)"; fi
if tmpfs size=40k; then
    full="$MNT"
    expect trace "disk full" 1 "No space left on device" -- train --method sft --model "$MODEL" --dataset "$DATA" --output \
        "$full/out" --max-steps 1 --batch-size 2
    left="$(find "$full" -name '*.tmp*' | wc -l)"
    report trace "disk full leaves no temporary file" "$([ "$left" = 0 ] && echo 0 || echo 1)" \
        "$left left; $(df -k "$full" | awk 'NR==2 {print $3 " KiB used"}')"
else skip "disk full" "cannot mount a tmpfs here (needs root)"; fi
for flags in "--learning-rate -0.001" "--learning-rate NaN" "--batch-size 0"; do
    expect trace "train $flags" 2 "${flags%% *}:" -- train --method sft --model "$MODEL" --dataset "$DATA" --output "$W/x" $flags
done
expect trace 'generate --prompt ""' 2 "--prompt: empty" -- generate --model "$MODEL" --prompt ""
expect trace "generate --max-new-tokens -5" 2 "--max-new-tokens: -5 is out of range" -- generate --model "$MODEL" --prompt x \
    --max-new-tokens -5
for broken in truncated empty; do
    m="$(model_copy "tok-$broken")"
    if [ "$broken" = empty ]; then : > "$m/tokenizer.json"; else head -c 500 "$MODEL/tokenizer.json" > "$m/tokenizer.json"; fi
    expect trace "[tokenizer] $broken tokenizer.json at train" 2 "tokenizer.json" -- train --method sft --model "$m" --dataset \
        "$DATA" --output "$W/x"
    expect trace "[tokenizer] $broken tokenizer.json at generate" 2 "tokenizer.json" -- generate --model "$m" --prompt x
done
for mode in no-dtype shape-string; do
    m="$(model_copy "st-$mode")"; damage "$m" "$mode"
    expect trace "[model] safetensors header: $mode" 2 "model.safetensors" -- generate --model "$m" --prompt x
done
m="$(model_copy vocab)"; damage "$m" vocab
expect trace "[model] config vocab_size smaller than the tokenizer's ids" 2 "vocab" -- train --method sft --model "$m" --dataset \
    "$DATA" --output "$W/x" --max-steps 1
expect trace "the NaN-loss stop" 2 "the last good checkpoint is" -- train --method sft --model "$MODEL" --dataset "$DATA" --output \
    "$W/nan" \
    --max-steps 3 --batch-size 2 --save-steps 1 --learning-rate 1e30 --warmup-ratio 0
printf 'scheduler: 99\n' > "$W/s.yaml"
expect trace "YAML scheduler: 99" 2 "'99' is not one of" -- train --config "$W/s.yaml" --method sft --model "$MODEL" --dataset \
    "$DATA" --output "$W/x"
out="$W/ctrl-c"; timeout --preserve-status -s INT 1 "$CLI" train --method sft --model "$MODEL" --dataset "$DATA" --output "$out" \
    --max-steps 1000 \
    > "$W/out" 2> "$W/err"; code=$?
# Clean: the folder this run created is gone, or it holds a whole checkpoint and no temporary file.
clean=no
if [ ! -e "$out" ]; then clean=yes
elif [ -z "$(find "$out" -name '*.tmp*')" ] && ls -d "$out"/checkpoint-* > /dev/null 2>&1; then clean=yes; fi
report trace "Ctrl-C in the first second" "$([ "$code" = 130 ] && [ "$clean" = yes ] && ! grep -q '^   at ' "$W/err" && echo 0 || echo 1)" \
    "exit $code, clean folder: $clean"

echo "Silently accepted or misleading before"
for flags in "--max-grad-norm -1" "--lambda 2" "--gamma -1" "--warmup-ratio 5" "--save-total-limit 0" "--max-steps 0" \
    "--max-prompt-length -5"; do
    expect accepted "train $flags" 2 "${flags%% *}: ${flags#* } is out of range" -- \
        train --method ift --model "$MODEL" --dataset "$DATA" --output "$W/x" $flags
done
expect accepted "train --method dpo --beta -0.1" 2 "--beta: -0.1 is out of range" -- train --method dpo --model "$MODEL" --dataset \
    "$DATA" --output "$W/x" --beta -0.1
for flags in "--top-p 0" "--top-p 2" "--temperature -1" "--top-k -1" "--repetition-penalty 0"; do
    expect accepted "generate $flags" 2 "${flags%% *}: ${flags#* } is out of range" -- generate --model "$MODEL" --prompt x $flags
done
printf 'learnig_rate: 0.01\n' > "$W/k.yaml"
expect accepted "misspelled YAML key" 2 "did you mean learning_rate?" -- train --config "$W/k.yaml" --method sft --model "$MODEL" \
    --dataset "$DATA" --output "$W/x"
printf 'optimizer: 7\n' > "$W/o.yaml"
expect accepted "YAML optimizer: 7" 2 "'7' is not one of" -- train --config "$W/o.yaml" --method sft --model "$MODEL" --dataset \
    "$DATA" --output "$W/x"
printf '{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}\n' > "$W/number.jsonl"
run train --method sft --model "$MODEL" --dataset "$W/number.jsonl" --output "$W/x"
report accepted "[data] content given as a number is not called missing" \
    "$([ "$(rc)" = 2 ] && ! error_line | grep -q missing && error_line | grep -q ':1' && echo 0 || echo 1)" "$(error_line)"
mkdir -p "$W/a-dir"
run train --method sft --model "$MODEL" --dataset "$W/a-dir" --output "$W/x"
report accepted "[data] a dataset folder is not 'file not found'" \
    "$([ "$(rc)" = 2 ] && ! error_line | grep -q 'not found' && echo 0 || echo 1)" "$(error_line)"
printf '{"messages": [{"role": "user", "content": "caf\xff"}, {"role": "assistant", "content": "x"}]}\n' > "$W/utf8.jsonl"
expect accepted "[data] invalid UTF-8 is an error naming the line" 2 ":1" -- train --method sft --model "$MODEL" --dataset \
    "$W/utf8.jsonl" --output "$W/x"
printf '{"prompt": "a", "chosen": "same", "rejected": "same"}\n{"prompt": "b", "chosen": "x", "rejected": "y"}\n' > "$W/same.jsonl"
run train --method dpo --model "$MODEL" --dataset "$W/same.jsonl" --output "$W/same" --max-steps 1 --batch-size 2
report accepted "[data] chosen == rejected rows are counted in a warning" \
    "$(grep -qi 'chosen.*rejected\|rejected.*chosen' "$W/out" "$W/err" && echo 0 || echo 1)" \
    "$(grep -hi -m1 'chosen' "$W/out" "$W/err" | head -c 100)"
for mode in f8 i32 nan; do
    m="$(model_copy "w-$mode")"; damage "$m" "$mode"
    expect accepted "[model] $mode weights: an error naming file and tensor" 2 "model.norm.weight" -- generate --model "$m" --prompt \
        x --max-new-tokens 2
done
long="$(printf 'a%.0s' $(seq 300))"
run generate --model "$MODEL" --prompt "$long" --max-new-tokens 2
report accepted "[generate] a prompt longer than the positions is warned about" \
    "$( ( [ "$(rc)" != 0 ] || grep -qi 'warning' "$W/out" "$W/err" ) && ! grep -q '^   at ' "$W/err" && echo 0 || echo 1)" \
    "exit $(rc): $(grep -hi -m1 'warning\|error' "$W/err" "$W/out" | head -c 100)"

echo
echo "passed $pass, failed $fail, skipped $skipped:" \
    "stack traces $traces, silently accepted or misleading $accepted, mixed or lost runs $mixed"
[ "$fail" = 0 ]
