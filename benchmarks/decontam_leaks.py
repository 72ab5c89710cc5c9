"""Leak sets for benchmarks/decontam_recall.py: eval items copied, embedded in a longer prompt,
re-wrapped (whitespace, punctuation, numbering, case), with their numbers changed, or
paraphrased by hand-written templates; and clean prompts to measure false positives on.

Eval items are the bundled sets (data/eval/*.jsonl) plus a GSM-style word-problem set built
here from reasoning-gym's gsm_symbolic (one item per template) and loaded as a user file, the
other eval source warmstart supports. Everything is seeded; nothing is downloaded.
"""

import json
import random
import re
from pathlib import Path
from typing import NamedTuple

CATEGORIES = ("verbatim", "embedded", "rewrapped", "changed_numbers", "paraphrase")
GSM_TASK = "gsm_symbolic"
# Other reasoning-gym tasks, as unrelated clean prompts; lcm and products share gcd's and
# chain_sum's wording and numbers, so they are the hardest negatives.
UNRELATED_TASKS = ("lcm", "products", "simple_equations", "decimal_chain_sum", "number_sorting",
                   "prime_factorization", "fraction_simplification", "count_bits", "time_intervals",
                   "family_relationships", "spell_backward", "caesar_cipher")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Item(NamedTuple):
    """One eval item: its benchmark, index in that benchmark, text and reasoning-gym metadata."""

    benchmark: str
    index: int
    text: str
    metadata: dict


class Leak(NamedTuple):
    category: str
    item: Item
    text: str


def bundled_items(eval_dir: Path) -> list[Item]:
    """Every item of data/eval/*.jsonl, with its metadata (the paraphrase templates read it)."""
    items = []
    for path in sorted(eval_dir.glob("*.jsonl")):
        for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            record = json.loads(line)
            items.append(Item(path.stem, index, record["question"], record["metadata"]))
    return items


def gsm_eval_and_clean(n_eval: int, n_clean: int, seed: int) -> tuple[list[Item], list[str]]:
    """GSM-style eval items, one per template, and clean word problems from the other templates
    (a same-template problem with other numbers is a changed-numbers leak, not a clean prompt)."""
    import reasoning_gym

    data = reasoning_gym.create_dataset(GSM_TASK, size=n_eval * 8 + n_clean * 8, seed=seed)
    templates, items, clean = set(), [], []
    for i in range(len(data)):
        template = data.task_indices[i]
        if len(items) < n_eval and template not in templates:
            templates.add(template)
            entry = data[i]
            items.append(Item(GSM_TASK, len(items), entry["question"], entry["metadata"]))
    for i in range(len(data)):
        if len(clean) < n_clean and data.task_indices[i] not in templates:
            clean.append(data[i]["question"])
    return items, clean


def make_leaks(items: list[Item], rng: random.Random, paraphrases_per_item: int) -> list[Leak]:
    """Every category's leaks of every item (changed_numbers: items with numbers only)."""
    leaks = []
    for item in items:
        leaks.append(Leak("verbatim", item, item.text))
        leaks.append(Leak("embedded", item, rng.choice(WRAPPERS).format(item=item.text)))
        leaks.append(Leak("rewrapped", item, rewrap(item.text, rng)))
        changed = change_numbers(item.text, rng)
        if changed is not None:
            leaks.append(Leak("changed_numbers", item, changed))
        leaks += [Leak("paraphrase", item, text) for text in paraphrases(item, rng, paraphrases_per_item)]
    return leaks


WRAPPERS = [
    "Here is a problem from my homework, please help.\n\n{item}\n\nExplain each step.",
    "Question: {item}\nAnswer: Let's think step by step.",
    "You are a careful tutor. Solve the following task and put the result after 'Answer:'.\n{item}",
    "{item}\n\nThink it through before you answer, and double-check the result.",
    "Practice set, problem 7.\n{item}\nShow your reasoning.",
]


# --- re-wrapping: same words, other whitespace, punctuation, numbering and case ---

def _whitespace(text: str, rng) -> str:
    return re.sub(r"\s+", " ", text).strip() if rng.random() < 0.5 else "  " + re.sub(r"([.?:]) ", r"\1\n\n", text)


