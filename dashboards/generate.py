"""Grafana dashboards as code (grafana-foundation-sdk); writes dashboards/*.json.

    python -m dashboards.generate          # regenerate (CI checks the output is unchanged)

Every panel has a title, a description and a unit, and queries only metrics Driftline
exports (tests/deploy/test_dashboards.py runs each query against a real Prometheus).

Portable: no datasource uid is written anywhere — every panel reads the dashboard's
``$datasource`` variable (any Prometheus, whatever its name), every query is narrowed by the
``$job`` and ``$namespace`` variables (both "All" by default), and links into Driftline's UI
use ``$driftline_url``, read from the ``driftline_public_url_info`` series Driftline exports.
"""

import re
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT = Path(__file__).resolve().parent
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'model="$model", monitor="$monitor"'
SCOPE = 'job=~"$job", namespace=~"$namespace"'
_METRIC = re.compile(r"\b(driftline_[a-z_]+)(?:\{([^}]*)\})?")


def scoped(expr: str) -> str:
    """``expr`` with every Driftline selector narrowed to the chosen jobs and namespaces (a
    regex that matches "" also matches series without the label, e.g. outside Kubernetes)."""

    def narrow(m: re.Match[str]) -> str:
        inner = f"{m.group(2)}, {SCOPE}" if m.group(2) else SCOPE
        return f"{m.group(1)}{{{inner}}}"

    return _METRIC.sub(narrow, expr)


def query(
    expr: str, legend: str = "", *, instant: bool = False, ref: str = "A"
) -> prometheus.Dataquery:
    """A PromQL target on the dashboard's ``$datasource``, scoped to ``$job``/``$namespace``."""
    q = prometheus.Dataquery().expr(scoped(expr)).datasource(DATASOURCE).ref_id(ref)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def series(
    title: str, description: str, unit: str, *targets: prometheus.Dataquery, width: int = 12
) -> timeseries.Panel:
    """A time-series panel; on the model dashboard it links to the model's page."""
    panel = (
        timeseries.Panel().title(title).description(description).unit(unit).span(width).height(8)
    )
    if "$model" in "".join(t.build().expr or "" for t in targets):
        panel = panel.links([model_link()])
    for i, t in enumerate(targets):
        panel = panel.with_target(t.ref_id(chr(ord("A") + i)))
    return panel.datasource(DATASOURCE)


def model_link(
    model: str = "${model}", title: str = "Model page in Driftline"
) -> dashboard.DashboardLink:
    """Link to a model's page in Driftline's UI (every window, its reasons and report)."""
    return (
        dashboard.DashboardLink(title)
        .type(DashboardLinkType.LINK)
        .url(f"${{driftline_url}}/models/{model}")
        .target_blank(True)
    )


def fleet_link() -> dashboard.DashboardLink:
    """Link to Driftline's fleet page (every model, worst first)."""
    return (
        dashboard.DashboardLink("Fleet in Driftline")
        .type(DashboardLinkType.LINK)
        .url("${driftline_url}/")
        .target_blank(True)
    )


def variables() -> list[dashboard.DatasourceVariable | dashboard.QueryVariable]:
    """What every dashboard asks first: which Prometheus, which Driftline jobs and namespaces,
    and where Driftline's UI is (for the links)."""

    def label_values(name: str, label: str) -> dashboard.QueryVariable:
        return (
            dashboard.QueryVariable(name).label(label.title()).datasource(DATASOURCE)
            .query(f"label_values(driftline_public_url_info, {label})")
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
            .multi(True).include_all(True).all_value(".*")
        )  # fmt: skip

    return [
        dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        label_values("job", "job"),
        label_values("namespace", "namespace"),
        dashboard.QueryVariable("driftline_url").label("Driftline URL").datasource(DATASOURCE)
        .query(scoped("label_values(driftline_public_url_info, url)"))
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD),
    ]  # fmt: skip


def with_variables(board: dashboard.Dashboard) -> dashboard.Dashboard:
    for variable in variables():
        board = board.with_variable(variable)
    return board


