"""The learning commands: classify, train, eval, calibrate, label."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hybrid.errors import HybridError


def _bar(label: str):
    """A click progress bar driven by (fraction, message) callbacks."""
    bar = click.progressbar(length=1000, label=label, show_eta=False, file=sys.stderr)

    def update(fraction: float, message: str) -> None:
        bar.update(max(0, int(fraction * 1000) - bar.pos))

    return bar, update


def _stage_bar(label: str):
    bar, update = _bar(label)

    def stage(name: str, done: int, total: int) -> None:
        update(done / total if total else 1.0, name)

    return bar, stage


@click.command()
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL lines {"id": str, "prompt": str, "answer"?: str, "answers"?: [str], '
                   '"finish_reason"?: str}.')
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='Write {"id", "score"} lines here (default: stdout).')
@click.pass_obj
def classify(obj, input_path: Path, output_path: Path | None) -> None:
    """Score prompts (or prompt+answer pairs) from a JSONL file with the current classifier."""
    import classifiers
    from hybrid.runtime import load_learned_classifier

    classifier = load_learned_classifier(obj.settings, obj.paths)
    result = classifiers.classify_file(classifier, input_path, output_path)
    if output_path is None:
        for item in result.results:
            click.echo(json.dumps(item.as_line()))
    for error in result.errors:
        click.echo(f"{input_path}: {error}", err=True)
    click.echo(f"scored {len(result.results)} line(s) with {classifier.version}"
               f"{f', rejected {len(result.errors)}' if result.errors else ''}", err=True)
    if result.errors:
        raise SystemExit(1)


@click.command()
@click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='JSONL lines {"prompt", "answer"?, "finish_reason"?, "label": 0|1} or {"prompt", "answer"?, '
                   '"win": float}.')
@click.option("--from-trace", is_flag=True,
              help="Also use the labels in the trace: your feedback, judge labels, and cascade drafts whose answer "
                   "checks fired (label 1).")
@click.option("--base", type=click.Choice(["default", "none"]), default="default", show_default=True,
              help="default: shipped training data plus yours; none: your labels only.")
@click.option("--force", is_flag=True, help="Promote the new artifact even if it is not better on the holdout.")
@click.pass_obj
def train(obj, labels: Path | None, from_trace: bool, base: str, force: bool) -> None:
    """Train a new classifier version; promote it only if it beats the current one on held-out labels (which need
    labels of both kinds)."""
    from hybrid.learning import train_from_trace

    if labels is None and not from_trace:
        raise HybridError("nothing to train on: pass --labels FILE, --from-trace, or both")
    bar, update = _bar("training")
    with bar:
        outcome = train_from_trace(obj.settings, obj.paths, update, labels=labels, from_trace=from_trace,
                                   base=base, force=force)
    click.echo(f"{outcome.version}: trained on {outcome.n_labels} labels. {outcome.reason}")
    if outcome.metrics:
        click.echo(f"  held-out  {'':8} {'AUC':>6} {'APGR':>6} {'CPT50':>6}")
    for mode in ("prompt", "draft"):
        for which in ("new", "current"):
            values = [outcome.metrics.get(f"{mode} {name} {which}") for name in ("auc", "apgr", "cpt50")]
            if None not in values:
                click.echo(f"  {mode:9} {which:8} " + " ".join(f"{v:6.3f}" for v in values))
    for note in outcome.notes:
        click.echo(f"note: {note}")


@click.command(name="eval")
@click.option("--labels", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the cost/quality curve to this PNG.")
@click.pass_obj
def eval_(obj, labels: Path, plot: Path | None) -> None:
    """AUC, APGR, CPT(50%), CPT(80%) of the current classifier on a label file, beside the baselines."""
    import classifiers
    from hybrid.runtime import load_learned_classifier

    if plot is not None and not plot.parent.is_dir():
        raise HybridError(f"cannot write the curve to {plot}: {plot.parent} is not a folder; fix: pass --plot a "
                          "path in a folder that exists")
    classifier = load_learned_classifier(obj.settings, obj.paths)
    bar, stage = _stage_bar("evaluating")
    with bar:
        report = classifiers.evaluate(classifier, labels, progress=stage)
    for error in report.errors:
        click.echo(f"{labels}: {error} (skipped)", err=True)
    click.echo(f"classifier {report.version}")
    click.echo(report.table())
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if plot is not None:
        click.echo(f"curve written to {classifiers.plot_curve(report, plot)}")


@click.command()
@click.option("--escalate", "share", required=True, type=click.FloatRange(0, 1),
              help="Target share of requests to escalate, e.g. 0.2.")
@click.option("--last", default=1000, show_default=True, type=click.IntRange(min=1),
              help="How many recent requests to calibrate on.")
@click.pass_obj
def calibrate(obj, share: float, last: int) -> None:
    """Set routing.threshold (and, with 10 cascade drafts, routing.draft_threshold) so that SHARE of your recent
    traffic would escalate; judge labelling's requests are not traffic."""
    from hybrid.learning import MIN_CALIBRATION, calibrate_from_trace

    c = calibrate_from_trace(obj.settings, obj.paths, share, last=last)
    click.echo(f"threshold {c.threshold}: {_would_escalate(c.n_escalating, c.n_scores, share, 'scored requests')}; "
               f"written to {c.written_to} (routing.threshold)")
    if c.draft_threshold is not None:
        click.echo(f"draft threshold {c.draft_threshold}: "
                   f"{_would_escalate(c.n_drafts_escalating, c.n_drafts, share, 'cascade drafts')}; "
                   f"written to {c.written_to} (routing.draft_threshold)")
    elif c.n_drafts or c.kept_draft_threshold is not None:
        kept = (f"routing.draft_threshold {c.kept_draft_threshold} in {c.written_to} left as it is"
                if c.kept_draft_threshold is not None else "routing.draft_threshold not set: the classifier's own "
                "stays in use")
        click.echo(f"draft threshold not calibrated: {c.n_drafts} recent cascade draft(s) scored by {c.version}, "
                   f"at least {MIN_CALIBRATION} needed; {kept}")
    failing = c.check_failure_share
    if failing is not None:
        click.echo(f"{c.failed_checks} of {c.n_drafts} local drafts ({failing:.0%}) failed an answer check")
        if failing > share:
            click.echo(f"warning: escalating {share:.0%} keeps some drafts that failed a check local; "
                       f"--escalate {failing:.2f} would escalate all of them", err=True)


