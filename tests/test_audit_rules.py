"""The compliance auditor's rules on small hand-built targets: each rule fires on its
violation with the evidence named, and stays quiet on the compliant variant."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lendguard.audit.cashflows import apr, cash_flows
from lendguard.audit.contracts import read_contract
from lendguard.audit.engine import run_audit
from lendguard.audit.own import own_targets
from lendguard.audit.target import AuditTargetError, Contract, Product, load_target
from lendguard.cli.main import app as cli
from lendguard.policy import load_policy

POLICY = load_policy()
PRODUCT = {"name": "QuickCash", "principal": "12000.00", "disbursed": "12000.00", "term_months": 12,
           "method": "equal_installment", "annual_rate": "0.18", "disclosed_apr": "0.18"}


def write(root: Path, parts: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in parts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif name.endswith(".json"):
            path.write_text(json.dumps(content), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return root


def rules_of(root: Path) -> set[str]:
    return run_audit(load_target(root), POLICY).rules_found()


# ---- APR and head-cut ----------------------------------------------------------------------------
def test_the_apr_of_plain_terms_is_their_nominal_rate_and_fees_raise_it():
    plain = Product.model_validate(PRODUCT)
    assert abs(apr(plain) - Decimal("0.18")) < Decimal("0.0001")
    assert sum(cash_flows(plain)[1:]) < -12000  # the repayments exceed the principal
    with_fee = Product.model_validate({**PRODUCT, "fees": [{"name": "服务费", "amount": "600.00", "charged": "upfront"}]})
    assert apr(with_fee) > Decimal("0.27")
    withheld = Product.model_validate({**PRODUCT, "disbursed": "11400.00", "fees": [{"name": "服务费", "amount": "600.00", "withheld": True}]})
    assert abs(apr(withheld) - apr(with_fee)) < Decimal("0.0001")  # withholding costs the same as paying upfront


def test_apr_rules(tmp_path):
    assert not rules_of(write(tmp_path / "ok", {"product.yaml": PRODUCT})) & {"AU-APR-01", "AU-APR-02", "AU-APR-03"}
    assert "AU-APR-01" in rules_of(write(tmp_path / "none", {"product.yaml": {**PRODUCT, "disclosed_apr": None}}))
    fee = {**PRODUCT, "fees": [{"name": "service fee", "amount": "600.00"}]}
    assert {"AU-APR-02", "AU-APR-03"} <= rules_of(write(tmp_path / "fee", {"product.yaml": fee}))
    monthly = {**PRODUCT, "annual_rate": None, "monthly_rate": "0.025", "disclosed_apr": "0.30"}
    assert rules_of(write(tmp_path / "high", {"product.yaml": monthly})) & {"AU-APR-02", "AU-APR-03"} == {"AU-APR-03"}


def test_head_cut_rules_name_the_field(tmp_path):
    cut = {**PRODUCT, "disbursed": "11000.00", "fees": [{"name": "手续费", "rate": "0.02", "withheld": True}]}
    report = run_audit(load_target(write(tmp_path / "cut", {"product.yaml": cut})), POLICY)
    by_rule = {f.rule: f for f in report.findings}
    assert by_rule["AU-HC-01"].evidence.location == "disbursed" and "1000.00" in by_rule["AU-HC-01"].message.en
    assert by_rule["AU-HC-02"].evidence.location == "fees[0].withheld" and "240.00" in by_rule["AU-HC-02"].message.zh
    assert by_rule["AU-HC-01"].severity == "critical" and "670" in by_rule["AU-HC-01"].legal_basis.en


# ---- permissions, consent, retention -------------------------------------------------------------
def test_permission_rules(tmp_path):
    manifest = {"integration": "mini_program", "purposes": ["account", "anti_fraud", "identity"], "permissions": [
        {"name": "location", "purpose": "anti_fraud", "requested_at": "apply"},
        {"name": "camera", "purpose": "identity", "requested_at": "identity"},
    ]}
    assert not rules_of(write(tmp_path / "ok", {"manifest.json": manifest})) & {"AU-PM-01", "AU-PM-02"}
    contacts = {**manifest, "permissions": [*manifest["permissions"], {"name": "contacts", "purpose": "credit_scoring", "requested_at": "apply"}]}
    assert "AU-PM-01" in rules_of(write(tmp_path / "contacts", {"manifest.json": contacts}))
    undeclared = {**manifest, "purposes": ["account", "identity"]}  # location's purpose is not declared
    assert "AU-PM-01" in rules_of(write(tmp_path / "undeclared", {"manifest.json": undeclared}))
    early = {**manifest, "permissions": [{"name": "camera", "purpose": "identity", "requested_at": "launch"}]}
    assert rules_of(write(tmp_path / "early", {"manifest.json": early})) & {"AU-PM-01", "AU-PM-02"} == {"AU-PM-02"}


def test_consent_screen_rules(tmp_path):
    good = {"screens": [{"id": "apply", "text": "授权说明", "font_size_px": 14, "checkboxes": [
        {"id": "a", "label": "信用评估", "purposes": ["credit_scoring"]}, {"id": "b", "label": "营销", "purposes": ["marketing"]}]}]}
    assert not rules_of(write(tmp_path / "ok", {"consent.yaml": good})) & {"AU-CS-01", "AU-CS-02", "AU-CS-03", "AU-CS-04"}
    bad = {"screens": [{"id": "apply", "text": "授权说明", "font_size_px": 8, "hidden": True, "checkboxes": [
        {"id": "all", "label": "我同意全部", "purposes": ["credit_scoring", "marketing"], "default_checked": True}]}]}
    assert {"AU-CS-01", "AU-CS-02", "AU-CS-03", "AU-CS-04"} <= rules_of(write(tmp_path / "bad", {"consent.yaml": bad}))


def test_retention_rules(tmp_path):
    good = {"categories": {"payment_flows": {"retention_days": 1095}, "device": {"retention_days": 300}}, "deletion": {"path": "设置 > 删除", "days_after_withdrawal": 10}}
    assert not rules_of(write(tmp_path / "ok", {"retention.yaml": good})) & {"AU-RT-01", "AU-RT-02"}
    long = {**good, "categories": {"device": {"retention_days": 3650}}}
    assert "AU-RT-01" in rules_of(write(tmp_path / "long", {"retention.yaml": long}))
    assert "AU-RT-02" in rules_of(write(tmp_path / "nopath", {"retention.yaml": {**good, "deletion": {"days_after_withdrawal": 10}}}))
    assert "AU-RT-02" in rules_of(write(tmp_path / "slow", {"retention.yaml": {**good, "deletion": {"path": "x", "days_after_withdrawal": 60}}}))


# ---- scraping, channels, pricing, overrides ------------------------------------------------------
def _log(rows: list[tuple]) -> str:
    lines = ["ts,client_id,ip,user_agent,action,user_id,endpoint"]
    lines += [",".join(map(str, r)) for r in rows]
    return "\n".join(lines) + "\n"


def test_scraping_rules(tmp_path):
    normal = [(f"2026-03-01T{8 + k // 60:02d}:{k % 60:02d}:00+08:00", f"app-{k % 7}", "10.0.0.1", "Mozilla/5.0 (iPhone)", "query", f"u{k}", "/v1/bill") for k in range(300)]
    assert not rules_of(write(tmp_path / "ok", {"access_log.csv": _log(normal)})) & {"AU-SC-01", "AU-SC-02"}
    burst = normal + [(f"2026-03-01T12:00:{k % 60:02d}.{k:03d}+08:00", "bot", "1.2.3.4", "Mozilla/5.0", "query", f"v{k % 40}", "/v1/bill") for k in range(90)]
    assert "AU-SC-01" in rules_of(write(tmp_path / "burst", {"access_log.csv": _log(burst)}))
    scripted = normal + [("2026-03-01T13:00:00+08:00", "crawler", "1.2.3.5", "python-requests/2.31", "login", "u1", "/login")]
    assert "AU-SC-02" in rules_of(write(tmp_path / "scripted", {"access_log.csv": _log(scripted)}))
    many = normal + [(f"2026-03-01T14:{k:02d}:00+08:00", "farm", "1.2.3.6", "Mozilla/5.0", "login", f"acct{k}", "/login") for k in range(25)]
    assert "AU-SC-02" in rules_of(write(tmp_path / "many", {"access_log.csv": _log(many)}))


def test_channel_rules(tmp_path):
    funder = {"name": "某网络小贷", "role": "funder", "regions": ["Guangdong", "Zhejiang"], "controller": "某控股",
              "licences": [{"kind": "online_small_loan", "regions": ["Guangdong", "Zhejiang"]}]}
    national = {"name": "某银行", "role": "funder", "regions": ["Hunan"], "controller": "国资委", "licences": [{"kind": "bank", "regions": ["*"]}]}
    collector = {"name": "某催收", "role": "collector", "regions": ["Hunan"], "controller": "某人"}
    assert not rules_of(write(tmp_path / "ok", {"partners.yaml": {"partners": [funder, national, collector]}})) & {"AU-CH-01", "AU-CH-02"}
    nested = {**funder, "regions": ["Guangdong", "Jiangxi"], "controller": None}
    report = run_audit(load_target(write(tmp_path / "bad", {"partners.yaml": {"partners": [nested]}})), POLICY)
    assert {f.rule for f in report.findings} == {"AU-CH-01", "AU-CH-02"}
    assert "Jiangxi" in next(f for f in report.findings if f.rule == "AU-CH-01").message.en


def test_pricing_rule_compares_equally_qualified_applicants_only(tmp_path):
    rows = ["applicant_id,channel,score_band,dimensions,apr"]
    for k in range(6):
        rows += [f"a{k},app,B,8/8,0.12", f"b{k},partner,B,8/8,0.1205", f"c{k},partner,C,8/8,0.18"]
    assert "AU-PR-01" not in rules_of(write(tmp_path / "ok", {"offers.csv": "\n".join(rows) + "\n"}))
    rows += [f"d{k},h5,B,8/8,0.18" for k in range(4)]
    report = run_audit(load_target(write(tmp_path / "bad", {"offers.csv": "\n".join(rows) + "\n"})), POLICY)
    finding = next(f for f in report.findings if f.rule == "AU-PR-01")
    assert "h5" in finding.evidence.quote and "18.00%" in finding.evidence.quote


def test_override_rules_use_the_review_bounds(tmp_path):
    records = [
        {"review_id": "r1", "kind": "risk_level", "from": "R2", "to": "R1", "verified": True},
        {"review_id": "r2", "kind": "risk_level", "from": "R1", "to": "R2"},  # raising is stricter: fine
        {"review_id": "r3", "kind": "line", "from": "10000", "to": "11000"},
    ]
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    assert not rules_of(write(tmp_path / "ok", {"reviews.jsonl": text})) & {"AU-RV-01", "AU-RV-02"}
    bad = records + [{"review_id": "r4", "kind": "risk_level", "from": "R3", "to": "R0"}, {"review_id": "r5", "kind": "line", "from": "2000", "to": "10000"}]
    report = run_audit(load_target(write(tmp_path / "bad", {"reviews.jsonl": "\n".join(json.dumps(r) for r in bad)})), POLICY)
    assert [f.rule for f in report.findings].count("AU-RV-01") == 1 and [f.rule for f in report.findings].count("AU-RV-02") == 1


# ---- collection ----------------------------------------------------------------------------------
def test_collection_rules(tmp_path):
    good = {"messages": [
        {"id": "g1", "text": "您的借款已逾期3天，应还1,250.00元，请尽快还款；如有困难可申请延期。", "sent_at": "2026-03-01T10:00:00+08:00"},
        {"id": "g2", "text": "Your repayment of CNY 800 is 5 days overdue. Late records may be reported to the credit bureau under your contract.", "sent_at": "2026-03-01T15:00:00+08:00"},
    ]}
    assert not rules_of(write(tmp_path / "ok", {"collection.yaml": good})) & {"AU-CO-01", "AU-CO-02", "AU-CO-03"}
    bad = {"messages": [
        {"id": "b1", "text": "老赖，再不还钱就把你的照片发到你所有通讯录好友的朋友圈，让所有人都知道你是骗子！", "sent_at": "2026-03-01T10:00:00+08:00"},
        {"id": "b2", "text": "Your son owes us CNY 5,000. Tell him to pay today.", "recipient": "relative", "sent_at": "2026-03-01T11:00:00+08:00"},
        {"id": "b3", "text": "请于今日还款。", "sent_at": "2026-03-01T23:30:00+08:00"},
    ]}
    report = run_audit(load_target(write(tmp_path / "bad", {"collection.yaml": bad})), POLICY)
    by_message = {}
    for f in report.findings:
        by_message.setdefault(f.evidence.location.split()[1].strip("()"), set()).add(f.rule)
    assert "AU-CO-01" in by_message["b1"] and "AU-CO-02" in by_message["b2"] and by_message["b3"] == {"AU-CO-03"}


# ---- contracts -----------------------------------------------------------------------------------
ZH_CONTRACT = """个人借款合同
第一条 借款本金为人民币12,000.00元（壹万贰仟元整），贷款人足额发放。
第二条 年利率18.00%；按内部收益率法计算的年化利率为18.00%。
第三条 借款期限12个月，按月等额本息还款。
第四条 逾期本金按日利率0.075%计收罚息。
"""


def test_contract_reader_skips_penalty_sentences():
    terms = read_contract(Contract("c_zh.txt", "zh", ZH_CONTRACT))
    assert terms.principal.value == Decimal("12000.00") and terms.principal.line == 2
    assert terms.apr.value == Decimal("0.18") and terms.term_months.value == 12
    assert terms.nominal_annual_rate.value == Decimal("0.18")  # the penalty's daily rate is not the loan's


def test_contract_rules_cross_check_the_terms(tmp_path):
    assert not rules_of(write(tmp_path / "ok", {"product.yaml": PRODUCT, "contracts/loan_zh.txt": ZH_CONTRACT})) & {
        "AU-CT-01", "AU-CT-02", "AU-CT-03", "AU-CT-04", "AU-APR-01"}
    wrong = ZH_CONTRACT.replace("12,000.00", "15,000.00").replace("期限12个月", "期限6个月").replace("年化利率为18.00%", "年化利率为12.00%")
    wrong += "第五条 借款人应一次性支付服务费300元。\n"
    report = run_audit(load_target(write(tmp_path / "bad", {"product.yaml": PRODUCT, "contracts/loan_zh.txt": wrong})), POLICY)
    found = {f.rule: f for f in report.findings}
    assert {"AU-CT-01", "AU-CT-02", "AU-CT-03", "AU-CT-04"} <= set(found)
    assert found["AU-CT-01"].evidence.file == "contracts/loan_zh.txt" and found["AU-CT-01"].evidence.location == "line 2"
    no_apr = ZH_CONTRACT.replace("按内部收益率法计算的年化利率为18.00%", "")
    assert "AU-APR-01" in rules_of(write(tmp_path / "noapr", {"product.yaml": PRODUCT, "contracts/loan_zh.txt": no_apr}))


# ---- targets, bundles, errors, our own products ----------------------------------------------------
def test_a_bundle_file_is_the_same_target(tmp_path):
    bundle = {"product": {**PRODUCT, "disbursed": "11000.00"}, "contracts": {"loan_zh": ZH_CONTRACT}, "offers": [
        {"applicant_id": "a", "channel": "x", "score_band": "A", "dimensions": "8/8", "apr": "0.12"}]}
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(bundle, allow_unicode=True), encoding="utf-8")
    report = run_audit(load_target(path), POLICY)
    assert "AU-HC-01" in report.rules_found()
    assert next(f for f in report.findings if f.rule == "AU-HC-01").evidence.file == "bundle.yaml#product"
    assert {n.missing[0] for n in report.not_checked} >= {"manifest", "consent", "collection"}


@pytest.mark.parametrize(("parts", "words"), [
    ({"product.yaml": {**PRODUCT, "withheld_fee": "1"}}, ["product.yaml", "withheld_fee"]),
    ({"product.yaml": {**PRODUCT, "monthly_rate": "0.01"}}, ["product.yaml", "exactly one of annual_rate"]),
    ({"consent.yaml": {"screens": [{"id": "a", "checkboxes": [{"id": "c", "purposes": ["x"], "default_checked": "maybe"}]}]}}, ["consent.yaml", "default_checked"]),
    ({"offers.csv": "applicant_id,channel,score_band,apr\na,x,B,twelve\n"}, ["offers.csv", "cannot be read"]),
    ({"notes.txt": "hello"}, ["notes.txt", "does not know"]),
])
def test_bad_targets_are_refused_with_file_and_field(tmp_path, parts, words):
    with pytest.raises(AuditTargetError) as caught:
        load_target(write(tmp_path / "t", parts))
    assert all(w in str(caught.value) for w in words), str(caught.value)


def test_our_own_products_are_clean_and_a_tampered_contract_is_caught():
    targets = own_targets(POLICY)
    assert len(targets) == len(POLICY.loans.products)
    for target in targets:
        report = run_audit(target, POLICY)
        assert report.findings == [], [(f.rule, f.message.en) for f in report.findings]
        assert {"product", "manifest", "consent", "contracts", "retention"} <= set(report.parts)
    tampered = targets[0]
    tampered.contracts = [Contract(c.name, c.lang, c.text.replace("年化利率为", "年化利率约为1").replace("annual percentage rate", "rate")) for c in tampered.contracts]
    assert {"AU-CT-02", "AU-APR-01"} <= run_audit(tampered, POLICY).rules_found()


def test_the_cli_writes_json_and_html_and_exits_by_severity(tmp_path):
    root = write(tmp_path / "t", {"product.yaml": {**PRODUCT, "disbursed": "11000.00"}})
    runner = CliRunner()
    done = runner.invoke(cli, ["audit", str(root), "--out", str(tmp_path / "out"), "--fail-on", "critical"])
    assert done.exit_code == 1, done.output
    assert "AU-HC-01" in done.output
    saved = json.loads((tmp_path / "out" / "audit.json").read_text(encoding="utf-8"))
    assert "AU-HC-01" in {f["rule"] for f in saved["findings"]} and saved["counts"]["critical"] >= 1
    page = (tmp_path / "out" / "audit.html").read_text(encoding="utf-8")
    assert "砍头息" in page and "Civil Code art. 670" in page and 'id="findings"' in page
    assert runner.invoke(cli, ["audit", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(cli, ["audit", "--own", "--fail-on", "low"]).exit_code == 0


def test_the_collection_corpus_and_the_classifier_on_held_out_message_ideas():
    from collections import Counter

    from lendguard.audit.collection_classifier import corpus, evaluate, is_test

    rows = corpus()
    counts = Counter((r["lang"], r["label"]) for r in rows)
    assert len(rows) >= 300 and all(counts[(lang, label)] >= 100 for lang in ("zh", "en") for label in (0, 1)), counts
    assert {c for r in rows for c in r["categories"]} == {"threat", "insult", "humiliation", "third_party"}
    assert all(bool(r["categories"]) == (r["label"] == 1) for r in rows)
    groups = {r["group"] for r in rows}
    assert not {r["group"] for r in rows if is_test(r["group"])} & {r["group"] for r in rows if not is_test(r["group"])}
    assert 0.2 < sum(is_test(g) for g in groups) / len(groups) < 0.4
    report = evaluate(POLICY.audit.collection.min_classifier_probability)
    for lang in ("zh", "en"):
        measured = report["combined"][lang]
        assert measured["precision"] >= 0.8 and measured["recall"] >= 0.8, (lang, measured)