def fleet() -> dashboard.Dashboard:
    """Every model's verdict at a glance."""
    return (
        with_variables(
            dashboard.Dashboard("Driftline / Fleet overview")
            .uid("driftline-fleet")
            .tags(["driftline"])
            .description("Verdict of every monitored model's latest window, and what needs action.")
            .refresh("1m")
            .time("now-24h", "now")
            .links([fleet_link()])
        )
        .with_panel(
            stat.Panel().title("Monitors in drift").unit("short").span(6).height(5)
            .description("Monitors whose latest window was judged drift (persisted).")
            .with_target(query('count(driftline_monitor_verdict{verdict="drift"} == 1) or vector(0)', instant=True))
            .datasource(DATASOURCE)
        )
        .with_panel(
            stat.Panel().title("Monitors degraded").unit("short").span(6).height(5)
            .description("Monitors whose latest window had quality or perplexity degraded.")
            .with_target(query('count(driftline_monitor_verdict{verdict="degraded"} == 1) or vector(0)', instant=True))
            .datasource(DATASOURCE)
        )
        .with_panel(
            stat.Panel().title("Retraining recommended").unit("short").span(6).height(5)
            .description("Monitors recommending retraining (stays on until a new baseline).")
            .with_target(query("sum(driftline_retraining_recommended) or vector(0)", instant=True))
            .datasource(DATASOURCE)
        )
        .with_panel(
            stat.Panel().title("Events ingested per second").unit("reqps").span(6).height(5)
            .description("Events accepted by POST /v1/events, all models.")
            .with_target(query('sum(rate(driftline_ingest_events_total{outcome="accepted"}[$__rate_interval]))', instant=True))
            .datasource(DATASOURCE)
        )
        .with_panel(
            table.Panel().title("Latest verdict per monitor").unit("short").span(24).height(10)
            .description("One row per monitor: its latest window's verdict (1 = current). Click a row for the model's page in Driftline.")
            .with_target(query("driftline_monitor_verdict == 1", "{{model}} / {{monitor}}: {{verdict}}", instant=True).format(PromQueryFormat.TABLE))
            .data_links([model_link("${__data.fields.model}")])
            .datasource(DATASOURCE)
        )
        .with_panel(
            series(
                "Verdicts over time", "Which monitors were in drift or degraded, window by window.", "short",
                query('driftline_monitor_verdict{verdict=~"drift|degraded"} == 1', "{{model}} / {{monitor}}: {{verdict}}"),
                width=24,
            )
        )
    )  # fmt: skip