def _punctuation(text: str, rng) -> str:
    swaps = [[(":", " -")], [('"', "'")], [("?", ".")], [(", ", " , ")], [("(", "["), (")", "]")], [("=", "= ?")]]
    for pairs in rng.sample(swaps, 3):
        for old, new in pairs:
            text = text.replace(old, new)
    return text.rstrip(".?! \n") if rng.random() < 0.5 else text


def _numbering(text: str, rng) -> str:
    style = rng.choice([r"\1(\2)", r"\1\2)", r"\1- ", r"\1Step \2:"])
    return re.sub(r"(?m)^(\s*\.?)(\d+)\.", style, text)


def _case(text: str, rng) -> str:
    return text.lower() if rng.random() < 0.5 else text.upper()


REWRAPS = (_whitespace, _punctuation, _numbering, _case)


def rewrap(text: str, rng: random.Random) -> str:
    """Punctuation always changes; whitespace, numbering and case each with probability 1/2."""
    for change in REWRAPS:
        if change is _punctuation or rng.random() < 0.5:
            text = change(text, rng)
    return text


# --- changed numbers: every number but list markers gets another value of similar size ---

def change_numbers(text: str, rng: random.Random) -> str | None:
    """The text with each content number replaced; None when it has none."""
    changed = False

    def other(match: re.Match) -> str:
        nonlocal changed
        start = match.start()
        if (start == 0 or text[start - 1] in "\n.") and text[match.end():match.end() + 1] in ".)":
            return match.group()  # a list marker ("1. ", ".2. "), not a quantity
        changed = True
        value = match.group()
        whole, _, decimals = value.partition(".")
        n = int(whole)
        spread = max(2, n // 2)
        new = rng.choice([v for v in range(max(0, n - spread), n + spread + 1) if v != n])
        return f"{new}.{decimals}" if decimals else str(new)

    out = NUMBER.sub(other, text)
    return out if changed else None


# --- paraphrases: hand-written rewordings that keep the item's content ---

def _expression(m: dict) -> dict:
    return {"e": m["expression"]}


def _countdown(m: dict) -> dict:
    nums = [str(v) for v in m["numbers"]]
    return {"nums": ", ".join(nums), "last": f"{', '.join(nums[:-1])} and {nums[-1]}", "target": m["target"]}


def _gcd(m: dict) -> dict:
    a, b = m["numbers"][:2]
    return {"a": a, "b": b}


def _legs(m: dict) -> dict:
    parts = [f"{count} {animal}{'s' if count > 1 else ''}" for animal, count in m["animals"].items()]
    return {"animals": " and ".join(parts)}


def _letters(m: dict) -> dict:
    return {"letter": m["target_letter"], "span": " ".join(m["span"])}


def _logic(m: dict) -> dict:
    return {"premises": "; ".join(m["premises"]), "listed": " and ".join(m["premises"])}


def _syllogism(m: dict) -> dict:
    return {"p1": m["premise1"], "p2": m["premise2"], "c": m["conclusion"],
            "p1l": m["premise1"][0].lower() + m["premise1"][1:], "p2l": m["premise2"][0].lower() + m["premise2"][1:]}


PARAPHRASES = {
    "basic_arithmetic": (_expression, ["What is {e}?", "Compute the value of {e}.",
                                       "Evaluate the expression {e} and report the result.",
                                       "Work out {e}. Reply with a number."]),
    "chain_sum": (_expression, ["What is {e}?", "Find the value of {e}.", "Compute {e} and give the final answer.",
                                "Do this sum: {e}. What do you get?"]),
    "countdown": (_countdown, [
        "Combine {last} with +, -, * and / (each number exactly once) to reach {target}.",
        "Target: {target}. Numbers: {nums}. Write an expression that uses every number once and equals the target.",
        "Can you get {target} from the numbers {nums}, using each one a single time? Reply with the expression.",
        "Build the number {target} out of {last}; each must be used once. Give just the arithmetic expression."]),
    "gcd": (_gcd, ["What is the greatest common divisor of {a} and {b}?", "Compute gcd({a}, {b}).",
                   "Find the largest integer that divides both {a} and {b}.",
                   "Determine the GCD of {a} and {b}; answer with the number only."]),
    "leg_counting": (_legs, ["Count the legs: {animals}. How many legs are there altogether?",
                             "A farm has {animals}. What is the total number of legs?",
                             "How many legs do {animals} have in total?",
                             "Add up the legs of {animals}. Give the total."]),
    "letter_counting": (_letters, ['Count the occurrences of the letter "{letter}" in "{span}".',
                                   'In the text "{span}", how often does the letter {letter} occur?',
                                   "How many {letter}'s are there in '{span}'?",
                                   'Tell me the number of times "{letter}" shows up in: {span}']),
    "propositional_logic": (_logic, [
        "Premises: {premises}. What conclusion follows? Use the symbols ∨ ∧ → ↔ ¬.",
        "From the statements {listed}, infer a valid conclusion, written in propositional logic.",
        "We know {listed}. State one logical consequence as a formula.",
        "Given the premises {premises}, give a conclusion that must be true (notation: ∨, ∧, →, ↔, ¬)."]),
    "syllogism": (_syllogism, [
        "Suppose {p1l} and {p2l}. Can we conclude that {c}? Answer Yes or No.",
        "Premise one: {p1}. Premise two: {p2}. Is '{c}' a valid conclusion? (Yes/No)",
        "Given that {p1l}, and that {p2l}, does it follow that {c}?",
        "{p1}. {p2}. Therefore, {c}. Is this reasoning valid? Reply Yes or No."]),
}

# word-problem paraphrase: synonym swaps, then the question moves to the front
GSM_SYNONYMS = {"bought": "purchased", "buys": "purchases", "has": "owns", "each": "every", "total": "overall",
                "How many": "What number of", "How much": "What amount of", "wants": "would like",
                "needs": "requires", "gets": "receives", "gave": "handed", "spends": "uses up",
                "people": "persons", "week": "seven-day period", "store": "shop", "money": "cash",
                "then": "after that", "If": "Suppose", "also": "additionally", "uses": "makes use of"}


def paraphrase_word_problem(text: str, rng: random.Random) -> str:
    """Swap in synonyms (each with probability 3/4) and ask the question first."""
    for word, synonym in GSM_SYNONYMS.items():
        if rng.random() < 0.75:
            text = re.sub(rf"\b{re.escape(word)}\b", synonym, text)
    sentences = re.split(r"(?<=[.?!])\s+", text.strip())
    questions = [s for s in sentences if s.endswith("?")]
    rest = [s for s in sentences if not s.endswith("?")]
    return " ".join(questions + ["Here is the situation:"] + rest)


def paraphrases(item: Item, rng: random.Random, count: int) -> list[str]:
    """`count` distinct rewordings of one item (fewer if its task has fewer templates)."""
    if item.benchmark == GSM_TASK:
        return list(dict.fromkeys(paraphrase_word_problem(item.text, rng) for _ in range(count)))
    content, templates = PARAPHRASES[item.benchmark]
    values = content(item.metadata)
    return [t.format(**values) for t in rng.sample(templates, min(count, len(templates)))]


# --- clean prompts ---

def same_task_prompts(tasks: list[str], per_task: int, seed: int) -> dict[str, list[str]]:
    """Fresh prompts of the eval tasks at the eval configs, with training-style seeds."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "data" / "eval" / "make_eval_sets.py"
    spec = importlib.util.spec_from_file_location("make_eval_sets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {task: [r["question"] for r in module.eval_records(task, per_task, seed + offset)]
            for offset, task in enumerate(tasks)}


def unrelated_prompts(per_task: int, seed: int, gcd_config: dict) -> dict[str, list[str]]:
    """Prompts of other reasoning-gym tasks (lcm at gcd's settings, to share its wording)."""
    import reasoning_gym

    out = {}
    for offset, task in enumerate(UNRELATED_TASKS):
        config = gcd_config if task == "lcm" else {}
        data = reasoning_gym.create_dataset(task, size=per_task, seed=seed + offset, **config)
        out[task] = [data[i]["question"] for i in range(per_task)]
    return out
