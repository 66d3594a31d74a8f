"""Reports people would rather look at than read: one self-contained HTML file per phase of a run."""

from harness.results.report.run_report import render_report, write_report

__all__ = ["render_report", "write_report"]
