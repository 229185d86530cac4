"""AU-CT-01..04 (and AU-APR-01 for a contract): the contract's numbers, read by
`audit.contracts`, cross-checked against the product terms."""

from __future__ import annotations

from lendguard.audit.cashflows import apr as true_apr
from lendguard.audit.contracts import fee_category, read_contract
from lendguard.audit.findings import Evidence, Finding, finding, pct
from lendguard.audit.target import AuditTarget

RULES = ("AU-CT-01", "AU-CT-02", "AU-CT-03", "AU-CT-04", "AU-APR-01")
PARTS = ("contracts",)


def check(target: AuditTarget, policy) -> list[Finding]:
    found = []
    product, tolerance = target.product, policy.audit.apr_tolerance
    actual = true_apr(product) if product is not None else None
    for contract in target.contracts:
        terms = read_contract(contract)

        def at(read, name=contract.name):
            return Evidence(file=name, location=f"line {read.line}", quote=read.quote)

        if terms.apr is None:
            found.append(finding("AU-APR-01", Evidence(file=contract.name, quote="(no APR stated)"),
                                 "合同未载明年化利率。", "The contract does not state an APR."))
        if product is None:
            continue
        if terms.principal is not None and terms.principal.value != product.principal:
            found.append(finding("AU-CT-01", at(terms.principal), f"合同本金{terms.principal.value}元，产品条款为{product.principal}元。",
                                 f"The contract states a principal of {terms.principal.value}; the terms say {product.principal}."))
        if terms.apr is not None:
            expected = [v for v in (actual, product.disclosed_apr) if v is not None]
            if expected and all(abs(terms.apr.value - v) > tolerance for v in expected):
                found.append(finding("AU-CT-02", at(terms.apr), f"合同年化利率{pct(terms.apr.value)}，按条款计算为{pct(expected[0])}。",
                                     f"The contract states an APR of {pct(terms.apr.value)}; the terms give {pct(expected[0])}."))
        nominal = terms.nominal_annual_rate
        if nominal is not None and abs(nominal.value - product.nominal_annual_rate) > tolerance:
            found.append(finding("AU-CT-02", at(nominal), f"合同名义年利率{pct(nominal.value)}，产品条款为{pct(product.nominal_annual_rate)}。",
                                 f"The contract's nominal rate is {pct(nominal.value)} a year; the terms say {pct(product.nominal_annual_rate)}."))
        if terms.term_months is not None and int(terms.term_months.value) != product.term_months:
            found.append(finding("AU-CT-03", at(terms.term_months), f"合同期限{terms.term_months.value}个月，产品条款为{product.term_months}个月。",
                                 f"The contract's term is {terms.term_months.value} months; the terms say {product.term_months}."))
        found += _fees(contract.name, terms, product, at)
    return found


def _fees(name, terms, product, at) -> list[Finding]:
    """Every product fee stated in the contract (per charge or in total), and no other."""
    found = []
    stated = {fee_category(f.name): f for f in product.fees}
    for category, reads in terms.fees.items():
        fee = stated.get(category)
        if fee is None:
            read = reads[0]
            found.append(finding("AU-CT-04", at(read), f"合同收取「{category}」{read.value}元，产品条款未列明该费用。",
                                 f"The contract charges a {category} fee of {read.value}, which the terms do not state."))
            continue
        money = fee.money(product.principal)
        allowed = {money, money * product.term_months} if fee.charged == "monthly" else {money}
        wrong = [r for r in reads if r.value not in allowed]
        if wrong and len(wrong) == len(reads):
            found.append(finding("AU-CT-04", at(wrong[0]), f"合同「{category}」为{wrong[0].value}元，产品条款为{money}元。",
                                 f"The contract's {category} fee is {wrong[0].value}; the terms say {money}."))
    for category, fee in stated.items():
        if category not in terms.fees:
            found.append(finding("AU-CT-04", Evidence(file=name, quote=f"(no {fee.name})"),
                                 f"产品条款中的费用「{fee.name}」未在合同中载明。", f"The terms' fee '{fee.name}' is not in the contract."))
    return found
