"""Dashboard: the picture an operator opens first. Changes per kind over time, runs and
failures, stale targets, run duration against the timeout, the queues and their dead letters,
and every alarm's state."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..concerns.concern import Concern
from ..config.cdk_json import AppConfig

NAMESPACE = "amiwatch"
HOUR = Duration.hours(1)


def insights(query: str, label: str, period: Duration = HOUR) -> cloudwatch.MathExpression:
    """A CloudWatch Metrics Insights query over amiwatch's metrics (summed across targets)."""
    return cloudwatch.MathExpression(expression=query, label=label, period=period)


def service_metric(name: str, statistic: str, period: Duration = HOUR) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name,
                             dimensions_map={"service": NAMESPACE}, statistic=statistic,
                             period=period)  # fmt: skip


class Dashboard(Concern):
    """One CloudWatch dashboard, `<busName>-<region>`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarms: list[cloudwatch.Alarm],
        function: lambda_.Function,
        queues: dict[str, sqs.Queue],
        dead_letter_queues: dict[str, sqs.Queue],
        config: AppConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout_ms = config.timeout_seconds * 1000
        # Dashboard names are unique per account, across regions: one per deployment.
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"{config.bus_name}-{Aws.REGION}",
            default_interval=Duration.days(7),
        )  # fmt: skip
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Changes per kind", width=12, stacked=True,
                left=[insights("SELECT SUM(Changes) FROM amiwatch GROUP BY change", "changes")],
            ),
            cloudwatch.GraphWidget(
                title="Runs and failures", width=12,
                left=[insights("SELECT SUM(SuccessfulRuns) FROM amiwatch", "successful runs"),
                      service_metric("TargetFailures", "Sum"),
                      function.metric_errors(period=HOUR, statistic="Sum")],
            ),
        )  # fmt: skip
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Stale targets (no success in two periods)", width=8,
                left=[service_metric("StaleTargets", "Maximum")],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=1, label="alarm")],
            ),
            cloudwatch.GraphWidget(
                title="Run duration against the timeout (ms)", width=8,
                left=[function.metric_duration(period=HOUR, statistic="Maximum"),
                      function.metric_duration(period=HOUR, statistic="p90")],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=timeout_ms,
                                                                  label="timeout")],
            ),
            cloudwatch.GraphWidget(
                title="Queues and dead letters (messages)", width=8,
                left=[q.metric_approximate_number_of_messages_visible(
                          period=Duration.minutes(5), statistic="Maximum", label=name)
                      for name, q in queues.items()],
                right=[q.metric_approximate_number_of_messages_visible(
                           period=Duration.minutes(5), statistic="Maximum", label=name)
                       for name, q in dead_letter_queues.items()],
            ),
        )  # fmt: skip
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", width=24, alarms=list(alarms))
        )
