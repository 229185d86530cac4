"""Is a collection message abusive, and how: threat, insult, humiliation, third party.

Two readers, combined:
* a lexicon of phrases per category and language (explainable: the finding quotes the
  phrase), and
* per category, a logistic regression on character n-grams, trained on the labelled
  corpus `data/collection_messages.jsonl` the project wrote (Chinese and English).

A message has a category when the lexicon matches or the model's probability reaches the
policy's `min_classifier_probability`. The corpus is split by `group` (near-paraphrases
share one), so the held-out measure is on message ideas the model never saw. The settings
(character 1-4-grams, C = 16, probability 0.3, lexicon on) were chosen by 5-fold group
cross-validation on the training messages alone (F1 0.876), not on the held-out ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

CATEGORIES = ("threat", "insult", "humiliation", "third_party")
TEST_SHARE = 0.3  # share of groups held out for the printed precision and recall

LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "threat": {
        "zh": (r"(?:上门|到你家|去你(?:家|单位|公司))", r"(?:抓你|逮捕|坐牢|拘留|蹲监狱|判刑)", r"后果自负", r"(?:打断|弄死|废了|收拾你|找人)",
               r"(?:别怪我们|走着瞧|等着瞧|让你好看)", r"(?:警察|公安).{0,6}(?:找你|抓|上门)", r"(?:家人|孩子|老婆|父母).{0,8}(?:安全|小心|出事)"),
        "en": (r"\b(?:arrest(?:ed)?|jail|prison|lock(?:ed)? you up)\b", r"\b(?:you(?:'ll| will) regret|or else|watch your back|consequences will be severe)\b",
               r"\b(?:come to your (?:home|house|office|work)|visit your (?:home|house|family|workplace))\b", r"\b(?:hurt|harm|break your|kill)\b",
               r"\b(?:police (?:will|are coming)|warrant for your)\b", r"\bsafety of your (?:family|children|kids)\b"),
    },
    "insult": {
        "zh": (r"(?:老赖|骗子|人渣|废物|垃圾|畜生|不要脸|无耻|混蛋|王八蛋|狗东西|傻[逼B]|去死|滚)",),
        "en": (r"\b(?:deadbeat|scum|loser|idiot|moron|thief|liar|trash|garbage|worthless|pathetic|shameless|bastard|parasite)\b",),
    },
    "humiliation": {
        "zh": (r"(?:曝光|公开|公示|挂到|发到).{0,10}(?:朋友圈|网上|群|通讯录|全网|小区|单位)", r"(?:让所有人|让大家|让全村|让亲戚朋友).{0,6}(?:知道|看看)",
               r"(?:大字报|悬赏|通缉令|P图|裸照|丢人现眼|丢尽)", r"爆通讯录"),
        "en": (r"\b(?:everyone (?:will|is going to) know|tell everyone|let everyone know)\b", r"\b(?:post(?:ed|ing)? (?:your|it)|publish(?:ed|ing)? your|shame you|public(?:ly)? (?:name|shame))\b",
               r"\b(?:wanted poster|your photo(?:s)? (?:online|everywhere)|social media)\b"),
    },
    "third_party": {
        "zh": (r"(?:联系|通知|告诉|打给|找).{0,8}(?:你的)?(?:通讯录|联系人|好友|朋友|家人|亲属|父母|老婆|老公|同事|领导|单位|公司|村委)",
               r"(?:您|你)(?:的)?(?:儿子|女儿|丈夫|妻子|父亲|母亲|朋友|同事|员工).{0,10}(?:欠|借款|逾期|未还)", r"代(?:为|其)?(?:还款|偿还)"),
        "en": (r"\b(?:contact|call|notify|inform|tell|message)\b.{0,25}\b(?:your (?:contacts|friends|family|relatives|parents|spouse|wife|husband|employer|boss|colleagues|coworkers|hr))\b",
               r"\byour (?:son|daughter|husband|wife|father|mother|brother|sister|friend|employee|colleague)\b.{0,40}\b(?:owes|debt|overdue|borrowed|loan)\b",
               r"\b(?:pay (?:it|this) on (?:his|her|their) behalf|settle (?:his|her) debt)\b"),
    },
}
_COMPILED = {cat: {lang: [re.compile(p, re.I) for p in pats] for lang, pats in langs.items()} for cat, langs in LEXICON.items()}
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Verdict:
    categories: tuple[str, ...]  # empty: the message is compliant
    matched: dict[str, str]  # category -> the phrase the lexicon matched ("" when only the model flagged it)
    probabilities: dict[str, float]


def language(text: str) -> str:
    return "zh" if len(_CJK.findall(text)) >= max(2, len(text) * 0.15) else "en"


def lexicon_hits(text: str) -> dict[str, str]:
    lang = language(text)
    hits = {}
    for category in CATEGORIES:
        for pattern in _COMPILED[category][lang]:
            match = pattern.search(text)
            if match:
                hits[category] = match.group(0)
                break
    return hits


def corpus() -> list[dict]:
    raw = resources.files("lendguard.audit").joinpath("data/collection_messages.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def is_test(group: str) -> bool:
    """A stable, seeded assignment of a message idea to the held-out share."""
    return int(hashlib.sha256(f"split:{group}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < TEST_SHARE


class CollectionClassifier:
    def __init__(self, rows: list[dict]):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [r["text"] for r in rows]
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True, lowercase=True)
        matrix = self.vectorizer.fit_transform(texts)
        self.models = {}
        for category in CATEGORIES:
            y = np.array([category in r.get("categories", []) for r in rows], dtype=int)
            if 0 < y.sum() < len(y):
                self.models[category] = LogisticRegression(C=16.0, class_weight="balanced", max_iter=3000).fit(matrix, y)

    def probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        matrix = self.vectorizer.transform(texts)
        columns = {c: m.predict_proba(matrix)[:, 1] for c, m in self.models.items()}
        return [{c: float(p[k]) for c, p in columns.items()} for k in range(len(texts))]

    def classify(self, texts: list[str], threshold: float, use_lexicon: bool = True, use_model: bool = True) -> list[Verdict]:
        probabilities = self.probabilities(texts) if use_model else [{} for _ in texts]
        verdicts = []
        for text, probs in zip(texts, probabilities, strict=True):
            hits = lexicon_hits(text) if use_lexicon else {}
            flagged = {c for c, p in probs.items() if p >= threshold} | set(hits)
            verdicts.append(Verdict(tuple(c for c in CATEGORIES if c in flagged), {c: hits.get(c, "") for c in flagged}, probs))
        return verdicts


@cache
def trained(held_out: bool = False) -> CollectionClassifier:
    """The classifier the auditor uses (trained on the whole corpus), or, with `held_out`,
    one trained without the test groups (for the printed precision and recall)."""
    rows = corpus()
    return CollectionClassifier([r for r in rows if not (held_out and is_test(r["group"]))])


def evaluate(threshold: float) -> dict:
    """Precision and recall on the held-out groups, per language and for each reader."""
    everything = corpus()
    rows = [r for r in everything if is_test(r["group"])]
    model = trained(held_out=True)
    report = {"test_messages": len(rows), "train_messages": len(everything) - len(rows)}
    for name, flags in (("combined", (True, True)), ("lexicon", (True, False)), ("model", (False, True))):
        verdicts = model.classify([r["text"] for r in rows], threshold, *flags)
        report[name] = {}
        for lang in ("zh", "en", "all"):
            picked = [(r, v) for r, v in zip(rows, verdicts, strict=True) if lang == "all" or r["lang"] == lang]
            truth = np.array([r["label"] == 1 for r, _ in picked])
            said = np.array([bool(v.categories) for _, v in picked])
            tp = int((truth & said).sum())
            report[name][lang] = {
                "messages": len(picked), "violating": int(truth.sum()),
                "precision": tp / said.sum() if said.sum() else None, "recall": tp / truth.sum() if truth.sum() else None,
            }
    return report