def model_detail() -> dashboard.Dashboard:
    """One model and monitor: drift per check, quality vs baseline, long tail, data quality."""
    return (
        with_variables(
            dashboard.Dashboard("Driftline / Model detail")
            .uid("driftline-model")
            .tags(["driftline"])
            .description("Drift, quality, perplexity, long tail, data quality and volume of one monitor.")
            .refresh("1m")
            .time("now-7d", "now")
            .links([model_link(), fleet_link()])
        )
        .with_variable(
            dashboard.QueryVariable("model").label("Model").datasource(DATASOURCE)
            .query(scoped("label_values(driftline_monitor_verdict, model)")).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
        .with_variable(
            dashboard.QueryVariable("monitor").label("Monitor").datasource(DATASOURCE)
            .query(scoped('label_values(driftline_monitor_verdict{model="$model"}, monitor)')).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        )
        .with_panel(
            series(
                "Embedding drift", "Centroid shift of the window's prompt embeddings vs its threshold (baseline bootstrap).", "short",
                query(f'driftline_check_value{{{SEL}, check="embedding_drift", metric="centroid_shift"}}', "shift"),
                query(f'driftline_check_threshold{{{SEL}, check="embedding_drift", metric="centroid_shift"}}', "threshold"),
            ).links([model_link(title="Windows and reports in Driftline")])
        )
        .with_panel(
            series(
                "Descriptor and text drift", "Share of descriptors drifted, and the domain classifier's ROC AUC on the prompts.", "percentunit",
                query(f'driftline_check_value{{{SEL}, check="descriptor_drift", metric="drifted_share"}}', "descriptors drifted"),
                query(f'driftline_check_value{{{SEL}, check="text_drift", metric="roc_auc"}}', "text ROC AUC"),
            )
        )
        .with_panel(
            series(
                "Quality vs baseline: realised and estimated", "Macro F1 and accuracy of the window from feedback labels (realised), estimated from the model's calibrated confidence before any label arrives (estimated_*; withheld, estimate_reliable 0, where new inputs or shifted confidence make the calibration no guide), and the baseline holdout's.", "percentunit",
                query(f'driftline_check_value{{{SEL}, check="quality", metric=~"f1|accuracy"}}', "{{metric}}"),
                query(f'driftline_check_value{{{SEL}, check="estimated_quality", metric=~"estimated_f1|estimated_accuracy|estimate_reliable"}}', "{{metric}}"),
                query(f'driftline_check_value{{{SEL}, check="quality", metric=~"baseline_f1|baseline_accuracy"}}', "{{metric}}"),
            )
        )
        .with_panel(
            series(
                "Overfitting gap: training, validation, production", "Per model version, the macro F1 it reported on its training and validation sets (PUT /v1/models/{name}/metrics) beside the F1 measured on its production traffic (windows with enough labelled events of that version). A wide training-validation gap is overfitting; a validation-production gap is drift or a changed task. `driftline export dataset --for-version` records which data a version was trained on (its status shows it).", "percentunit",
                query('driftline_model_reported_metric{model="$model", metric="f1"}', "{{split}} f1 ({{version}})"),
                query(f'driftline_check_value{{{SEL}, check="quality", metric="version_f1"}}', "production f1 ({{feature}})"),
            )
        )
        .with_panel(
            series(
                "Label coverage", "Share of the window's events with a feedback label.", "percentunit",
                query(f'driftline_check_value{{{SEL}, check="quality", metric="label_coverage"}}', "coverage"),
            )
        )
        .with_panel(
            series(
                "Perplexity", "Mean and p90 perplexity of the outputs, with the baseline's mean.", "short",
                query(f'driftline_check_value{{{SEL}, check="perplexity", metric=~"mean|p90|baseline_mean"}}', "{{metric}}"),
            )
        )
        .with_panel(
            series(
                "Long tail", "Share of inputs unlike any baseline example, against the baseline's own rate.", "percentunit",
                query(f'driftline_check_value{{{SEL}, check="long_tail", metric=~"novel_share|baseline_novel_share"}}', "{{metric}}"),
            )
        )
        .with_panel(
            series(
                "Data quality", "Rates of empty, duplicated, truncated, PII-bearing and refused inputs in the window.", "percentunit",
                query(f'driftline_check_value{{{SEL}, check="data_quality"}}', "{{metric}}"),
            )
        )
        .with_panel(
            series(
                "Window volume", "Events in each computed window.", "short",
                query(f"driftline_window_events{{{SEL}}}", "events"),
            )
        )
    )  # fmt: skip


def service() -> dashboard.Dashboard:
    """The Driftline service itself: traffic, latency, errors, worker backlog."""
    return (
        with_variables(
            dashboard.Dashboard("Driftline / Service health")
            .uid("driftline-service")
            .tags(["driftline"])
            .description("Requests, latency, ingest outcomes and the worker's backlog.")
            .refresh("30s")
            .time("now-6h", "now")
            .links([fleet_link()])
        )
        .with_panel(
            series(
                "Requests per second", "By route and status class.", "reqps",
                query("sum by (route, status) (rate(driftline_http_request_duration_seconds_count[$__rate_interval]))", "{{route}} {{status}}"),
            )
        )
        .with_panel(
            series(
                "Latency p95", "95th percentile request latency by route.", "s",
                query("histogram_quantile(0.95, sum by (le, route) (rate(driftline_http_request_duration_seconds_bucket[$__rate_interval])))", "{{route}}"),
            )
        )
        .with_panel(
            series(
                "Events by outcome", "Events per second accepted, duplicate (retries) and rejected (invalid).", "reqps",
                query("sum by (outcome) (rate(driftline_ingest_events_total[$__rate_interval]))", "{{outcome}}"),
            )
        )
        .with_panel(
            series(
                "Worker backlog", "Monitor windows pending or running, window reports waiting to be rendered, and featurisation lag.", "short",
                query("sum by (status) (driftline_runs)", "{{status}}"),
                query("driftline_reports_due", "reports due"),
                query("driftline_featurise_lag_seconds", "featurise lag (s)"),
            )
        )
    )  # fmt: skip


DASHBOARDS = {"fleet": fleet, "model-detail": model_detail, "service": service}


def render() -> dict[str, str]:
    """File name → JSON text, keys sorted so that diffs stay clean."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {
        f"{name}.json": encoder.encode(build().build()) + "\n" for name, build in DASHBOARDS.items()
    }


def main() -> None:
    for name, body in render().items():
        (OUT / name).write_text(body)
        print(f"wrote dashboards/{name}")


if __name__ == "__main__":
    main()