def _would_escalate(count: int, n: int, share: float, what: str) -> str:
    """``12 of your last 33 scored requests (36%) would escalate``, and the share asked for when scores tied at
    the edge made it another."""
    said = f"{count} of your last {n} {what} ({count / n:.0%}) would escalate"
    if count != round(share * n):
        said += f", not the {share:.0%} asked for: scores tied at the edge escalate together"
    return said


@click.command()
@click.option("--judge", is_flag=True, required=True, help="Label with the frontier model as judge.")
@click.option("--sample", default=20, show_default=True, help="How many unlabelled local answers to judge.")
@click.option("--budget", type=float, required=True, help="Most US dollars to spend, e.g. 0.50.")
@click.pass_obj
def label(obj, judge: bool, sample: int, budget: float) -> None:
    """Label locally answered requests: the frontier model answers and compares (needs the cloud and a budget)."""
    from hybrid.learning import judge_label

    if budget <= 0:
        raise HybridError("judge labelling spends money: set a budget, e.g. --budget 0.50 (US dollars)")
    router = obj.router(cache=False)
    try:
        bar, update = _bar("judging")
        with bar:
            outcome = judge_label(router, sample=sample, budget=budget, progress=update)
    finally:
        router.close()
    bad = sum(1 for _, lab in outcome.labels if lab == "bad")
    click.echo(f"labelled {outcome.labelled} request(s) ({bad} needed escalation), {outcome.skipped} unparseable "
               f"verdict(s), spent ${outcome.spent:.4f}{' (stopped at the budget)' if outcome.stopped_by_budget else ''}")
    if outcome.stopped_because:
        click.echo(f"stopped: {outcome.stopped_because}")
    if outcome.kept_private:
        click.echo(f"{outcome.kept_private} request(s) not judged: they must stay local")
    if outcome.labelled:
        click.echo("retrain with `hybrid train --from-trace`")


COMMANDS = (classify, train, eval_, calibrate, label)
