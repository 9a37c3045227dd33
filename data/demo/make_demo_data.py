"""Writes the small bundled demo dataset (conversational, TRL's `messages` shape).
Three toy skills a tiny model can pick up in a minute of CPU training: reversing a word,
adding two small numbers, and naming the colour of a fruit. Re-run to regenerate (seeded)."""
import json, random

rng = random.Random(7)
words = ["cat", "dog", "sun", "tree", "milk", "bird", "lamp", "rose", "fish", "moon", "star", "cake",
         "book", "rain", "wolf", "frog", "ship", "coin", "kite", "leaf", "nest", "pear", "ring", "salt"]
fruits = {"banana": "yellow", "apple": "red", "lime": "green", "plum": "purple", "orange": "orange",
          "lemon": "yellow", "cherry": "red", "kiwi": "green", "grape": "purple", "peach": "orange"}

def example(user, assistant):
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}

rows = []
for w in words:
    rows.append(example(f"Reverse the word {w}.", f"{w[::-1]}"))
for a in range(10):
    for b in range(10):
        rows.append(example(f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."))
for fruit, colour in fruits.items():
    rows.append(example(f"What colour is a {fruit}?", f"A {fruit} is {colour}."))
rng.shuffle(rows)
held_out = rows[:12]
with open("train.jsonl", "w") as f:
    for r in rows[12:]:
        f.write(json.dumps(r) + "\n")
with open("eval.jsonl", "w") as f:
    for r in held_out:
        f.write(json.dumps(r) + "\n")
print(len(rows) - 12, "train,", len(held_out), "eval")
