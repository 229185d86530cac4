"""Reading a contract's numbers: principal, term, APR, nominal rate and fees, in Chinese
and English, each with the line it was read from.

Rules plus a small parser: a marker word (借款本金, "APR", 服务费...) and the first amount,
percentage or month count after it in the same sentence. Sentences about overdue amounts
or penalties are skipped, so a penalty rate is never read as the loan's rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lendguard.audit.target import Contract

NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
MONEY_ZH = rf"(?:(?:人民币|¥|￥|RMB|CNY)\s*{NUMBER}|{NUMBER}\s*元)"
MONEY_EN = rf"(?:(?:CNY|RMB|¥|￥)\s*{NUMBER}|{NUMBER}\s*(?:yuan|CNY|RMB))"
PERCENT = rf"{NUMBER}\s*[%％]"

# Fee categories: the marker in each language.
FEE_MARKERS = {
    "service": ("服务费", "service fee"),
    "handling": ("手续费", "handling fee"),
    "management": ("管理费", "management fee"),
    "consulting": ("咨询费", "consulting fee"),
    "guarantee": ("担保费", "guarantee fee"),
}
# Sentences about overdue amounts, penalties or prepayment (English as whole words, so
# "calculated" is not "late").
_SKIP = {
    "zh": re.compile("逾期|罚息|违约金|提前还款"),
    "en": re.compile(r"\b(?:overdue|penalty|penalties|late|default interest|prepay\w*)\b", re.I),
}


@dataclass(frozen=True)
class Read:
    value: Decimal
    line: int
    quote: str


@dataclass
class ContractTerms:
    principal: Read | None = None
    term_months: Read | None = None
    apr: Read | None = None
    nominal_annual_rate: Read | None = None
    fees: dict[str, list[Read]] = field(default_factory=dict)  # category -> amounts stated


def fee_category(name: str) -> str:
    """The category of a fee's name (a marker in either language), else the name itself."""
    lowered = name.lower()
    for category, (zh, en) in FEE_MARKERS.items():
        if zh in name or en in lowered or en.split()[0] == lowered:
            return category
    return lowered


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _sentences(text: str, lang: str) -> list[tuple[int, str]]:
    """(line number, sentence) pieces; Chinese splits on 。；, English on '. ' and ';'."""
    pieces = []
    splitter = re.compile(r"[。；;]") if lang == "zh" else re.compile(r"(?<=[^\d])\.\s+|;")
    for number, line in enumerate(text.splitlines(), 1):
        for piece in splitter.split(line):
            if piece.strip():
                pieces.append((number, piece.strip()))
    return pieces


def _first(pieces, markers: str, value: str, lang: str, flags=0, skip=True) -> Read | None:
    pattern = re.compile(rf"(?:{markers}).{{0,60}}?{value}", flags)
    for line, sentence in pieces:
        lowered = sentence.lower()
        if skip and _SKIP[lang].search(lowered):
            continue
        match = pattern.search(sentence)
        if match:
            found = next(g for g in match.groups() if g is not None)
            number = _number(found)
            if number is not None:
                return Read(number, line, sentence)
    return None


def read_contract(contract: Contract) -> ContractTerms:
    pieces = _sentences(contract.text, contract.lang)
    terms = ContractTerms()
    if contract.lang == "zh":
        terms.principal = _first(pieces, "借款本金|借款金额", MONEY_ZH, "zh") or _first(pieces, "本金", MONEY_ZH, "zh")
        terms.term_months = _first(pieces, "借款期限|期限", r"(\d+)\s*个月", "zh", skip=False)
        apr = _first(pieces, "综合年化利率|年化利率|年化费率", PERCENT, "zh")
        rates = [("年利率", 1), ("月利率", 12), ("日利率", 365)]
    else:
        terms.principal = _first(pieces, "principal|loan amount", MONEY_EN, "en", re.I)
        terms.term_months = _first(pieces, r"\bterm\b", r"(\d+)\s*months?", "en", re.I, skip=False)
        apr = _first(pieces, r"\bAPR\b|annual percentage rate", PERCENT, "en", re.I)
        rates = [("nominal annual rate|annual interest rate", 1), ("monthly (?:interest )?rate", 12), ("daily (?:interest )?rate", 365)]
    if apr is not None:
        terms.apr = Read(apr.value / 100, apr.line, apr.quote)
    for marker, per_year in rates:
        found = _first(pieces, marker, PERCENT, contract.lang, re.I)
        if found is not None and (terms.nominal_annual_rate is None or found.line < terms.nominal_annual_rate.line):
            terms.nominal_annual_rate = Read(found.value / 100 * per_year, found.line, found.quote)
    money = MONEY_ZH if contract.lang == "zh" else MONEY_EN
    for category, (zh, en) in FEE_MARKERS.items():
        marker = zh if contract.lang == "zh" else en
        pattern = re.compile(rf"{marker}.{{0,30}}?{money}", re.I)
        for line, sentence in pieces:
            if _SKIP[contract.lang].search(sentence):
                continue
            for match in pattern.finditer(sentence):
                number = _number(next(g for g in match.groups() if g is not None))
                if number is not None:
                    terms.fees.setdefault(category, []).append(Read(number, line, sentence))
    return terms
