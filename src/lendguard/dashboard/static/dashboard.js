// The risk dashboard page: fetches GET /v1/dashboard and GET /v1/users/{id}/visibility with
// the analyst's bearer token, and draws every section in Chinese or English (Plotly + tables).
// The token comes from the URL fragment (#token=...; kept in sessionStorage, then removed
// from the address bar) or from the token box; it is sent on every request, never in a URL.
(function () {
  "use strict";

  const TOKEN_KEY = "lendguard.token";
  const LANG_KEY = "lendguard.lang";
  const PLOTLY_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const COLORS = { pass: "#2a9d8f", fail: "#d1495b", warn: "#e9a23b", na: "#8d99ae", accent: "#1f5fa8", light: "#9cc3e6" };
  const SERIES = ["#1f5fa8", "#d1495b", "#2a9d8f", "#e9a23b", "#6c4f9c", "#8d6e63", "#00838f", "#c2185b", "#7cb342", "#5c6bc0"];
  const FUNNEL = ["#173f6b", "#1f5fa8", "#3f7fc4", "#6ea2d8", "#9cc3e6", "#c5dcf1"];
  const FONT = 'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif';

  // ---- every label, in both languages ------------------------------------------------------
  const I18N = {
    title: { en: "lendguard risk dashboard", zh: "lendguard 风控看板" },
    refresh: { en: "Refresh", zh: "刷新" },
    token_label: { en: "Access token", zh: "访问令牌" },
    token_placeholder: { en: "paste a risk-analyst token (lg1.…)", zh: "粘贴风控分析师令牌（lg1.…）" },
    token_use: { en: "Use token", zh: "使用令牌" },
    token_forget: { en: "Forget token", zh: "清除令牌" },
    token_present: { en: "A token is set for this browser tab.", zh: "本标签页已设置令牌。" },
    token_missing: {
      en: "Sign in: paste a risk-analyst token above, or open the link printed by `lendguard token issue --role risk_analyst --subject NAME`.",
      zh: "请登录：在上方粘贴风控分析师令牌，或打开 `lendguard token issue --role risk_analyst --subject NAME` 打印的链接。",
    },
    auth_401: {
      en: "The server refused the token (missing, expired, forged or issued under another secret). Get a new one with `lendguard token issue --role risk_analyst --subject NAME`.",
      zh: "服务器拒绝了令牌（缺失、已过期、伪造或由其他密钥签发）。请用 `lendguard token issue --role risk_analyst --subject NAME` 重新获取。",
    },
    auth_403: { en: "This token's role may not do this (the dashboard needs a risk analyst, compliance auditor or admin token).", zh: "该令牌的角色无权执行此操作（看板需要风控分析师、合规审计员或管理员令牌）。" },
    auth_429: { en: "Too many requests: wait a moment and refresh.", zh: "请求过多：请稍候再刷新。" },
    server_said: { en: "Server", zh: "服务器" },
    network_error: { en: "The server cannot be reached.", zh: "无法连接服务器。" },
    server_error: { en: "The server failed to answer", zh: "服务器未能应答" },
    loading: { en: "Loading…", zh: "加载中…" },
    meta: { en: "As of {as_of} · policy {version} · generated {generated} in {seconds}s", zh: "数据时点 {as_of} · 策略 {version} · 生成于 {generated}（耗时 {seconds} 秒）" },
    synthetic: { en: "SYNTHETIC data", zh: "合成数据" },
    footer: { en: "lendguard · numbers and definitions: docs/dashboard.md", zh: "lendguard · 数字口径见 docs/dashboard.md" },
    section_error: { en: "This section could not be computed.", zh: "本栏无法计算。" },

    search_title: { en: "Explain one user", zh: "查询单个用户" },
    search_label: { en: "User id", zh: "用户ID" },
    search_placeholder: { en: "user id, e.g. u00000001", zh: "用户ID，例如 u00000001" },
    search_button: { en: "Explain", zh: "查询" },
    search_unknown: { en: "Unknown user: no events are stored for {user}.", zh: "未知用户：没有 {user} 的任何事件。" },
    search_empty: { en: "Type a user id.", zh: "请输入用户ID。" },
    visible: { en: "Entry shown", zh: "入口可见" },
    hidden: { en: "Entry hidden", zh: "入口隐藏" },
    reason_codes: { en: "Reason codes", zh: "原因代码" },
    none: { en: "none", zh: "无" },
    as_of: { en: "as of", zh: "时点" },
    policy: { en: "policy", zh: "策略" },
    check: { en: "Check", zh: "检查项" },
    status: { en: "Status", zh: "状态" },
    reason: { en: "Reason", zh: "原因" },
    advice: { en: "Advice (smallest change)", zh: "建议（最小改变）" },
    measured: { en: "measured", zh: "实测" },
    checks_count: { en: "{n} checks, {bad} not passing", zh: "共 {n} 项检查，{bad} 项未通过" },
    cleared_by_review: { en: "cleared by human review", zh: "已由人工复核放行" },
    st_pass: { en: "pass", zh: "通过" },
    st_fail: { en: "fail", zh: "未通过" },
    st_warn: { en: "warning", zh: "警告" },
    st_not_assessable: { en: "not assessable", zh: "无法评估" },

    users: { en: "Users", zh: "用户数" },
    visible_users: { en: "Visible", zh: "可见" },
    visible_share: { en: "Share visible", zh: "可见比例" },
    share: { en: "Share", zh: "占比" },
    count: { en: "Count", zh: "数量" },
    population_title: { en: "Who sees the loan entry", zh: "谁能看到借款入口" },
    decided_under: { en: "Decided under policy {version}", zh: "决策所用策略 {version}" },
    stale_policy: { en: "These decisions were made under another policy than the server's: run `lendguard evaluate` again.", zh: "这些决策所用策略与服务器当前策略不同：请重新运行 `lendguard evaluate`。" },
    dim_chart: { en: "Users blocked by each dimension", zh: "各维度拦截的用户" },
    blocked: { en: "Blocked (fail or not assessable)", zh: "被拦截（未通过或无法评估）" },
    sole_blocker: { en: "Blocked by this dimension alone", zh: "仅被该维度拦截" },
    dim_funnel: { en: "Funnel of the eight dimensions (users passing 1…k)", zh: "八维度漏斗（通过第1至k个维度的用户）" },
    region_chart: { en: "Share visible by region tier", zh: "各区域等级可见比例" },
    provinces: { en: "By province", zh: "按省份" },
    province: { en: "Province", zh: "省份" },
    top_reasons: { en: "Top reasons the entry is hidden", zh: "入口隐藏的主要原因" },
    code: { en: "Code", zh: "代码" },
    dimension: { en: "Dimension", zh: "维度" },
    tier_tier1: { en: "Tier 1", zh: "一线城市" },
    tier_new_tier1: { en: "New tier 1", zh: "新一线城市" },
    tier_other: { en: "Other cities", zh: "其他城市" },
    tier_county: { en: "County", zh: "县域" },
    tier_missing: { en: "Unknown", zh: "未知" },

    funnel_title: { en: "Conversion funnel", zh: "转化漏斗" },
    funnel_chart: { en: "Exposure → registration → authorization → approval → line", zh: "曝光 → 注册 → 授权 → 审批 → 开通额度" },
    step: { en: "Step", zh: "环节" },
    of_previous: { en: "Of previous step", zh: "占上一环节" },
    of_population: { en: "Of population", zh: "占全部用户" },
    definition: { en: "Definition", zh: "口径" },
    population_n: { en: "Population: {n} users decided in the last evaluation.", zh: "全部用户：最近一次评估的 {n} 名用户。" },
    by_product: { en: "Approval by product (among authorized users)", zh: "各产品准入（已授权用户中）" },
    product: { en: "Product", zh: "产品" },
    admitted: { en: "Admitted", zh: "准入" },

    authorization_title: { en: "Authorization refusals", zh: "授权拒绝" },
    refusal_rate: { en: "Refusal rate", zh: "拒绝率" },
    registered: { en: "Registered", zh: "已注册" },
    authorized: { en: "Authorized", zh: "已授权" },
    refused_never: { en: "Never granted", zh: "从未授权" },
    refused_withdrawn: { en: "Withdrawn", zh: "已撤回" },
    auth_chart: { en: "Registered users and the deep credit query", zh: "已注册用户的深度信用查询授权" },
    layers: { en: "Consent layers in force", zh: "有效的授权层" },
    scope: { en: "Layer", zh: "授权层" },
    purpose: { en: "Purpose", zh: "用途" },
    in_force: { en: "In force", zh: "有效" },

    scores_title: { en: "Credit score and drift", zh: "信用评分与漂移" },
    score_hist: { en: "Score distribution of the population", zh: "全体用户评分分布" },
    score: { en: "Score", zh: "评分" },
    psi_chart: { en: "Score bands: training vs today (PSI)", zh: "评分分段：训练样本与当前（PSI）" },
    expected: { en: "Training population", zh: "训练样本" },
    actual: { en: "Today", zh: "当前" },
    psi: { en: "PSI of the score", zh: "评分 PSI" },
    csi: { en: "CSI per feature (largest first)", zh: "各特征 CSI（从大到小）" },
    feature: { en: "Feature", zh: "特征" },
    index: { en: "Index", zh: "指数" },
    level: { en: "Level", zh: "等级" },
    lvl_ok: { en: "stable", zh: "稳定" },
    lvl_warn: { en: "warning", zh: "预警" },
    lvl_alert: { en: "alert", zh: "告警" },
    median_score: { en: "Median score", zh: "评分中位数" },
    users_scored: { en: "Users scored", zh: "已评分用户" },
    model_line: { en: "Scorecard for `{target}` trained {created} on {rows} rows · {features} features · limits: warn ≥ {warn}, alert ≥ {alert}", zh: "评分卡（目标 `{target}`）训练于 {created}，样本 {rows} 行 · {features} 个特征 · 阈值：预警 ≥ {warn}，告警 ≥ {alert}" },

    fraud_title: { en: "Fraud alerts and rings", zh: "欺诈预警与团伙" },
    levels_chart: { en: "Users per risk level", zh: "各风险等级用户数" },
    daily_chart: { en: "Risk transitions per day, by rule (last {days} days)", zh: "每日风险等级变更（按规则，近 {days} 天）" },
    by_rule: { en: "Transitions by rule", zh: "按规则统计的等级变更" },
    rule: { en: "Rule", zh: "规则" },
    to_level: { en: "To level", zh: "升至" },
    recent_n: { en: "Last {days} days", zh: "近 {days} 天" },
    total: { en: "Total", zh: "合计" },
    latest: { en: "Newest transitions", zh: "最新等级变更" },
    user: { en: "User", zh: "用户" },
    from_to: { en: "Level", zh: "等级" },
    at: { en: "Event time", zh: "事件时间" },
    rings: { en: "Rings found by the graph job", zh: "图计算发现的团伙" },
    rings_total: { en: "Rings", zh: "团伙数" },
    ring_users: { en: "Users in rings", zh: "团伙内用户" },
    ring: { en: "Ring", zh: "团伙" },
    kind: { en: "Kind", zh: "类型" },
    size: { en: "Members", zh: "成员数" },
    flagged: { en: "Flagged", zh: "已标记" },
    edges: { en: "Links", zh: "连接数" },
    amount: { en: "Money moved", zh: "资金往来" },
    kind_fund_flow: { en: "fund flow", zh: "资金往来" },
    kind_device_sharing: { en: "device sharing", zh: "设备共用" },
    kind_mixed: { en: "mixed", zh: "混合" },
    detection: { en: "Detection on planted fraud (synthetic labels)", zh: "对植入欺诈的识别（合成标签）" },
    precision: { en: "Precision", zh: "精确率" },
    level_R0: { en: "R0 (recovered)", zh: "R0（已恢复）" },
    level_R1: { en: "R1 (hidden, recovers)", zh: "R1（隐藏，可自动恢复）" },
    level_R2: { en: "R2 (review)", zh: "R2（需复核）" },
    level_R3: { en: "R3 (closed)", zh: "R3（永久关闭）" },
    recall: { en: "Recall", zh: "召回率" },
    raised: { en: "Users raised", zh: "被升级用户" },
    planted: { en: "Planted", zh: "植入数" },
    false_positive_share: { en: "False-positive share among raised users: {share}", zh: "被升级用户中的误报比例：{share}" },

    reviews_title: { en: "Human review queue", zh: "人工复核队列" },
    open: { en: "Open", zh: "待处理" },
    overdue: { en: "Overdue", zh: "已逾期" },
    override_rate: { en: "Override rate", zh: "改判率" },
    reviews_chart: { en: "Reviews by status", zh: "各状态复核数" },
    open_by_kind: { en: "Open reviews by kind", zh: "待处理复核（按类型）" },
    overdue_list: { en: "Overdue reviews (not decided within {days} days)", zh: "逾期复核（{days} 天内未决定）" },
    no_overdue: { en: "No overdue reviews.", zh: "没有逾期复核。" },
    review: { en: "Review", zh: "复核单" },
    reviewer: { en: "Reviewer", zh: "复核员" },
    due: { en: "Due", zh: "截止" },
    days_overdue: { en: "Days over", zh: "逾期天数" },
    rs_requested: { en: "requested", zh: "已申请" },
    rs_awaiting_confirmation: { en: "awaiting confirmation", zh: "待确认" },
    rs_in_review: { en: "in review", zh: "复核中" },
    rs_decided: { en: "decided", zh: "已决定" },
    rs_withdrawn: { en: "withdrawn", zh: "已撤回" },
    rk_user_request: { en: "user request", zh: "用户申请" },
    rk_automated_refusal: { en: "refusal of automated decision", zh: "拒绝自动化决策" },
    rk_r2_verification: { en: "R2 second verification", zh: "R2 二次验证" },

    portfolio_title: { en: "Loan book", zh: "贷款资产" },
    loans: { en: "Loans", zh: "贷款笔数" },
    n_loans: { en: "{n} loan(s)", zh: "{n} 笔" },
    active_loans: { en: "Active loans", zh: "在贷笔数" },
    disbursed: { en: "Disbursed", zh: "累计放款" },
    outstanding: { en: "Principal outstanding", zh: "在贷本金" },
    overdue_rate_principal: { en: "Overdue rate (principal)", zh: "逾期率（按本金）" },
    overdue_rate_loans: { en: "Overdue rate (loans)", zh: "逾期率（按笔数）" },
    interest_income: { en: "Interest income", zh: "利息收入" },
    credit_losses: { en: "Credit losses", zh: "信用损失" },
    buckets_chart: { en: "Active loans by delinquency bucket", zh: "在贷资产按逾期阶段" },
    bucket: { en: "Bucket", zh: "逾期阶段" },
    bucket_current: { en: "current", zh: "正常" },
    by_status: { en: "Loans by status and bucket", zh: "按状态与逾期阶段" },
    by_bucket_table: { en: "Active loans per bucket", zh: "在贷资产各逾期阶段" },
    loan_status: { en: "Status", zh: "状态" },
    ls_active: { en: "active", zh: "在贷" },
    ls_paid_off: { en: "paid off", zh: "已结清" },
    ls_written_off: { en: "written off", zh: "已核销" },
    invariants_ok: { en: "The ledger balances and every invariant holds.", zh: "账本平衡，所有不变量均成立。" },
    invariants_bad: { en: "Ledger problems", zh: "账本问题" },
    principal: { en: "Principal", zh: "本金" },
    interest_due: { en: "Interest due", zh: "应收利息" },
    penalty_due: { en: "Penalty due", zh: "应收罚息" },

    compliance_title: { en: "Compliance self-audit", zh: "合规自查" },
    compliance_chart: { en: "Rules per product: clean, findings, not checked", zh: "各产品规则：无问题、发现问题、未检查" },
    findings: { en: "Findings", zh: "发现问题" },
    clean_rules: { en: "Checked, clean", zh: "已检查无问题" },
    not_checked: { en: "Not checked (part missing)", zh: "未检查（缺少材料）" },
    no_findings: { en: "No violation found in our own products.", zh: "自有产品未发现违规。" },
    severity: { en: "Severity", zh: "严重程度" },
    sev_critical: { en: "critical", zh: "严重" },
    sev_high: { en: "high", zh: "高" },
    sev_medium: { en: "medium", zh: "中" },
    sev_low: { en: "low", zh: "低" },
    fix: { en: "Fix", zh: "整改" },
    message: { en: "What is wrong", zh: "问题" },
    target: { en: "Product", zh: "产品" },
    missing_parts: { en: "Missing parts", zh: "缺少的材料" },
  };

  // ---- state -------------------------------------------------------------------------------
  const state = { lang: "en", token: null, data: null, dataError: null, search: null, loading: false };

  function t(key, params) {
    const entry = I18N[key];
    let text = entry ? entry[state.lang] : key;
    if (params) {
      for (const [name, value] of Object.entries(params)) text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }
  function maybe(prefix, value) {
    const key = prefix + value;
    return I18N[key] ? t(key) : String(value);
  }
  function bi(text) {
    // a {en, zh} object from the server
    if (!text) return "";
    return text[state.lang] || text.en || "";
  }
  function otherLang(text) {
    if (!text) return "";
    return state.lang === "zh" ? text.en : text.zh;
  }
  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }
  function codeText(text) {
    // escape, then show `backticked` spans as code
    return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
  }
  function locale() { return state.lang === "zh" ? "zh-CN" : "en-US"; }
  function num(value, digits) {
    // `digits` decimals exactly (none by default)
    if (value === null || value === undefined) return "–";
    const d = digits === undefined ? 0 : digits;
    return Number(value).toLocaleString(locale(), { maximumFractionDigits: d, minimumFractionDigits: d });
  }
  function measure(value) {
    // a measured value as it is: whole numbers plain, others to at most 3 decimals
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return value.toLocaleString(locale(), { maximumFractionDigits: Number.isInteger(value) ? 0 : 3 });
    return String(value);
  }
  function pct(value, digits) {
    if (value === null || value === undefined) return "–";
    return (Number(value) * 100).toLocaleString(locale(), { maximumFractionDigits: digits === undefined ? 1 : digits, minimumFractionDigits: digits === undefined ? 1 : digits }) + "%";
  }
  function money(value) { return num(value, 2); }
  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(locale(), { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }
  function dimTitle(dimension) {
    const pop = state.data && state.data.sections.population;
    const row = pop && pop.dimensions ? pop.dimensions.find((d) => d.dimension === dimension) : null;
    if (row) return state.lang === "zh" ? row.title_zh : row.title_en;
    return dimension;
  }
  function ruleTitle(fraud, ruleId) {
    const title = fraud.titles && fraud.titles[ruleId];
    if (title) return ruleId + " · " + bi(title);
    if (ruleId && ruleId.indexOf("human_review:") === 0) return ruleId;
    return ruleId;
  }

  // ---- small builders ----------------------------------------------------------------------
  function kpi(label, value, cls) {
    return '<div class="kpi ' + (cls || "") + '"><div class="value">' + esc(value) + '</div><div class="label">' + esc(label) + "</div></div>";
  }
  function table(headers, rows, numeric) {
    numeric = numeric || [];
    const head = headers.map((h, i) => "<th" + (numeric.includes(i) ? ' class="num"' : "") + ">" + esc(h) + "</th>").join("");
    const body = rows.map((row) => "<tr>" + row.map((cell, i) => "<td" + (numeric.includes(i) ? ' class="num"' : "") + ">" + cell + "</td>").join("") + "</tr>").join("");
    return "<table><thead><tr>" + head + "</tr></thead><tbody>" + body + "</tbody></table>";
  }
  function badge(cls, text) { return '<span class="badge ' + esc(cls) + '">' + esc(text) + "</span>"; }

  // Charts are declared while a section's HTML is built and drawn once it is in the page.
  let pendingCharts = [];
  function chart(id, traces, layout) {
    pendingCharts.push({ id: id, traces: traces, layout: layout });
    return '<div class="chart" id="' + esc(id) + '" data-chart="' + esc(id) + '"></div>';
  }
  function baseLayout(title, extra) {
    return Object.assign({
      title: { text: title, x: 0.01, font: { size: 14 } },
      font: { family: FONT, size: 12, color: "#1d2733" },
      margin: { l: 60, r: 20, t: 44, b: 50 },
      height: 330,
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      legend: { orientation: "h", y: -0.18 },
    }, extra || {});
  }
  function drawCharts() {
    const charts = pendingCharts;
    pendingCharts = [];
    if (typeof Plotly === "undefined") return;
    for (const c of charts) {
      const el = document.getElementById(c.id);
      if (el) Plotly.react(el, c.traces, c.layout, PLOTLY_CONFIG);
    }
  }

  // ---- sections ----------------------------------------------------------------------------
  function renderPopulation(s) {
    let html = '<div class="kpis">' + kpi(t("users"), num(s.users)) + kpi(t("visible_users"), num(s.visible)) + kpi(t("visible_share"), pct(s.visible_share)) + "</div>";
    if (s.decided_under) {
      html += '<p class="note">' + esc(t("decided_under", { version: s.decided_under.policy_version })) + "</p>";
      if (!s.decided_under.current) html += '<p class="error">' + codeText(t("stale_policy")) + "</p>";
    }
    const dims = s.dimensions.map((d) => dimTitle(d.dimension));
    const funnelDims = s.dimension_funnel.map((f) => f.step + ". " + (state.lang === "zh" ? f.title_zh : f.title_en));
    const tiers = s.by_region_tier.map((g) => maybe("tier_", g.group));
    html += '<div class="grid">';
    html += chart("chart-population-dimensions", [
      { type: "bar", orientation: "h", name: t("blocked"), y: dims, x: s.dimensions.map((d) => d.failing_share), marker: { color: COLORS.fail },
        text: s.dimensions.map((d) => pct(d.failing_share)), textposition: "outside", cliponaxis: false, hovertemplate: "%{y}: %{x:.1%}<extra></extra>" },
      { type: "bar", orientation: "h", name: t("sole_blocker"), y: dims, x: s.dimensions.map((d) => d.sole_blocker / Math.max(1, s.users)), marker: { color: COLORS.warn },
        hovertemplate: "%{y}: %{x:.1%}<extra></extra>" },
    ], baseLayout(t("dim_chart"), { barmode: "group", xaxis: { tickformat: ".0%", range: [0, Math.min(1, Math.max(0.05, ...s.dimensions.map((d) => d.failing_share)) * 1.2)] },
      yaxis: { autorange: "reversed", automargin: true }, margin: { l: 10, r: 30, t: 44, b: 50 } }));
    html += chart("chart-population-funnel", [
      { type: "funnel", y: funnelDims, x: s.dimension_funnel.map((f) => f.remaining), text: s.dimension_funnel.map((f) => num(f.remaining) + " · " + pct(f.share)),
        textinfo: "text", marker: { color: COLORS.accent } },
    ], baseLayout(t("dim_funnel"), { yaxis: { automargin: true }, margin: { l: 10, r: 20, t: 44, b: 30 } }));
    html += chart("chart-population-region", [
      { type: "bar", x: tiers, y: s.by_region_tier.map((g) => g.visible_share), marker: { color: COLORS.pass },
        text: s.by_region_tier.map((g) => pct(g.visible_share) + " (" + num(g.users) + ")"), textposition: "auto",
        hovertemplate: "%{x}: %{y:.1%}<extra></extra>" },
    ], baseLayout(t("region_chart"), { yaxis: { tickformat: ".0%", rangemode: "tozero" } }));
    html += "<div><h3>" + esc(t("provinces")) + '</h3><div class="scroll">' + table(
      [t("province"), t("users"), t("visible_users"), t("visible_share")],
      s.by_province.map((g) => [esc(g.group), num(g.users), num(g.visible), pct(g.visible_share)]), [1, 2, 3]) + "</div></div>";
    html += "</div>";
    html += "<h3>" + esc(t("top_reasons")) + "</h3>" + table(
      [t("code"), t("check"), t("dimension"), t("count"), t("share")],
      s.top_reasons.map((r) => ["<code>" + esc(r.code) + "</code>", esc(state.lang === "zh" ? r.title_zh : r.title_en), esc(r.dimension ? dimTitle(r.dimension) : ""), num(r.count), pct(r.share)]), [3, 4]);
    return html;
  }

  function renderFunnel(s) {
    const steps = s.steps.filter((x) => x.users !== null && x.users !== undefined);
    let html = '<p class="note">' + esc(t("population_n", { n: num(s.population) })) + "</p>";
    html += chart("chart-funnel", [
      { type: "funnel", y: steps.map((x) => bi(x.title)), x: steps.map((x) => x.users), text: steps.map((x) => num(x.users) + " · " + pct(x.of_previous)),
        textinfo: "text", textposition: "auto", marker: { color: FUNNEL.slice(0, steps.length) } },
    ], baseLayout(t("funnel_chart"), { yaxis: { automargin: true }, margin: { l: 10, r: 20, t: 44, b: 30 } }));
    html += table([t("step"), t("users"), t("of_previous"), t("of_population"), t("definition")],
      s.steps.map((x) => ["<strong>" + esc(bi(x.title)) + "</strong>", num(x.users), pct(x.of_previous), pct(x.of_population), esc(bi(x.definition))]), [1, 2, 3]);
    if (s.by_product && s.by_product.length) {
      html += "<h3>" + esc(t("by_product")) + "</h3>" + table([t("product"), t("users"), t("admitted"), t("share")],
        s.by_product.map((p) => [esc(p.product_id + (p.name ? " · " + bi(p.name) : "")), num(p.users), num(p.admitted), pct(p.admitted_share)]), [1, 2, 3]);
    }
    for (const note of s.notes || []) html += '<p class="note">' + esc(bi(note)) + "</p>";
    return html;
  }

  function renderAuthorization(s) {
    let html = '<div class="kpis">' + kpi(t("refusal_rate"), pct(s.refusal_rate), "bad") + kpi(t("registered"), num(s.registered)) +
      kpi(t("authorized"), num(s.authorized_registered), "good") + kpi(t("refused_never"), num(s.refused_never_granted)) + kpi(t("refused_withdrawn"), num(s.refused_withdrawn)) + "</div>";
    html += '<p class="note">' + esc(t("definition")) + ": " + esc(bi(s.definition)) + "</p>";
    html += '<div class="grid">';
    html += chart("chart-authorization", [
      { type: "pie", hole: 0.45, sort: false, labels: [t("authorized"), t("refused_never"), t("refused_withdrawn")],
        values: [s.authorized_registered, s.refused_never_granted, s.refused_withdrawn], marker: { colors: [COLORS.pass, COLORS.fail, COLORS.warn] }, textinfo: "label+percent" },
    ], baseLayout(t("auth_chart"), { showlegend: false }));
    html += "<div><h3>" + esc(t("layers")) + "</h3>" + table([t("scope"), t("purpose"), t("in_force"), t("refused_withdrawn")],
      s.layers.map((l) => [esc(l.scope_name ? bi(l.scope_name) : l.scope) + ' <span class="muted">' + esc(l.scope) + "</span>", esc(l.purpose_name ? bi(l.purpose_name) : l.purpose), num(l.in_force), num(l.withdrawn)]), [2, 3]) + "</div>";
    html += "</div>";
    return html;
  }

  function bandLabel(label) {
    // "[536.011, 542.692)" -> "536–543"; open ends as "< 536" and "≥ 658"
    const parts = label.replace(/^[\[(]|[\])]$/g, "").split(",").map((x) => x.trim());
    if (parts.length !== 2) return label;
    const round = (x) => Math.round(Number(x)).toLocaleString(locale());
    if (parts[0] === "-inf") return "< " + round(parts[1]);
    if (parts[1] === "inf") return "≥ " + round(parts[0]);
    return round(parts[0]) + "–" + round(parts[1]);
  }

  function renderScores(s) {
    const m = s.model;
    const psi = s.psi;
    let html = '<div class="kpis">' + kpi(t("psi"), psi ? num(psi.index, 4) + " · " + maybe("lvl_", psi.level) : "–", psi && psi.level !== "ok" ? "bad" : "good") +
      kpi(t("users_scored"), num(s.users)) + kpi(t("median_score"), num(s.summary.median, 1)) + "</div>";
    html += '<p class="note">' + codeText(t("model_line", { target: m.target, created: when(m.created_at), rows: num(m.training_rows), features: m.features.length, warn: s.limits.psi_warn, alert: s.limits.psi_alert })) + "</p>";
    const edges = s.histogram.edges;
    const centers = s.histogram.counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
    html += '<div class="grid">';
    html += chart("chart-scores-histogram", [
      { type: "bar", x: centers, y: s.histogram.counts, width: edges.length > 1 ? edges[1] - edges[0] : undefined, marker: { color: COLORS.accent },
        hovertemplate: t("score") + " %{x:.0f}: %{y}<extra></extra>" },
    ], baseLayout(t("score_hist"), { xaxis: { title: { text: t("score") } }, yaxis: { title: { text: t("users") } }, bargap: 0.02 }));
    if (psi) {
      html += chart("chart-scores-psi", [
        { type: "bar", name: t("expected"), x: psi.bins.map((b) => bandLabel(b.bin)), y: psi.bins.map((b) => b.expected), marker: { color: COLORS.light }, hovertemplate: "%{x}: %{y:.1%}<extra></extra>" },
        { type: "bar", name: t("actual"), x: psi.bins.map((b) => bandLabel(b.bin)), y: psi.bins.map((b) => b.actual), marker: { color: COLORS.accent }, hovertemplate: "%{x}: %{y:.1%}<extra></extra>" },
      ], baseLayout(t("psi_chart") + " = " + num(psi.index, 4), { barmode: "group", yaxis: { tickformat: ".0%" }, xaxis: { title: { text: t("score") }, tickangle: -30, automargin: true },
        legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" }, margin: { l: 60, r: 20, t: 64, b: 60 } }));
    }
    html += "</div>";
    html += "<h3>" + esc(t("csi")) + "</h3>" + table([t("feature"), t("index"), t("level")],
      s.csi.map((c) => ["<code>" + esc(c.name) + "</code>", num(c.index, 4), badge(c.level, maybe("lvl_", c.level))]), [1]);
    return html;
  }

  function renderFraud(s) {
    const byLevel = Object.fromEntries(s.levels.map((l) => [l.level, l.users]));
    let html = '<div class="kpis">' + ["R1", "R2", "R3"].map((l) => kpi(l, num(byLevel[l] || 0), l === "R1" ? "" : "bad")).join("") +
      kpi(t("rings_total"), num(s.rings.total)) + kpi(t("ring_users"), num(s.rings.users)) + "</div>";
    html += '<div class="grid">';
    html += chart("chart-fraud-levels", [
      { type: "bar", x: s.levels.map((l) => maybe("level_", l.level)), y: s.levels.map((l) => l.users), text: s.levels.map((l) => num(l.users)), textposition: "auto",
        marker: { color: s.levels.map((l) => ({ R0: COLORS.pass, R1: COLORS.warn, R2: COLORS.fail, R3: "#7a1422" })[l.level] || COLORS.na) } },
    ], baseLayout(t("levels_chart"), { yaxis: { title: { text: t("users") }, rangemode: "tozero" } }));
    const daily = s.daily;
    html += chart("chart-fraud-daily", daily.series.map((series, i) => ({
      type: "bar", name: series.rule_id, x: daily.days, y: series.counts, marker: { color: SERIES[i % SERIES.length] },
      hovertemplate: esc(ruleTitle(s, series.rule_id)) + "<br>%{x}: %{y}<extra></extra>",
    })), baseLayout(t("daily_chart", { days: s.window.days }), { barmode: "stack", showlegend: true, legend: { orientation: "h", y: -0.2, font: { size: 11 } },
      yaxis: { title: { text: t("count") } }, xaxis: { type: "date", tickformat: "%m-%d" } }));
    html += "</div>";
    html += "<h3>" + esc(t("by_rule")) + "</h3>" + table([t("rule"), t("to_level"), t("recent_n", { days: s.window.days }), t("total"), t("users")],
      s.by_rule.map((r) => [esc(ruleTitle(s, r.rule_id)), esc(r.to_level), num(r.recent), num(r.total), num(r.users)]), [2, 3, 4]);
    html += '<div class="grid"><div><h3>' + esc(t("latest")) + "</h3>" + table([t("user"), t("from_to"), t("rule"), t("at")],
      s.latest.map((x) => ["<code>" + esc(x.user_id) + "</code>", esc(x.from_level + " → " + x.to_level), esc(ruleTitle(s, x.rule_id)), '<span class="nowrap">' + esc(when(x.at)) + "</span>"])) + "</div>";
    html += "<div><h3>" + esc(t("rings")) + '</h3><div class="scroll">' + table([t("ring"), t("kind"), t("size"), t("flagged"), t("edges"), t("amount")],
      s.rings.largest.map((r) => ["<code>" + esc(r.ring_id) + "</code>", esc(maybe("kind_", r.kind)), num(r.size), num(r.flagged), num(r.edges), money(r.amount)]), [2, 3, 4, 5]) + "</div></div></div>";
    if (s.detection) {
      const d = s.detection;
      html += "<h3>" + esc(t("detection")) + "</h3>" + table([t("rule"), t("raised"), t("precision"), t("planted"), t("recall")],
        d.rules.map((r) => [esc(ruleTitle(s, r.rule_id)), num(r.users_raised), pct(r.precision), num(r.planted), pct(r.recall)]), [1, 2, 3, 4]);
      html += '<p class="note">' + esc(t("false_positive_share", { share: pct(d.false_positive_share) })) + "</p>";
    }
    return html;
  }

  function renderReviews(s) {
    const team = s.team || {};
    let html = '<div class="kpis">' + kpi(t("open"), num(s.open)) + kpi(t("overdue"), num(s.overdue_count), s.overdue_count ? "bad" : "good") +
      kpi(t("total"), num(s.total)) + kpi(t("override_rate"), pct(team.override_rate)) + "</div>";
    html += '<div class="grid">';
    html += chart("chart-reviews-status", [
      { type: "bar", x: s.by_status.map((r) => maybe("rs_", r.status)), y: s.by_status.map((r) => r.reviews), text: s.by_status.map((r) => num(r.reviews)), textposition: "auto", marker: { color: COLORS.accent } },
    ], baseLayout(t("reviews_chart"), { yaxis: { rangemode: "tozero", title: { text: t("count") } } }));
    html += "<div><h3>" + esc(t("open_by_kind")) + "</h3>" + table([t("kind"), t("count")], s.open_by_kind.map((k) => [esc(maybe("rk_", k.kind)), num(k.reviews)]), [1]) + "</div>";
    html += "</div>";
    html += "<h3>" + esc(t("overdue_list", { days: s.decide_within_days })) + "</h3>";
    html += s.overdue.length ? '<div class="scroll">' + table([t("review"), t("user"), t("kind"), t("status"), t("reviewer"), t("due"), t("days_overdue")],
      s.overdue.map((o) => ["<code>" + esc(o.review_id) + "</code>", "<code>" + esc(o.user_id) + "</code>", esc(maybe("rk_", o.kind)), esc(maybe("rs_", o.status)), esc(o.reviewer || "–"), esc(when(o.due_at)), num(o.days_overdue, 1)]), [6]) + "</div>"
      : '<p class="empty">' + esc(t("no_overdue")) + "</p>";
    return html;
  }

  function renderPortfolio(s) {
    const tot = s.totals;
    const cur = " " + (s.currency || "");
    let html = '<div class="kpis">' + kpi(t("loans"), num(tot.loans)) + kpi(t("active_loans"), num(tot.active_loans)) + kpi(t("disbursed"), money(tot.disbursed) + cur) +
      kpi(t("outstanding"), money(tot.principal_outstanding) + cur) + kpi(t("overdue_rate_principal"), pct(s.overdue_rate.by_principal), "bad") +
      kpi(t("overdue_rate_loans"), pct(s.overdue_rate.by_loans), "bad") + kpi(t("interest_income"), money(tot.interest_income) + cur) + kpi(t("credit_losses"), money(tot.credit_losses) + cur) + "</div>";
    const names = s.by_bucket.map((b) => maybe("bucket_", b.bucket));
    html += '<div class="grid">';
    html += chart("chart-portfolio-buckets", [
      { type: "bar", name: t("outstanding"), x: names, y: s.by_bucket.map((b) => b.principal_outstanding), marker: { color: s.by_bucket.map((b) => b.bucket === "current" ? COLORS.pass : COLORS.fail) },
        text: s.by_bucket.map((b) => t("n_loans", { n: num(b.loans) })), textposition: "auto", hovertemplate: "%{x}: %{y:,.2f}<extra></extra>" },
    ], baseLayout(t("buckets_chart"), { yaxis: { title: { text: t("outstanding") + cur }, rangemode: "tozero" } }));
    html += "<div><h3>" + esc(t("by_bucket_table")) + "</h3>" + table([t("bucket"), t("loans"), t("outstanding"), t("interest_due"), t("penalty_due")],
      s.by_bucket.map((b) => [esc(maybe("bucket_", b.bucket)), num(b.loans), money(b.principal_outstanding), money(b.interest_receivable), money(b.penalty_receivable)]), [1, 2, 3, 4]);
    html += s.problems.length ? '<p class="error">' + esc(t("invariants_bad")) + ": " + s.problems.map(esc).join("; ") + "</p>" : '<p class="note">' + esc(t("invariants_ok")) + "</p>";
    html += "</div></div>";
    html += "<h3>" + esc(t("by_status")) + '</h3><div class="table-wrap">' + table([t("loan_status"), t("bucket"), t("loans"), t("principal"), t("outstanding"), t("interest_due"), t("penalty_due")],
      s.by_status.map((r) => [esc(maybe("ls_", r.status)), esc(maybe("bucket_", r.bucket)), num(r.loans), money(r.principal), money(r.principal_outstanding), money(r.interest_receivable), money(r.penalty_receivable)]), [2, 3, 4, 5, 6]) + "</div>";
    return html;
  }

  function renderCompliance(s) {
    let html = '<div class="kpis">' + s.severities.map((sev) => kpi(maybe("sev_", sev), num(s.totals[sev]), s.totals[sev] ? "bad" : "good")).join("") + "</div>";
    const productName = (p) => p.product_id + " · " + bi(p.name);
    const products = s.products.map(productName);
    const traces = [
      { type: "bar", name: t("clean_rules"), y: products, x: s.products.map((p) => Math.max(0, p.rules_checked - new Set(p.findings.map((f) => f.rule)).size)), orientation: "h", marker: { color: COLORS.pass } },
    ];
    const sevColors = { critical: "#7a1422", high: COLORS.fail, medium: COLORS.warn, low: COLORS.na };
    for (const sev of s.severities) {
      traces.push({ type: "bar", name: t("findings") + " · " + maybe("sev_", sev), y: products, x: s.products.map((p) => p.counts[sev] || 0), orientation: "h", marker: { color: sevColors[sev] } });
    }
    traces.push({ type: "bar", name: t("not_checked"), y: products, x: s.products.map((p) => s.rules - p.rules_checked), orientation: "h", marker: { color: "#d9dee5" } });
    html += chart("chart-compliance", traces, baseLayout(t("compliance_chart"), { barmode: "stack", yaxis: { automargin: true }, height: 300, legend: { orientation: "h", y: -0.2, traceorder: "normal" }, margin: { l: 10, r: 20, t: 44, b: 60 } }));
    const findings = [];
    for (const p of s.products) for (const f of p.findings) findings.push([esc(productName(p)), badge(f.severity, maybe("sev_", f.severity)), "<code>" + esc(f.rule) + "</code> " + esc(bi(f.title)), esc(bi(f.message)), esc(bi(f.fix))]);
    html += findings.length ? table([t("target"), t("severity"), t("rule"), t("message"), t("fix")], findings) : '<p class="note">' + esc(t("no_findings")) + "</p>";
    // the same part is usually missing for every product: one row per part, naming the products
    const byPart = new Map();
    for (const p of s.products) {
      for (const n of p.not_checked) {
        const key = n.missing.join(", ");
        if (!byPart.has(key)) byPart.set(key, { rules: n.rules, products: [] });
        byPart.get(key).products.push(p.product_id);
      }
    }
    const missing = [...byPart.entries()].map(([part, row]) => [esc(part), row.rules.map((r) => "<code>" + esc(r) + "</code>").join(" "), esc(row.products.join(", "))]);
    if (missing.length) html += "<h3>" + esc(t("not_checked")) + "</h3>" + table([t("missing_parts"), t("rule"), t("target")], missing);
    return html;
  }

  const RENDERERS = {
    population: renderPopulation, funnel: renderFunnel, authorization: renderAuthorization, scores: renderScores,
    fraud: renderFraud, reviews: renderReviews, portfolio: renderPortfolio, compliance: renderCompliance,
  };

  function renderSections() {
    for (const el of document.querySelectorAll("section[data-section]")) {
      const name = el.getAttribute("data-section");
      const body = el.querySelector(".body");
      for (const old of body.querySelectorAll(".js-plotly-plot")) if (typeof Plotly !== "undefined") Plotly.purge(old);
      const s = state.data ? state.data.sections[name] : null;
      el.setAttribute("data-status", s ? s.status : "none");
      if (!s) {
        body.innerHTML = state.loading ? '<p class="empty">' + esc(t("loading")) + "</p>" : "";
        continue;
      }
      if (s.status === "empty") {
        body.innerHTML = '<p class="empty">' + codeText(bi(s.message)) + "</p>";
        continue;
      }
      if (s.status === "error") {
        body.innerHTML = '<p class="error">' + esc(t("section_error")) + " " + esc(bi(s.message)) + "</p>";
        continue;
      }
      try {
        body.innerHTML = RENDERERS[name](s);
      } catch (err) {
        console.warn("cannot draw section", name, err);
        body.innerHTML = '<p class="error">' + esc(t("section_error")) + " " + esc(String(err)) + "</p>";
      }
    }
    drawCharts();
  }

  // ---- one user's explanation ----------------------------------------------------------------
  function statusBadge(status) { return badge(status, maybe("st_", status)); }

  function measuredText(measured) {
    if (!measured) return "";
    const parts = Object.entries(measured).map(([k, v]) => k + " = " + measure(v));
    return parts.length ? '<div class="measured">' + esc(t("measured")) + ": " + esc(parts.join(", ")) + "</div>" : "";
  }

  function renderDecision(d) {
    let html = '<div class="decision" data-user="' + esc(d.user_id) + '" data-visible="' + (d.visible ? "true" : "false") + '">';
    html += '<div class="decision-head"><span class="user">' + esc(d.user_id) + "</span>" + badge(d.visible ? "visible" : "hidden", d.visible ? t("visible") : t("hidden")) +
      '<span class="muted">' + esc(t("as_of")) + " " + esc(when(d.as_of)) + " · " + esc(t("policy")) + " " + esc(d.policy_version) + "</span></div>";
    html += '<p class="summary-line" data-role="summary">' + esc(bi(d.summary)) + '</p><p class="other-lang">' + esc(otherLang(d.summary)) + "</p>";
    html += '<p class="codes" data-role="reason-codes">' + esc(t("reason_codes")) + ": " + (d.reason_codes.length ? d.reason_codes.map((c) => "<code>" + esc(c) + "</code>").join("") : esc(t("none"))) + "</p>";
    for (const dim of d.dimensions) {
      // dimensions that do not pass are open; passing ones fold (a click opens them)
      const notPassing = dim.checks.filter((c) => c.status !== "pass").length;
      html += '<details class="dimension" data-dimension="' + esc(dim.dimension) + '" data-status="' + esc(dim.status) + '"' + (dim.status === "pass" ? "" : " open") +
        '><summary class="dim-head"><strong>' + esc(bi(dim.title)) + "</strong>" + statusBadge(dim.status) +
        '<span class="dim-count">' + esc(t("checks_count", { n: dim.checks.length, bad: notPassing })) + "</span></summary>";
      html += table([t("check"), t("status"), t("reason"), t("advice")], dim.checks.map((c) => [
        "<code>" + esc(c.code) + "</code> " + esc(c.title ? bi(c.title) : c.name),
        statusBadge(c.status) + (c.cleared_by_review ? '<div class="note">' + esc(t("cleared_by_review")) + "</div>" : ""),
        '<div data-role="reason">' + esc(bi(c.reason)) + '</div><div class="other-lang">' + esc(otherLang(c.reason)) + "</div>" + measuredText(c.measured),
        c.advice ? '<div class="advice" data-role="advice">' + esc(bi(c.advice.text)) + '</div><div class="other-lang">' + esc(otherLang(c.advice.text)) + "</div>" : "",
      ]));
      html += "</details>";
    }
    return html + "</div>";
  }

  function renderSearch() {
    const el = document.getElementById("search-result");
    const s = state.search;
    if (!s) { el.innerHTML = ""; return; }
    if (s.kind === "decision") el.innerHTML = renderDecision(s.decision);
    else if (s.kind === "unknown") el.innerHTML = '<p class="empty" data-role="unknown-user">' + esc(t("search_unknown", { user: s.user })) + "</p>";
    else if (s.kind === "empty") el.innerHTML = '<p class="empty">' + esc(t("search_empty")) + "</p>";
    else if (s.kind === "loading") el.innerHTML = '<p class="empty">' + esc(t("loading")) + "</p>";
    else el.innerHTML = '<p class="error" data-role="search-error">' + esc(errorText(s.error)) + "</p>";
  }

  // ---- talking to the API --------------------------------------------------------------------
  async function api(path) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let response;
    try {
      response = await fetch(path, { headers: headers, cache: "no-store", credentials: "omit" });
    } catch (err) {
      return { status: 0, body: null };
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    return { status: response.status, body: body };
  }

  function errorText(error) {
    if (!error) return "";
    const detail = error.body && error.body.error ? " (" + t("server_said") + ": " + error.body.error.code + " — " + error.body.error.message + ")" : "";
    if (error.status === 0) return t("network_error");
    if (error.status === 401) return t("auth_401") + detail;
    if (error.status === 403) return t("auth_403") + detail;
    if (error.status === 429) return t("auth_429") + detail;
    return t("server_error") + " (HTTP " + error.status + ")" + detail;
  }

  function renderAlert() {
    const el = document.getElementById("alert");
    let text = null;
    let info = false;
    if (!state.token) { text = t("token_missing"); info = true; }
    else if (state.dataError) text = errorText(state.dataError);
    el.hidden = !text;
    el.className = "alert" + (info ? " info" : "");
    el.setAttribute("data-kind", !state.token ? "no-token" : state.dataError ? "http-" + state.dataError.status : "");
    el.innerHTML = text ? codeText(text) : "";
  }

  function renderMeta() {
    const el = document.getElementById("meta");
    const d = state.data;
    if (!d) { el.textContent = ""; return; }
    el.innerHTML = esc(t("meta", { as_of: when(d.as_of), version: d.policy.version, generated: when(d.generated_at), seconds: num(d.seconds, 2) })) +
      (d.synthetic ? " · <strong>" + esc(t("synthetic")) + "</strong>" : "");
  }

  function renderStatic() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.getAttribute("data-i18n"));
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder")));
    for (const button of document.querySelectorAll(".lang button")) button.setAttribute("aria-pressed", String(button.getAttribute("data-lang") === state.lang));
    document.getElementById("auth-status").textContent = state.token ? t("token_present") : "";
    document.title = t("title");
  }

  function renderAll() {
    renderStatic();
    renderAlert();
    renderMeta();
    renderSections();
    renderSearch();
  }

  async function load() {
    if (!state.token) {
      state.data = null;
      state.dataError = null;
      renderAll();
      return;
    }
    state.loading = true;
    state.dataError = null;
    renderAll();
    const answer = await api("/v1/dashboard");
    state.loading = false;
    if (answer.status === 200 && answer.body) {
      state.data = answer.body;
    } else {
      state.data = null;
      state.dataError = answer;
    }
    renderAll();
    document.body.setAttribute("data-loaded", state.data ? "ok" : "error");
  }

  async function explain(userId) {
    userId = userId.trim();
    if (!userId) { state.search = { kind: "empty" }; renderSearch(); return; }
    state.search = { kind: "loading" };
    renderSearch();
    const answer = await api("/v1/users/" + encodeURIComponent(userId) + "/visibility");
    if (answer.status === 200 && answer.body) state.search = { kind: "decision", decision: answer.body };
    else if (answer.status === 404 && answer.body && answer.body.error && answer.body.error.code === "unknown_user") state.search = { kind: "unknown", user: userId };
    else state.search = { kind: "error", error: answer };
    renderSearch();
    document.getElementById("search-result").setAttribute("data-state", state.search.kind);
  }

  // ---- the token ---------------------------------------------------------------------------
  function takeTokenFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    const token = params.get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
      params.delete("token");
      const rest = params.toString();
      // the token leaves the address bar (and the history) at once
      history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
    }
  }

  function init() {
    takeTokenFromFragment();
    state.token = sessionStorage.getItem(TOKEN_KEY);
    const saved = localStorage.getItem(LANG_KEY);
    state.lang = saved === "zh" || saved === "en" ? saved : (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";

    for (const button of document.querySelectorAll(".lang button")) {
      button.addEventListener("click", () => {
        state.lang = button.getAttribute("data-lang");
        localStorage.setItem(LANG_KEY, state.lang);
        renderAll();
      });
    }
    document.getElementById("refresh").addEventListener("click", () => load());
    document.getElementById("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = document.getElementById("token-input");
      const token = input.value.trim();
      input.value = "";
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      state.token = token;
      load();
    });
    document.getElementById("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      state.search = null;
      load();
    });
    document.getElementById("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      explain(document.getElementById("search-input").value);
    });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
